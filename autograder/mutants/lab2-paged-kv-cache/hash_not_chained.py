"""The block hash ignores the parent hash: equal blocks after different prefixes collide."""
EDITS = [
    ("prefix_cache", "h = hashlib.sha256(parent)", "h = hashlib.sha256()"),
]
