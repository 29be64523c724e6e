"""InfiniGen's speculative KV prefetch: fetch from the host only the KV of the tokens the next
layer will attend to, guessed one layer early from a partial query.

Lee et al., *InfiniGen: Efficient Generative Inference of Large Language Models with Dynamic KV
Cache Management* (OSDI'24), section 4. The KV cache lives on the host; attention of a decode
token is dominated by a few earlier tokens (section 3), so fetching only those loses little.

* **Offline skewing (4.2).** For each layer and head, the query matrix Q of a calibration text
  is decomposed, Q = U S V^T. Rotating queries and keys by the orthogonal V leaves every score
  unchanged (Q V (K V)^T = Q K^T) but packs the query's magnitude into the first columns, so a
  few columns of the rotated query and key carry most of each score. We keep the ``partial``
  share of columns with the largest product of the rotated query's and key's column norms: the
  *partial* query/key weights (the columns of W_q V and W_k V). The rotation is used for the
  speculation only; attention itself runs with the model's own weights.
* **Speculation (4.3).** While layer i-1 runs, its input (the residual stream, which changes
  little from layer to layer) goes through layer i's LayerNorm and partial query weights; the
  product with the partial keys of layer i (kept on the device: ``partial`` of the keys' bytes)
  scores every cached token, and the top ``fraction`` of them per head are prefetched. Layer 0
  has no earlier layer: it speculates from its own input. The paper keeps tokens whose score is
  within a threshold of the best; we take a fixed ``fraction`` so accuracy and bytes can be
  plotted against it. The new token's own K and V are on the device and always used.

:func:`prefetch_eval` runs a text through the model, prefill positions with full attention and
every later position as a decode token with the speculated subset, and reports the attention
mass the subset recovers (each layer fed the full run's input: selections are nested in the
fraction, so the mass is monotone), the output difference when every layer attends only to its
subset, and the KV bytes fetched against fetching everything. ``columns="random"`` takes random
columns of the unrotated query/key (the paper's comparison), ``"oracle"`` the true top scores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from mlsys_kit import checks
from mlsys_kit.models.gpt import GPT
from mlsys_kit.offload.config import COLUMNS
from mlsys_kit.offload.train import one_thread


@dataclass(frozen=True)
class Partial:
    """Per layer and head: a D x D orthogonal ``rotation`` [L, H, D, D] and the ``cols`` [L, H, r] kept."""

    rotation: torch.Tensor
    cols: torch.Tensor


def _heads(t: torch.Tensor, n_head: int) -> torch.Tensor:
    """[T, C] -> [H, T, D]."""
    return t.reshape(t.shape[0], n_head, -1).transpose(0, 1)


def _qkv(model: GPT, layer: int, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Layer ``layer``'s q, k, v [H, T, D] of the residual stream x [T, C]."""
    block = model.h[layer]
    q, k, v = block.attn.qkv(block.ln_1(x))
    return tuple(t.transpose(0, 1) for t in (q, k, v))  # type: ignore[return-value]


@torch.no_grad()
def skew(model: GPT, calib: torch.Tensor, partial: float = 0.25) -> Partial:
    """InfiniGen's offline skewing (section 4.2) from the calibration ids ``calib`` ([T] or
    windows [N, T]); ``partial``: the share of each head's columns kept (the paper's 0.3 ~ 0.25)."""
    checks.fraction("partial", partial)
    cfg = model.config
    if not isinstance(calib, torch.Tensor) or calib.dim() not in (1, 2) or calib.dtype != torch.long \
            or not 1 <= calib.shape[-1] <= cfg.n_positions:
        raise ValueError(f"calib must be a LongTensor [T] or [N, T] with T <= n_positions={cfg.n_positions}: "
                         f"got {getattr(calib, 'shape', calib)!r}")
    r = max(1, round(partial * cfg.head_dim))
    x = model.wte(calib) + model.wpe(torch.arange(calib.shape[-1]))
    x = x if x.dim() == 3 else x[None]
    rots, cols = [], []
    for layer, block in enumerate(model.h):
        q, k = (torch.cat(t, dim=1) for t in zip(*(_qkv(model, layer, xi)[:2] for xi in x)))
        _, _, vh = torch.linalg.svd(q, full_matrices=False)  # q [H, T, D] = U S V^T per head
        rot = vh.transpose(-1, -2)  # [H, D, D]: columns are the right singular vectors
        weight = (q @ rot).norm(dim=1) * (k @ rot).norm(dim=1)  # [H, D]
        rots.append(rot)
        cols.append(weight.argsort(dim=-1, descending=True, stable=True)[:, :r])
        x = block(x)
    return Partial(torch.stack(rots), torch.stack(cols))


def random_columns(model: GPT, partial: float = 0.25, seed: int = 0) -> Partial:
    """The same number of columns, drawn at random, of the unrotated query and key."""
    checks.fraction("partial", partial)
    checks.nonneg_int("seed", seed)
    cfg = model.config
    r = max(1, round(partial * cfg.head_dim))
    gen = torch.Generator().manual_seed(seed)
    cols = torch.stack([torch.stack([torch.randperm(cfg.head_dim, generator=gen)[:r] for _ in range(cfg.n_head)])
                        for _ in range(cfg.n_layer)])
    eye = torch.eye(cfg.head_dim).expand(cfg.n_layer, cfg.n_head, -1, -1)
    return Partial(eye.clone(), cols)


def _partial_scores(q: torch.Tensor, k: torch.Tensor, rot: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """Scores [H, T, T] from the ``cols`` of the rotated q and k (the partial query/key weights)."""
    idx = cols[:, None, :].expand(-1, q.shape[1], -1)
    return torch.gather(q @ rot, -1, idx) @ torch.gather(k @ rot, -1, idx).transpose(-1, -2)


def select(spec: torch.Tensor, fraction: float, prompt_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The keep mask [H, T, T] and the cached tokens fetched per query [T]: prefill queries
    (t < prompt_len) keep their whole causal past; a decode query t keeps the ceil(fraction x t)
    earlier tokens with the highest speculated scores (ties: the earlier token) and itself."""
    H, T, _ = spec.shape
    t = torch.arange(T)
    past = t[None, :] < t[:, None]  # [Tq, Tk]: strictly earlier
    order = spec.masked_fill(~past, float("-inf")).argsort(dim=-1, descending=True, stable=True)
    rank = torch.empty_like(order).scatter_(-1, order, t.expand(H, T, T).contiguous())
    fetched = torch.where(t >= prompt_len, torch.ceil(fraction * t.double() - 1e-9).long(), t)
    keep = (past & (rank < fetched[None, :, None])) | (t[None, :] == t[:, None])
    return keep, fetched


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax attention restricted to ``keep``: (output [H, T, D], probabilities [H, T, T])."""
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    probs = torch.softmax(scores.masked_fill(~keep, float("-inf")), dim=-1)
    return probs @ v, probs


def _forward(model: GPT, ids: torch.Tensor, prompt_len: int, fraction: float, part: Partial | None,
             teacher: list[torch.Tensor] | None) -> dict[str, Any]:
    """Run ``ids`` [T] with speculated attention (``part`` None: the true scores). With
    ``teacher`` (each layer's input in the full run), every layer reads the full run's input."""
    cfg = model.config
    T = len(ids)
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    x = model.wte(ids) + model.wpe(torch.arange(T))
    prev, inputs, mass, err, fetched = x, [], [], [], []
    for layer, block in enumerate(model.h):
        x = teacher[layer] if teacher is not None else x
        inputs.append(x)
        q, k, v = _qkv(model, layer, x)
        if fraction >= 1.0:
            keep, n = causal.expand(cfg.n_head, T, T), torch.arange(T)
        else:
            if part is None:
                spec = q @ k.transpose(-1, -2)
            else:  # layer i's partial query from layer i-1's input (layer 0: its own)
                qs, _, _ = _qkv(model, layer, prev)
                spec = _partial_scores(qs, k, part.rotation[layer], part.cols[layer])
            keep, n = select(spec, fraction, prompt_len)
        y, probs = _attend(q, k, v, keep)
        full_y, full_p = _attend(q, k, v, causal.expand_as(keep))
        mass.append((full_p * keep).sum(-1)[:, prompt_len:])
        err.append((y - full_y).abs()[:, prompt_len:].max() if T > prompt_len else torch.tensor(0.0))
        fetched.append(n[prompt_len:])
        prev = x
        x = x + block.attn.c_proj(y.transpose(0, 1).reshape(T, cfg.n_embd))
        x = x + block.mlp(block.ln_2(x))
    return {"logits": model.lm_head(x), "inputs": inputs, "mass": torch.stack(mass), "err": torch.stack(err),
            "fetched": torch.stack(fetched)}


def prefetch_eval(model: GPT, ids: torch.Tensor, prompt_len: int, fraction: float, part: Partial | None = None,
                  columns: str = "skewed", dtype_bytes: int = 4) -> dict[str, Any]:
    """Accuracy and bytes of speculative prefetch of ``fraction`` of the cached tokens, for the
    decode positions prompt_len..T-1 of ``ids`` [T]. ``part``: the partial weights (from
    :func:`skew` or :func:`random_columns`; ignored for ``columns="oracle"``)."""
    if not isinstance(model, GPT):
        raise ValueError(f"model must be a mlsys_kit.models.gpt.GPT: got {type(model).__name__}")
    checks.fraction("fraction", fraction)
    checks.one_of("columns", columns, COLUMNS)
    checks.positive_int("dtype_bytes", dtype_bytes)
    if not isinstance(ids, torch.Tensor) or ids.dim() != 1 or ids.dtype != torch.long:
        raise ValueError(f"ids must be a 1-D LongTensor of token ids: got {getattr(ids, 'shape', ids)!r}")
    T = len(ids)
    if not 1 <= prompt_len < T <= model.config.n_positions:
        raise ValueError(f"need 1 <= prompt_len < len(ids) <= n_positions={model.config.n_positions}: "
                         f"got prompt_len={prompt_len}, len(ids)={T}")
    if columns != "oracle" and not isinstance(part, Partial):
        raise ValueError(f"columns={columns!r} needs the partial weights (skew() or random_columns()): got {part!r}")
    with torch.no_grad(), one_thread():
        full = _forward(model, ids, prompt_len, 1.0, None, None)
        return _evaluate(model, ids, prompt_len, fraction, None if columns == "oracle" else part, columns,
                         dtype_bytes, full)


def _evaluate(model: GPT, ids: torch.Tensor, prompt_len: int, fraction: float, part: Partial | None, columns: str,
              dtype_bytes: int, full: dict[str, Any]) -> dict[str, Any]:
    cfg, T = model.config, len(ids)
    alone = _forward(model, ids, prompt_len, fraction, part, full["inputs"])  # each layer fed the full run's input
    chain = _forward(model, ids, prompt_len, fraction, part, None)  # every layer on its own subset
    dec = slice(prompt_len, T)
    per_entry = 2 * cfg.head_dim * dtype_bytes * cfg.n_head  # K and V of one token, one layer, all heads
    fetched = int(alone["fetched"].sum()) * per_entry
    everything = sum(range(prompt_len, T)) * cfg.n_layer * per_entry
    r = 0 if part is None else part.cols.shape[-1]
    return {
        "fraction": fraction, "columns": columns, "partial_columns": r, "head_dim": cfg.head_dim,
        "decode_tokens": T - prompt_len, "prompt_len": prompt_len,
        "attention_mass": float(alone["mass"].mean()),
        "attention_mass_per_layer": [float(m) for m in alone["mass"].mean(dim=(1, 2))],
        "attention_output_max_abs_error": float(alone["err"].max()),
        "max_abs_error": float((chain["logits"][dec] - full["logits"][dec]).abs().max()),
        "top1_agreement": float((chain["logits"][dec].argmax(-1) == full["logits"][dec].argmax(-1)).double().mean()),
        "bytes_fetched": fetched, "bytes_full": everything, "bytes_ratio": fetched / everything,
        "partial_key_bytes": r * T * cfg.n_head * cfg.n_layer * dtype_bytes,
        "logits": chain["logits"], "full_logits": full["logits"],
    }


FRACTIONS = tuple(round(0.05 * i, 2) for i in range(1, 21))


def fraction_sweep(model: GPT, ids: torch.Tensor, prompt_len: int, part: Partial,
                   fractions: tuple[float, ...] = FRACTIONS, random_seeds: int = 3) -> dict[str, Any]:
    """:func:`prefetch_eval` at each of ``fractions`` for the skewed columns, random columns
    (the mean over ``random_seeds`` draws) and the oracle: ``attention_mass``,
    ``max_abs_error``, ``top1_agreement`` and ``bytes_ratio`` per choice, one value per fraction."""
    checks.positive_int("random_seeds", random_seeds)
    if not fractions:
        raise ValueError("fractions must hold at least one value in (0, 1]")
    keys = ("attention_mass", "max_abs_error", "top1_agreement", "bytes_ratio")
    rand = [random_columns(model, part.cols.shape[-1] / model.config.head_dim, s) for s in range(random_seeds)]
    out: dict[str, Any] = {"fractions": [checks.fraction("fraction", f) for f in fractions]}
    prefetch_eval(model, ids, prompt_len, 1.0, part)  # checks the arguments
    with torch.no_grad(), one_thread():
        full = _forward(model, ids, prompt_len, 1.0, None, None)
        for name, parts in (("skewed", [part]), ("random", rand), ("oracle", [None])):
            runs = [[_evaluate(model, ids, prompt_len, f, p, name, 4, full) for p in parts] for f in fractions]
            out[name] = {k: [sum(r[k] for r in rs) / len(rs) for rs in runs] for k in keys}
    return out
