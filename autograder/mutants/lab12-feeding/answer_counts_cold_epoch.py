"""ANSWER_LRU_65 divides by all six epochs' accesses, the cold first epoch included."""
EDITS = [("answers", "ANSWER_LRU_65 = _lru[\"hits\"] / (5 * 1000)", "ANSWER_LRU_65 = _lru[\"hits\"] / (6 * 1000)")]
