"""The priority scheduler sends ready chunks in the order their gradients became ready (a chunked
FIFO): a later, more urgent gradient never overtakes."""
EDITS = [("iteration", "        piece = next(p for p in pending if ready[p[0]] <= handover)  # the most urgent ready chunk",
          "        piece = max((p for p in pending if ready[p[0]] <= handover), key=lambda p: (p[0], -p[1]))")]
