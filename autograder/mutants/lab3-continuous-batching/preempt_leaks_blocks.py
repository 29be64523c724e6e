"""Preemption forgets to release the victim's KV blocks: the pool leaks until nothing fits."""
EDITS = [("preempt", "    sched.kv.free(seq.rid)\n", "")]
