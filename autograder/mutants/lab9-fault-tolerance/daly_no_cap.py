"""Daly's interval applies the series even when C >= 2M (no cap at M)."""
EDITS = [("waste", "    if checkpoint >= 2 * mtbf:\n        return float(mtbf)\n", "")]
