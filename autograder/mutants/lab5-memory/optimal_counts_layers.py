"""Minimises the number of recomputed layers instead of the recompute time (ignores fwd): right
when every layer takes as long, wrong as soon as one long layer is worth keeping at the price of
recomputing two short ones."""
EDITS = [("optimal", "moves.append((r, \"C\" + \"R\" * (r - j - 1), segment_peak(j + 1, r), out[j], sum(fwd[j:r])))",
          "moves.append((r, \"C\" + \"R\" * (r - j - 1), segment_peak(j + 1, r), out[j], float(r - j)))"),
         ("optimal", "    return p, float(t)", "    return p, float(sum(f for f, c in zip(fwd, p) if c != \"K\"))")]
