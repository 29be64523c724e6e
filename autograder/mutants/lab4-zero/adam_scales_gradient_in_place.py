"""Scales the gradient in place to save a temporary (g.mul_(1 - b1)) after the second moment has
used it: the moments and the update are right, but the caller's gradient comes back scaled (a
ZeRO rank's kept gradient slice, a gradient the caller logs or clips afterwards)."""
EDITS = [("adam", "    m.mul_(b1).add_(g, alpha=1 - b1)\n    v.mul_(b2).addcmul_(g, g, value=1 - b2)\n",
          "    v.mul_(b2).addcmul_(g, g, value=1 - b2)\n    m.mul_(b1).add_(g.mul_(1 - b1))\n")]
