"""hits is counted only for a hit on a live block: a hit that revives an evictable block (a prompt
seen before whose requests all finished) is not counted (a counter not updated on one path)."""
EDITS = [("prefix_cache", "        self.hits += 1\n        if block in self.evictable:\n",
          "        if block in self.evictable:\n"),
         ("prefix_cache", "            self.refcounts[block] += 1\n        return block",
          "            self.refcounts[block] += 1\n            self.hits += 1\n        return block")]
