"""The sweep is walked in the order the points are given, not by rate: right whenever the sweep
comes sorted, wrong when a failing rate is listed before lower ones (an order that should not
matter)."""
EDITS = [("goodput", "    for rate, attained in sorted(points):", "    for rate, attained in points:")]
