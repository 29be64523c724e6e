"""Attainment over the finished requests only: rejected requests vanish instead of counting as misses."""
EDITS = [("goodput", "    return ok / len(records)", "    return ok / sum(1 for r in records if r[\"finished\"])")]
