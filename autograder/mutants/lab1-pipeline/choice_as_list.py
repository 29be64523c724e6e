"""The design question's answer comes back as a list [name, m], not the (name, m) tuple the
question asks for: == against a tuple fails in plain Python, and the test checks the type first."""
EDITS = [("choose", "best = (key, (name, m))", "best = (key, [name, m])")]
