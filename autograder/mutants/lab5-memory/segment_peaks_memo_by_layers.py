"""Caches the segment peaks across calls in a dict keyed on the layer range (l, r) only, not on
the chain: the first chain's peaks are reused for every later chain of that length or longer,
so plans are judged by another chain's memory."""
EDITS = [("optimal", "    def segment_peak(l, r):\n",
          "    cache = optimal_plan.__dict__.setdefault(\"cache\", {})\n\n"
          "    def segment_peak(l, r):\n        if (l, r) in cache:\n            return cache[(l, r)]\n"),
         ("optimal", "        return max(peaks)\n", "        cache[(l, r)] = max(peaks)\n        return cache[(l, r)]\n")]
