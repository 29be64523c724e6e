"""On a tie in step time the search keeps the plan that needs less memory ("the cheaper one")
instead of the first in candidate_plans' order: ZeRO-1 or selective recomputation wins the ties
that the stated rule gives to the plain plan."""
EDITS = [("plan", '''        if c["fits"] and c["step_time"] < best_time:
            best, best_time = plan, c["step_time"]''', '''        if c["fits"] and (c["step_time"] < best_time or c["step_time"] == best_time and c["memory_bytes"] < best_mem):
            best, best_time, best_mem = plan, c["step_time"], c["memory_bytes"]'''),
         ("plan", 'best, best_time = None, float("inf")', 'best, best_time, best_mem = None, float("inf"), float("inf")')]
