"""MinIO evicts the oldest samples to make room, like the page cache, instead of never evicting."""
EDITS = [("cache", "            if policy == \"lru\" and sizes[key] <= capacity_bytes:", "            if sizes[key] <= capacity_bytes:")]
