"""The Q tile rows of the design question as floor(M / 4d) instead of Algorithm 1's ceil(M / 4d):
right at the default (N = 4096, d = 128, fp16: M / 4d = kb exactly), wrong wherever 4d does not
divide M (d = 96, 80, ...)."""
EDITS = [("design", "return math.ceil((kb * 1024 // e) / (4 * head_dim))", "return (kb * 1024 // e) // (4 * head_dim)")]
