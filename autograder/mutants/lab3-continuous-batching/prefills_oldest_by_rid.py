"""'Oldest first' read as the smallest request id: the ongoing prefills are visited in id order,
not in admission order (sched.running). The two agree until a preempted request is admitted
again behind newer ones; from then on the wrong prefill gets the blocks and the budget."""
EDITS = [("prefills", "for seq in list(running):", "for seq in sorted(running, key=lambda s: s.rid):")]
