"""The causal masks are kept between calls in a module-level dict keyed on the tile's start
(i0, j0) only ("build each mask once"): a call with other tile sizes or another N reuses a mask
of the wrong shape or extent."""
EDITS = [("forward", "def flash_forward(", "_MASKS = {}\n\n\ndef flash_forward("),
         ("forward", "                rows = torch.arange(i0, i1)[:, None]\n                cols = torch.arange(j0, j1)[None, :]\n"
                     "                s = s.masked_fill(cols > rows, float(\"-inf\"))",
          "                if (i0, j0) not in _MASKS:\n"
          "                    _MASKS[(i0, j0)] = torch.arange(j0, j1)[None, :] > torch.arange(i0, i1)[:, None]\n"
          "                s = s.masked_fill(_MASKS[(i0, j0)], float(\"-inf\"))")]
