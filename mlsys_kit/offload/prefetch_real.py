"""InfiniGen's prefetch as a decode loop: the KV cache in host tensors, the partial keys on the
device, and at every layer of every new token only the speculated tokens' K and V gathered from
the host (Lee et al., OSDI'24, section 4.3 and figure 8: "prefetch the KV of the selected tokens").

:func:`decode_with_prefetch` runs the prompt with full attention (the prefill), then feeds the
rest of ``ids`` one token at a time (teacher forcing, as ``infinigen.prefetch_eval`` does). At
layer i the partial query comes from layer i-1's input (layer 0: its own), scores the partial keys
of the cached tokens, and the top ``ceil(fraction x t)`` of each head are gathered from the host
cache: the bytes of the gathered tensors are counted as they are copied. It is the loop that
``prefetch_eval``'s masked, all-positions-at-once evaluation stands for: the tests check the two
agree (logits, bytes).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from mlsys_kit import checks
from mlsys_kit.models.gpt import GPT
from mlsys_kit.offload.infinigen import Partial, _qkv
from mlsys_kit.offload.train import one_thread


@torch.no_grad()
def decode_with_prefetch(model: GPT, ids: torch.Tensor, prompt_len: int, fraction: float, part: Partial,
                         device: str = "cpu") -> dict[str, Any]:
    """Logits [T - prompt_len, vocab] of the decode positions and ``bytes_fetched`` (K and V
    gathered from the host) with ``fraction`` of the cached tokens prefetched per head and layer."""
    if not isinstance(model, GPT) or not isinstance(part, Partial):
        raise ValueError("model must be a GPT and part a Partial (infinigen.skew or random_columns)")
    checks.fraction("fraction", fraction)
    T, cfg = len(ids), model.config
    if not 1 <= prompt_len < T <= cfg.n_positions:
        raise ValueError(f"need 1 <= prompt_len < len(ids) <= n_positions={cfg.n_positions}: "
                         f"got prompt_len={prompt_len}, len(ids)={T}")
    dev = torch.device(device)
    H, D, L = cfg.n_head, cfg.head_dim, cfg.n_layer
    host_k, host_v = torch.zeros(L, H, T, D), torch.zeros(L, H, T, D)  # the KV cache, on the host
    keys_partial = [torch.zeros(H, T, part.cols.shape[-1], device=dev) for _ in range(L)]  # on the device
    idx = [part.cols[layer][:, None, :] for layer in range(L)]
    fetched, logits = 0, []
    with one_thread():
        x = model.wte(ids[:prompt_len]) + model.wpe(torch.arange(prompt_len))
        for layer, block in enumerate(model.h):  # the prefill: full causal attention, fills the caches
            q, k, v = _qkv(model, layer, x)
            host_k[layer, :, :prompt_len], host_v[layer, :, :prompt_len] = k, v
            keys_partial[layer][:, :prompt_len] = torch.gather(k @ part.rotation[layer], -1,
                                                               idx[layer].expand(-1, prompt_len, -1)).to(dev)
            x = block(x[None])[0]
        for t in range(prompt_len, T):
            x = model.wte(ids[t:t + 1]) + model.wpe(torch.tensor([t]))
            prev = x
            n = math.ceil(fraction * t - 1e-9)
            for layer, block in enumerate(model.h):
                q, k, v = _qkv(model, layer, x)  # [H, 1, D]
                host_k[layer, :, t:t + 1], host_v[layer, :, t:t + 1] = k, v
                keys_partial[layer][:, t] = torch.gather(k @ part.rotation[layer], -1, idx[layer])[:, 0]
                qs, _, _ = _qkv(model, layer, prev)
                spec = torch.gather(qs @ part.rotation[layer], -1, idx[layer]) \
                    @ keys_partial[layer][:, :t].transpose(-1, -2).cpu()  # [H, 1, t]
                top = spec[:, 0].argsort(dim=-1, descending=True, stable=True)[:, :n]  # [H, n]
                pick = top[..., None].expand(-1, -1, D)
                k_sel = torch.gather(host_k[layer, :, :t], 1, pick).to(dev)  # the prefetch: host -> device
                v_sel = torch.gather(host_v[layer, :, :t], 1, pick).to(dev)
                fetched += k_sel.nbytes + v_sel.nbytes
                ks, vs = torch.cat([k_sel.cpu(), k], dim=1), torch.cat([v_sel.cpu(), v], dim=1)
                att = torch.softmax((q @ ks.transpose(-1, -2)) / math.sqrt(D), dim=-1) @ vs  # [H, 1, D]
                prev = x
                x = x + block.attn.c_proj(att.transpose(0, 1).reshape(1, cfg.n_embd))
                x = x + block.mlp(block.ln_2(x))
            logits.append(model.lm_head(x)[0])
    return {"logits": torch.stack(logits), "bytes_fetched": fetched, "fraction": fraction}

