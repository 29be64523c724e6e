"""The real check of the tiled attention: output and gradients of :func:`flash_attention`
against ``torch.nn.functional.scaled_dot_product_attention`` and torch's autograd through it.

The truth is SDPA run in fp64 on the same inputs (upcast), differentiated by autograd. Stated
tolerances, on the max absolute error, relative to the size of what is compared
(tol = TOLERANCE[dtype] * max(1, max |truth|)):

* fp32: 1e-5 (the tiled loops accumulate in fp32 in a different order than SDPA; observed
  errors are around 1e-7 to 1e-6);
* bf16: 1e-2 (about 2.5 ulps of bf16's 8-bit mantissa: inputs and outputs are rounded to bf16;
  the tiles are computed in fp32, so the error is that of rounding the result, which torch's own
  bf16 SDPA shows too: ``sdpa_max_abs_error_out`` reports it beside ours).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from mlsys_kit.attention.flash import flash_attention
from mlsys_kit.attention.io import one_thread
from mlsys_kit.checks import one_of, positive_int

TOLERANCE = {"fp32": 1e-5, "bf16": 1e-2}
MAX_SEQ = 4096
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def _max_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.detach().double() - b.detach().double()).abs().max())


def check_against_sdpa(seq: int, block: int, head_dim: int = 64, causal: bool = False, dtype: str = "fp32",
                       batch: int = 1, heads: int = 2, seed: int = 0, block_k: int | None = None,
                       kv_seq: int | None = None) -> dict[str, Any]:
    """Random q, k, v, dO of shape [batch, heads, seq, head_dim] (k, v with ``kv_seq`` rows,
    default ``seq``); flash forward + backward with tiles of ``block`` query rows and
    ``block_k`` (default ``block``) key rows; errors against fp64 SDPA + autograd. Returns the
    JSON object of ``mlsys-kit attention check``."""
    for name, value in (("seq", seq), ("block", block), ("head_dim", head_dim), ("batch", batch), ("heads", heads)):
        positive_int(name, value)
    one_of("dtype", dtype, _DTYPES)
    if seq > MAX_SEQ or (kv_seq or 0) > MAX_SEQ:
        raise ValueError(f"seq must be at most {MAX_SEQ} (the check runs Python loops over tiles and an fp64 "
                         f"N x N reference): got {max(seq, kv_seq or 0)}")
    block_k = positive_int("block_k", block if block_k is None else block_k)
    kv_seq = positive_int("kv_seq", seq if kv_seq is None else kv_seq)
    with one_thread():
        return _check(seq, block, head_dim, causal, dtype, batch, heads, seed, block_k, kv_seq)


def _check(seq: int, block: int, head_dim: int, causal: bool, dtype: str, batch: int, heads: int, seed: int,
           block_k: int, kv_seq: int) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(seed)
    shapes = [(batch, heads, seq, head_dim), (batch, heads, kv_seq, head_dim), (batch, heads, kv_seq, head_dim)]
    q, k, v = (torch.randn(s, generator=gen).to(_DTYPES[dtype]).requires_grad_() for s in shapes)
    dO = torch.randn(batch, heads, seq, head_dim, generator=gen).to(_DTYPES[dtype])

    out = flash_attention(q, k, v, causal, block, block_k)
    grads = torch.autograd.grad(out, (q, k, v), dO)
    q64, k64, v64 = (t.detach().double().requires_grad_() for t in (q, k, v))
    ref = F.scaled_dot_product_attention(q64, k64, v64, is_causal=causal)
    ref_grads = torch.autograd.grad(ref, (q64, k64, v64), dO.double())
    sdpa = F.scaled_dot_product_attention(q.detach(), k.detach(), v.detach(), is_causal=causal)

    err_out = _max_err(out, ref)
    err_grad = max(_max_err(g, r) for g, r in zip(grads, ref_grads))
    tol_out = TOLERANCE[dtype] * max(1.0, float(ref.detach().abs().max()))
    tol_grad = TOLERANCE[dtype] * max(1.0, max(float(r.abs().max()) for r in ref_grads))
    return {"seq": seq, "kv_seq": kv_seq, "head_dim": head_dim, "block": block, "block_k": block_k,
            "causal": causal, "dtype": dtype, "batch": batch, "heads": heads, "seed": seed,
            "max_abs_error_out": err_out, "max_abs_error_grad": err_grad,
            "tolerance_out": tol_out, "tolerance_grad": tol_grad,
            "sdpa_max_abs_error_out": _max_err(sdpa, ref),
            "matches_sdpa": bool(err_out <= tol_out and err_grad <= tol_grad)}
