"""A disk part is counted on the disk -> host link only, not again from the host to the device."""
EDITS = [("traffic", "\"host_to_device\": b * ((wh + wd) + seqs * cached * (kh + kd) + act_in * (ah + ad)),",
          "\"host_to_device\": b * (wh + seqs * cached * kh + act_in * ah),")]
