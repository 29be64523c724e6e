"""The device share is rounded to the nearest element instead of floored."""
EDITS = [("split", "dev = math.floor(n * percents[0] / 100 + 1e-9)", "dev = round(n * percents[0] / 100)")]
