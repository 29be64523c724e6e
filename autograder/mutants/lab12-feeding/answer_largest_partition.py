"""ANSWER_BEST_PARTITION takes the partition of the largest iteration time (max for min)."""
EDITS = [("answers", "_times.index(min(_times))", "_times.index(max(_times))")]
