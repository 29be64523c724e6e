"""The microbatch count is returned as a float (m / 1 after a division), which == 32 cannot tell
from the int 32: only the type check catches it."""
EDITS = [("choose", "best = (key, (name, m))", "best = (key, (name, m / 1))")]
