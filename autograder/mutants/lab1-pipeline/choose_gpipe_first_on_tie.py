"""The tie between GPipe and 1F1B at the same m is broken the other way: GPipe is tried first and
the key leaves out the name, so at equal bubbles (always, at the same m) GPipe wins when both fit."""
EDITS = [("choose", '(("1f1b", one_f_one_b), ("gpipe", gpipe))', '(("gpipe", gpipe), ("1f1b", one_f_one_b))'),
         ("choose", "key = (round(bubble_fraction(result), 9), m, name)", "key = (round(bubble_fraction(result), 9), m)")]
