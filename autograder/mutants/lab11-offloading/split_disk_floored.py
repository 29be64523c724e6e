"""The disk share is floored too, so the parts do not add up to n."""
EDITS = [("split", "return (dev, host, n - dev - host)", "return (dev, host, math.floor(n * percents[2] / 100 + 1e-9))")]
