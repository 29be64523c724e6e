"""The DP's segment peak forgets that the segment's output gradient g_r is live while the
segment is recomputed: some plans it returns exceed the budget."""
EDITS = [
    ("optimal", "peaks.append(out[l - 1] + out[r] + prefix + e + out[i])", "peaks.append(out[l - 1] + prefix + e + out[i])"),
]
