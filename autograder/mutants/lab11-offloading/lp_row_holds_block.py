"""Row-by-row is charged for the whole block's KV cache and activations, as if all batches were live."""
EDITS = [("lp", "live = batch_size * num_batches if schedule == \"zigzag\" else batch_size", "live = batch_size * num_batches")]
