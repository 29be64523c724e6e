"""The search is sped up with a module-level cache keyed on the matrix shape (n, k) only: a second
call with the same shape on another device, element width or max_batch returns the first answer
(a memo keyed on too little)."""
EDITS = [("decode_batch", "    for b in range(1, max_batch + 1):\n",
          "    _seen = compute_bound_batch.__dict__.setdefault('seen', {})\n"
          "    if (n, k) in _seen:\n        return _seen[(n, k)]\n"
          "    _seen[(n, k)] = None\n"
          "    for b in range(1, max_batch + 1):\n"),
         ("decode_batch", "            return b\n",
          "            _seen[(n, k)] = b\n            return b\n")]
