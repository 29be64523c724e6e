"""The design answer ignores the memory cap and just takes the smallest bubble."""
EDITS = [("choose", "if max(peak_activations(result)) > cap:", "if False:")]
