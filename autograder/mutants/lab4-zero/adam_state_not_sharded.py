"""Adam's moments are allocated for the whole buffer on every rank (only a slice of them is
ever used): the optimizer states are not partitioned, ZeRO-2 keeps N times the bytes it should."""
EDITS = [
    ("zero2", '"m": torch.zeros(s), "v": torch.zeros(s)', '"m": torch.zeros(n * s), "v": torch.zeros(n * s)'),
    ("zero2", 'adam_update(own, st["grad"], st["m"], st["v"], step, lr)',
     'adam_update(own, st["grad"], st["m"][lo:hi], st["v"][lo:hi], step, lr)'),
]
