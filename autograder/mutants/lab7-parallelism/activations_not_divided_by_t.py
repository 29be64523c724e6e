"""Tensor parallelism's activation saving ignored: the split terms (Q, K, V, the MLP's inner
activations, the attention scores) are not divided by t."""
EDITS = [
    ("cost", "return sbh * (10 + (24 + scores) / t)", "return sbh * (10 + 24 + scores)"),
]
