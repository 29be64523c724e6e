"""plan_cost keeps its results between calls, keyed on the plan alone ("the planner evaluates the
same plans again"): a later call with another model, cluster or batch gets a stale cost."""
EDITS = [("cost", "def plan_cost(", "_COSTS = {}\n\n\ndef plan_cost("),
         ("cost", '    L, h, s = model["layers"], model["hidden"], model["seq"]\n',
          '    key = tuple(sorted(plan.items()))\n    if key in _COSTS:\n        return _COSTS[key]\n'
          '    L, h, s = model["layers"], model["hidden"], model["seq"]\n'),
         ("cost", '    return {"memory_bytes": float(memory),', '    _COSTS[key] = {"memory_bytes": float(memory),'),
         ("cost", '"fits": bool(memory <= cluster["memory"])}', '"fits": bool(memory <= cluster["memory"])}\n    return _COSTS[key]')]
