"""Off by one on max_num_seqs: one request more than allowed runs at once."""
EDITS = [("prefills", "len(running) < sched.max_num_seqs", "len(running) <= sched.max_num_seqs")]
