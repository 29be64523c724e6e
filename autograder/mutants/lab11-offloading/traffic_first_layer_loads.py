"""The first layer loads input activations too (the embedding output is on the device)."""
EDITS = [("traffic", "act_in = seqs * new if layer > 0 else 0", "act_in = seqs * new")]
