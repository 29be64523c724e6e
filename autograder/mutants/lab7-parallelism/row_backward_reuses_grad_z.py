"""The row-parallel backward reuses the caller's grad_z list for dL/dX (grad_z[r] = grad_z[r] @
B_r^T, "no need for a new list"): the values returned are right, but the caller's dL/dZ is gone."""
EDITS = [("linears", "    grad_x = [g @ b.t() for g, b in zip(grad_z, b_shards)]\n"
                     "    grad_b = [x.t() @ g for x, g in zip(x_shards, grad_z)]\n"
                     "    return grad_x, grad_b",
          "    grad_b = [x.t() @ g for x, g in zip(x_shards, grad_z)]\n"
          "    for r, b in enumerate(b_shards):\n"
          "        grad_z[r] = grad_z[r] @ b.t()\n"
          "    return grad_z, grad_b")]
