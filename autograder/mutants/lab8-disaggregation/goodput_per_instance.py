"""Goodput divided by instances, not devices: a tp=2 instance counts as one device."""
EDITS = [("goodput", "devices = placement[\"prefill\"] * placement[\"prefill_tp\"] + placement[\"decode\"] * placement[\"decode_tp\"]",
          "devices = placement[\"prefill\"] + placement[\"decode\"]")]
