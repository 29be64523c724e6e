"""The floors take no tolerance for floating point: 18.4 % of 375 elements comes out as 68."""
EDITS = [("split", "dev = math.floor(n * percents[0] / 100 + 1e-9)", "dev = math.floor(n * percents[0] / 100)"),
         ("split", "host = math.floor(n * percents[1] / 100 + 1e-9)", "host = math.floor(n * percents[1] / 100)")]
