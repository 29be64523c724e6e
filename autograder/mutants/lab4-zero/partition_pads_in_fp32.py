"""Makes the padded buffer with torch.zeros(n * s), whose dtype is torch's default (float32),
not flat's: a float64 buffer is silently rounded to float32, an int64 one turned into floats."""
EDITS = [("partition", "padded = torch.zeros(n * s, dtype=flat.dtype)", "padded = torch.zeros(n * s)")]
