"""A prefix-cache hit on an evictable block gives it an owner again but leaves it in the evictable
list (one path forgets to update it): the live block still counts as free, and when it is freed
again it keeps its old place in the LRU order instead of becoming the most recently freed."""
EDITS = [("prefix_cache", "            del self.evictable[block]\n            self.refcounts[block] = 1\n",
          "            self.refcounts[block] = 1\n")]
