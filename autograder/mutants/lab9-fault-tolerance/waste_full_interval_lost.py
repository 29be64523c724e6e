"""A failure loses the whole interval instead of half of it on average."""
EDITS = [("waste", "(interval / 2 + restart) / mtbf", "(interval + restart) / mtbf")]
