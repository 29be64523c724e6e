"""The search lets the decode pool take fewer devices than are left, and divides by the devices used."""
EDITS = [("search", "                p = {\"prefill\": n_p, \"prefill_tp\": tp_p, \"decode\": rest // tp_d, \"decode_tp\": tp_d}\n                g = float(rate_of(p) / devices)",
          "                p = {\"prefill\": n_p, \"prefill_tp\": tp_p, \"decode\": 1, \"decode_tp\": tp_d}\n                g = float(rate_of(p) / (n_p * tp_p + tp_d))")]
