"""Every batch of the block loads the layer's weights again (no reuse inside the block)."""
EDITS = [("zigzag", "loads = ((\"weights\",) if j == 0 else ())", "loads = (\"weights\",)")]
