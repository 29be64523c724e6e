"""The search tries the number of prefill instances before the decode tp (loops nested the other
way): every placement is still tried, but in another order, so the candidates come in another
order and a tie goes to another placement."""
EDITS = [("search", "        for tp_d in tps:\n            for n_p in range(1, devices // tp_p + 1):\n",
          "        for n_p in range(1, devices // tp_p + 1):\n            for tp_d in tps:\n")]
