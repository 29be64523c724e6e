"""The search divides each placement's rate by its instances, not its devices: a tp=2 instance
counts as one device (DistServe compares goodput per device, the cost)."""
EDITS = [("search", "goodput_per_device(rate_of(p), devices)", "goodput_per_device(rate_of(p), n_p + rest // tp_d)")]
