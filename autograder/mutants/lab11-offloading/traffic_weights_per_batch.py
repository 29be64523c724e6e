"""The weights are loaded once per batch of the block, not once per step (the row-by-row cost)."""
EDITS = [("traffic", "\"host_to_device\": b * ((wh + wd) + ", "\"host_to_device\": b * ((wh + wd) * batches + "),
         ("traffic", "\"disk_to_host\": b * (wd + ", "\"disk_to_host\": b * (wd * batches + ")]
