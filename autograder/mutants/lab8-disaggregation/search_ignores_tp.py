"""The search only tries tp=1 for both phases."""
EDITS = [("search", "    for tp_p in tps:\n        for tp_d in tps:", "    for tp_p in [1]:\n        for tp_d in [1]:")]
