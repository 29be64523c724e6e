"""An LRU miss starts evicting before checking that the sample can fit at all: a sample larger than
the whole cache empties it and then fails (pop from an empty list)."""
EDITS = [("cache", "            if policy == \"lru\" and sizes[key] <= capacity_bytes:", "            if policy == \"lru\":")]
