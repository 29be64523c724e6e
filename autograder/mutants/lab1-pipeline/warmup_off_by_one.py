"""1F1B warm-up is one forward too long on every rank (p - r instead of p - r - 1).

Still a valid schedule, but each rank holds one more microbatch of activations than 1F1B should."""
EDITS = [("one_f_one_b", "warmup = p - rank - 1", "warmup = p - rank")]
