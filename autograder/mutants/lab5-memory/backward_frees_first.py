"""Frees a layer's saved activations before its backward op runs (then allocates the input
gradient): the peak misses the moment B_i holds a_i, g_i and g_{i-1} together."""
EDITS = [
    ("peak", 'run([(f"g{i - 1}", out[i - 1])], [f"g{i}", f"e{i}", f"x{i - 1}"])',
     'run([], [f"e{i}", f"x{i - 1}"])\n            run([(f"g{i - 1}", out[i - 1])], [f"g{i}"])'),
]
