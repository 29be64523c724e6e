"""The search sorts tps first ("smallest tp first"): every placement is still tried, but not in the
stated order when tps comes unsorted, so the candidates' order and the tie winner change."""
EDITS = [("search", "    for tp_p in tps:\n", "    tps = sorted(tps)\n    for tp_p in tps:\n")]
