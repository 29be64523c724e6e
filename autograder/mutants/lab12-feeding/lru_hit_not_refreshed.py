"""The LRU cache does not move a sample to the most recent end on a hit: it evicts in insertion
order (FIFO), not least recently used."""
EDITS = [("cache", "                if policy == \"lru\":\n                    cached.remove(key)\n                    cached.append(key)\n",
          "")]
