"""Bytes read are counted on every access, hits included (the cache saves nothing in the count)."""
EDITS = [("cache", "            if key in cached:\n                hits += 1\n", "            if key in cached:\n                hits += 1\n                read += sizes[key]\n")]
