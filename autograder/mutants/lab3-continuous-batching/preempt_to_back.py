"""A preempted request rejoins the waiting queue at the back: requests that arrived after it
overtake it (FCFS broken, and a request preempted again and again can starve)."""
EDITS = [("preempt", "sched.waiting.appendleft(seq)", "sched.waiting.append(seq)")]
