"""A newly admitted request gets its whole prompt in one iteration, however small the budget
left: no chunking at admission, iterations run over the token budget."""
EDITS = [("prefills", "        n = min(seq.num_uncomputed, budget)\n        sched.waiting.popleft()",
          "        n = seq.num_uncomputed\n        sched.waiting.popleft()")]
