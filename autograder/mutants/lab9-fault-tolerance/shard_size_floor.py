"""The slice size rounds down (total // d): the last elements are lost when d does not divide the total."""
EDITS = [("reshard", "    size = -(-total // d)\n", "    size = max(1, total // d)\n")]
