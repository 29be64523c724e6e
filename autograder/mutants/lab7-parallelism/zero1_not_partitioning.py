"""ZeRO-1 chosen but the optimizer states still counted whole on every rank."""
EDITS = [
    ("cost", 'states = 2 * psi + 2 * psi + 12 * psi / (d if plan["zero"] == 1 else 1)',
     "states = 2 * psi + 2 * psi + 12 * psi"),
]
