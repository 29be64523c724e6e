"""Admission takes the newest waiting request (a stack) instead of the oldest (FCFS broken)."""
EDITS = [("prefills", "seq = sched.waiting[0]", "seq = sched.waiting[-1]"),
         ("prefills", "sched.waiting.popleft()", "sched.waiting.pop()")]
