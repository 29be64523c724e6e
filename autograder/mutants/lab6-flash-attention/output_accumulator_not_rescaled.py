"""The partial output is not rescaled when the running max grows (only the sum is)."""
EDITS = [("forward", "acc = alpha[:, None] * acc + p @ v[j0:j1]", "acc = acc + p @ v[j0:j1]")]
