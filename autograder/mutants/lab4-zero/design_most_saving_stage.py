"""Picks the stage that saves the most memory among those that fit (searches from stage 3 down),
forgetting that stage 3 costs 1.5x the communication: every answer that fits at all is 3."""
EDITS = [("design", "for stage in range(4):", "for stage in reversed(range(4)):")]
