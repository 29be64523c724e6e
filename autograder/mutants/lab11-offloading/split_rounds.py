"""The device share is rounded to the nearest element instead of floored."""
EDITS = [("split", "dev = min(n, math.floor(n * percents[0] / 100 + 1e-9))", "dev = min(n, round(n * percents[0] / 100))")]
