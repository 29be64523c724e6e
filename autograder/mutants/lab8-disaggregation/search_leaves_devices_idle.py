"""The search lets the decode pool take fewer devices than are left, and divides by the devices used."""
EDITS = [("search", '"decode": rest // tp_d, "decode_tp": tp_d}\n                tried.append(dict(p, goodput_per_device=goodput_per_device(rate_of(p), devices)))',
          '"decode": 1, "decode_tp": tp_d}\n                tried.append(dict(p, goodput_per_device=goodput_per_device(rate_of(p), n_p * tp_p + tp_d)))')]
