"""Group placement accepts an m that does not divide n (the last group is short)."""
EDITS = [("placement", "    if n % m:\n        raise ValueError(f\"group placement needs m to divide n: got n={n}, m={m}\")\n", "")]
