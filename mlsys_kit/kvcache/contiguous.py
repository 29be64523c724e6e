"""Contiguous KV cache: the baseline that PagedAttention replaces.

PagedAttention (Kwon et al., SOSP'23), section 3 "Memory challenges in LLM serving": systems
such as FasterTransformer and Orca store each request's K/V in one contiguous chunk reserved
for the maximum length. Here: per layer ``[2, batch, heads, max_len, head_dim]``, every row of
the batch at the same length (static batching), attention by ``scaled_dot_product_attention``
over the filled prefix. Used by the decode benchmark and as a second implementation in tests.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mlsys_kit.checks import positive_int
from mlsys_kit.models.gpt import GPT


class ContiguousKVCache:
    """Static reservation: ``batch`` rows of ``max_len`` token slots, all at the same length."""

    def __init__(self, model: GPT, batch: int, max_len: int) -> None:
        cfg = model.config
        self.batch, self.max_len = positive_int("batch", batch), positive_int("max_len", max_len)
        w = model.wte.weight
        self.kv = [torch.zeros(2, batch, cfg.kv_heads, max_len, cfg.head_dim, dtype=w.dtype, device=w.device)
                   for _ in range(cfg.n_layer)]
        self.model, self.length = model, 0

    @torch.no_grad()
    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Append ``tokens`` [batch, T] to every row; return last-token logits [batch, vocab]."""
        b, T = tokens.shape
        if b != self.batch or self.length + T > self.max_len:
            raise ValueError(f"tokens must be [{self.batch}, T] with length + T <= {self.max_len}: "
                             f"got {tuple(tokens.shape)} at length {self.length}")
        start, end = self.length, self.length + T

        def attention(layer: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
            H, D = q.shape[1:]
            store = self.kv[layer]
            store[0, :, :, start:end] = k.view(b, T, H, D).transpose(1, 2)
            store[1, :, :, start:end] = v.view(b, T, H, D).transpose(1, 2)
            qb = q.view(b, T, H, D).transpose(1, 2)
            if T == 1:  # decode: the new token sees the whole prefix
                out = F.scaled_dot_product_attention(qb, store[0, :, :, :end], store[1, :, :, :end])
            else:
                mask = torch.arange(end, device=q.device)[None, :] <= torch.arange(start, end, device=q.device)[:, None]
                out = F.scaled_dot_product_attention(qb, store[0, :, :, :end], store[1, :, :, :end], attn_mask=mask)
            return out.transpose(1, 2).reshape(b * T, H, D)

        pos = torch.arange(start, end, device=tokens.device).repeat(b)
        last = torch.arange(b, device=tokens.device) * T + T - 1
        logits = self.model.forward_packed(tokens.reshape(-1), pos, attention, logits_index=last)
        self.length = end
        return logits
