"""The batch loop sits outside the layer loop: each batch runs all layers of a token step (row-by-row inside a token)."""
EDITS = [("zigzag", "        for l in range(layers):\n            for j in range(batches):", "        for j in range(batches):\n            for l in range(layers):")]
