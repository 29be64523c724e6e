"""When the decoding request that needs a block is itself the newest, it is preempted by hand
(taken out, its blocks freed, first in line again) instead of through preempt(): on that one
path the preemption is never counted (num_preemptions) nor logged in its events."""
EDITS = [("decodes", "        if need > kv.num_free - taken:\n            preempt(sched, seq)\n            break",
          "        if need > kv.num_free - taken:\n            running.remove(seq)  # preempts itself\n"
          "            kv.free(seq.rid)\n            seq.num_computed = 0\n            seq.status = \"waiting\"\n"
          "            sched.waiting.appendleft(seq)\n            break")]
