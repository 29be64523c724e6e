"""SLO attainment of an empty list of records returns 0.0 instead of raising ValueError."""
EDITS = [
    ("goodput", 'raise ValueError("attainment needs at least one request")', "return 0.0"),
]
