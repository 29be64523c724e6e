"""Inside a queue jobs are ordered by attained service (continuous LAS), not FIFO by arrival."""
EDITS = [
    ('las', '        keyed.append((q, j["arrival"], j["id"]))', '        keyed.append((q, j["attained"], j["id"]))'),
]
