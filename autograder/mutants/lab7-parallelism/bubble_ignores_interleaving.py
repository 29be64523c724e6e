"""The bubble of p stages taken as (p - 1) / m whatever v: the interleaved schedule's gain is lost."""
EDITS = [
    ("cost", "bubble = (p - 1) / (v * m)", "bubble = (p - 1) / m"),
]
