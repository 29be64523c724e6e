"""The steady state runs the backward before the forward (BW then F): the last stage asks for a
backward of a microbatch it has not forwarded yet."""
EDITS = [("one_f_one_b",
          '            actions.append(("F", warmup + i))\n            actions.append(("BW", i))\n',
          '            actions.append(("BW", i))\n            actions.append(("F", warmup + i))\n')]
