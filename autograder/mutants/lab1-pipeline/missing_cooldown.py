"""1F1B forgets the cool-down: the last p - r - 1 backwards of each rank never run."""
EDITS = [("one_f_one_b", '        for i in range(m - warmup, m):\n            actions.append(("BW", i))\n', "")]
