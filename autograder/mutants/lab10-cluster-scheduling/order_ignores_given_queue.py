"""A queue given in the job dict (after promotion) is ignored: the queue always comes from attained."""
EDITS = [
    ('las', '        q = j["queue"] if "queue" in j else las_queue(j["attained"], thresholds)', '        q = las_queue(j["attained"], thresholds)'),
]
