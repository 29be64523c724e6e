"""The ongoing-prefill loop copies schedule_decodes' rule: a prefill whose chunk still does not fit
after the newer requests are preempted preempts itself, where the contract says it waits (only
decodes preempt): a preemption started from the prefill side throws away a prompt's progress."""
EDITS = [("prefills", "        if need > kv.num_free - taken:\n            break\n        batch.append((seq, n))",
          "        if need > kv.num_free - taken:\n            preempt(sched, seq)\n            break\n"
          "        batch.append((seq, n))")]
