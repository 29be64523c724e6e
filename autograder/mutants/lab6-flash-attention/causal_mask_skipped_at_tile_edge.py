"""Causal: a K/V tile is masked only when it reaches past the Q tile's end (j1 > i1), so tiles
that cross the diagonal inside the Q tile go unmasked and rows see their future."""
EDITS = [("forward", "if causal and j1 - 1 > i0:", "if causal and j1 > i1:")]
