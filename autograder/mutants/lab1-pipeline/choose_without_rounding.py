"""Bubble fractions compared as raw floats, not rounded to 9 decimals: where float sums put 1F1B's
bubble 2e-16 above GPipe's at the same m (equal in exact arithmetic), GPipe is chosen."""
EDITS = [("choose", "key = (round(bubble_fraction(result), 9), m, name)", "key = (bubble_fraction(result), m, name)")]
