"""The search over batch sizes stops one short of max_batch (range's end is exclusive), so a
batch that only becomes compute-bound at exactly max_batch is reported as None."""
EDITS = [("decode_batch", "for b in range(1, max_batch + 1):", "for b in range(1, max_batch):")]
