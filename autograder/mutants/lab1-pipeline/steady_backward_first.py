"""The 1F1B steady state runs the backward before the forward (BW then F).

The last stage then asks for the backward of a microbatch it has not forwarded yet."""
EDITS = [("one_f_one_b",
          '            actions.append(("F", warmup + i))\n            actions.append(("BW", i))\n',
          '            actions.append(("BW", i))\n            actions.append(("F", warmup + i))\n')]
