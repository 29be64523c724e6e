"""When blocks run out, the oldest running request is evicted instead of the newest (vLLM evicts
the latest arrivals so that the earliest finish first)."""
EDITS = [("decodes", "while need > kv.num_free - taken and running[-1] is not seq:\n            preempt(sched, running[-1])",
          "while need > kv.num_free - taken and running[0] is not seq:\n            preempt(sched, running[0])")]
