"""The restart cost is left out of the waste."""
EDITS = [("waste", "(interval / 2 + restart) / mtbf", "(interval / 2) / mtbf")]
