"""A tiny decoder-only transformer in the GPT-2 layout, the model every serving topic runs.

Layout as in GPT-2 (Radford et al. 2019, "Language Models are Unsupervised Multitask
Learners", section 2.3, on top of the GPT-1 decoder): token + learned position embeddings,
pre-LayerNorm blocks of multi-head causal self-attention and a GELU MLP, a final LayerNorm
and an LM head tied to the token embedding. Module names follow the Hugging Face
``transformers`` GPT-2 (``wte``, ``wpe``, ``h.<i>.attn.c_attn``, ...) so that a real GPT-2
state dict loads with one transpose per matrix (see :mod:`mlsys_kit.models.gpt_hf`).

Two ways to run it:

* :meth:`GPT.forward` - the whole sequence at once, no cache: the *reference* every cached
  implementation is compared with, and :meth:`GPT.generate_reference` (greedy decoding by
  full recomputation, O(T^2) work per token).
* :meth:`GPT.forward_packed` - a flat batch of new tokens from any number of sequences
  (prefill chunks and decode tokens mixed, as in vLLM's model runner), where attention is
  delegated to a caller-provided function that owns the KV cache. The paged cache of
  :mod:`mlsys_kit.kvcache` plugs in here; so does the contiguous cache used as a baseline.

Seeded initialisation, CPU by default, never downloads anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from mlsys_kit.checks import nonneg_int, positive_int, positive_number

# attention(layer, q, k, v) -> out, all [N, n_head, head_dim] for the N new tokens.
AttentionFn = Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class GPTConfig:
    """Shape of a GPT-2-layout model. ``n_embd`` must be divisible by ``n_head``."""

    vocab_size: int = 512
    n_positions: int = 2048
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    layer_norm_epsilon: float = 1e-5

    def __post_init__(self) -> None:
        for name in ("vocab_size", "n_positions", "n_layer", "n_head", "n_embd"):
            positive_int(name, getattr(self, name))
        positive_number("layer_norm_epsilon", self.layer_norm_epsilon)
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd must be divisible by n_head: got n_embd={self.n_embd}, n_head={self.n_head}")

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    @property
    def kv_heads(self) -> int:
        """GPT-2 uses plain multi-head attention: one K/V head per query head."""
        return self.n_head

    def kv_bytes_per_token(self, dtype: torch.dtype = torch.float32) -> int:
        """Bytes of K and V one token occupies in the cache: 2 * n_layer * kv_heads * head_dim * dtype_bytes."""
        elem = torch.empty((), dtype=dtype).element_size()
        return 2 * self.n_layer * self.kv_heads * self.head_dim * elem


PRESETS: dict[str, GPTConfig] = {
    # ~1.1M parameters: fast enough for property tests, long enough context for benchmarks.
    "tiny": GPTConfig(vocab_size=512, n_positions=2048, n_layer=4, n_head=4, n_embd=128),
    # even smaller, for the lab and quick unit tests
    "micro": GPTConfig(vocab_size=128, n_positions=256, n_layer=2, n_head=2, n_embd=32),
    # GPT-2 small, 124M parameters: the shape of the released OpenAI checkpoint
    "gpt2": GPTConfig(vocab_size=50257, n_positions=1024, n_layer=12, n_head=12, n_embd=768),
}


def preset(name: str, **overrides: int) -> GPTConfig:
    """The named preset, with optional field overrides (``preset("tiny", n_layer=2)``)."""
    if name not in PRESETS:
        raise ValueError(f"unknown model preset {name!r}: choose from {', '.join(PRESETS)}")
    return replace(PRESETS[name], **overrides)


class Attention(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.n_head, self.head_dim = cfg.n_head, cfg.head_dim
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd)

    def qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Split projections of x [..., n_embd] into q, k, v of shape [..., n_head, head_dim]."""
        q, k, v = self.c_attn(x).split(self.n_head * self.head_dim, dim=-1)
        shape = (*x.shape[:-1], self.n_head, self.head_dim)
        return q.reshape(shape), k.reshape(shape), v.reshape(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [B, T, C], causal, no cache
        q, k, v = (t.transpose(1, 2) for t in self.qkv(x))  # [B, H, T, D]
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).reshape(x.shape))


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd)
        self.c_proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # GPT-2's "gelu_new" is the tanh approximation of GELU
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd, eps=cfg.layer_norm_epsilon)
        self.attn = Attention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd, eps=cfg.layer_norm_epsilon)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """GPT-2-layout language model. ``GPT(PRESETS["tiny"], seed=0)`` is deterministic."""

    def __init__(self, config: GPTConfig | str = "tiny", seed: int = 0) -> None:
        super().__init__()
        if isinstance(config, str):
            config = preset(config)
        if not isinstance(config, GPTConfig):
            raise ValueError(f"config must be a GPTConfig or a preset name: got {type(config).__name__}")
        nonneg_int("seed", seed)
        self.config = cfg = config
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.n_positions, cfg.n_embd)
        self.h = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd, eps=cfg.layer_norm_epsilon)
        self._init_weights(seed)
        self.eval()

    @torch.no_grad()
    def _init_weights(self, seed: int) -> None:
        """GPT-2 init: N(0, 0.02), residual projections scaled by 1/sqrt(2 * n_layer)."""
        gen = torch.Generator().manual_seed(seed)
        resid_std = 0.02 / math.sqrt(2 * self.config.n_layer)
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                p.zero_()
            elif ".ln_" in name or name.startswith("ln_f"):
                p.fill_(1.0)
            else:
                std = resid_std if name.endswith("c_proj.weight") else 0.02
                p.copy_(torch.randn(p.shape, generator=gen) * std)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def lm_head(self, x: torch.Tensor) -> torch.Tensor:
        """Final LayerNorm, then the LM head tied to the token embedding."""
        return self.ln_f(x) @ self.wte.weight.t()

    def _check_ids(self, idx: torch.Tensor, positions: torch.Tensor | None = None) -> None:
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= self.config.vocab_size):
            raise ValueError(f"token ids must be in [0, {self.config.vocab_size}): got {int(idx.min())}..{int(idx.max())}")
        if positions is not None and positions.numel() and (
                int(positions.min()) < 0 or int(positions.max()) >= self.config.n_positions):
            raise ValueError(f"positions must be in [0, {self.config.n_positions}) (n_positions): "
                             f"got {int(positions.min())}..{int(positions.max())}")

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Reference forward, no cache: idx LongTensor [B, T] -> logits [B, T, vocab]."""
        if idx.dim() != 2 or idx.dtype != torch.long:
            raise ValueError(f"idx must be a LongTensor [B, T]: got {idx.dtype} of shape {tuple(idx.shape)}")
        T = idx.shape[1]
        if T > self.config.n_positions:
            raise ValueError(f"sequence length must be at most n_positions={self.config.n_positions}: got {T}")
        self._check_ids(idx)
        x = self.wte(idx) + self.wpe(torch.arange(T, device=idx.device))
        for block in self.h:
            x = block(x)
        return self.lm_head(x)

    def forward_packed(self, input_ids: torch.Tensor, positions: torch.Tensor, attention: AttentionFn,
                       logits_index: torch.Tensor | None = None) -> torch.Tensor:
        """Forward for N new tokens of many sequences packed into one flat batch.

        ``input_ids`` and ``positions`` are LongTensors [N]; ``attention(layer, q, k, v)``
        receives the new tokens' q, k, v ([N, n_head, head_dim]), stores k and v in its
        cache, and returns each token's attention output over its own sequence's context.
        Returns logits [len(logits_index), vocab] of the tokens picked by ``logits_index``
        (all N tokens if None): a serving step only needs each sequence's last token.
        """
        if input_ids.dim() != 1 or positions.shape != input_ids.shape:
            raise ValueError(f"input_ids and positions must both be 1-D of the same length: "
                             f"got {tuple(input_ids.shape)} and {tuple(positions.shape)}")
        self._check_ids(input_ids, positions)
        x = self.wte(input_ids) + self.wpe(positions)  # [N, C]
        for layer, block in enumerate(self.h):
            attn = block.attn
            q, k, v = attn.qkv(block.ln_1(x))
            y = attention(layer, q, k, v)
            x = x + attn.c_proj(y.reshape(x.shape))
            x = x + block.mlp(block.ln_2(x))
        if logits_index is not None:
            x = x[logits_index]
        return self.lm_head(x)

    @torch.no_grad()
    def generate_reference(self, prompt: list[int], max_new_tokens: int) -> list[int]:
        """Greedy decoding by full recomputation (no cache). Returns the new tokens only."""
        if not prompt:
            raise ValueError("prompt must hold at least one token id")
        nonneg_int("max_new_tokens", max_new_tokens)
        if len(prompt) + max_new_tokens > self.config.n_positions:
            raise ValueError(f"len(prompt) + max_new_tokens must be at most n_positions="
                             f"{self.config.n_positions}: got {len(prompt)} + {max_new_tokens}")
        device = self.wte.weight.device
        seq = torch.tensor([list(prompt)], dtype=torch.long, device=device)
        out: list[int] = []
        for _ in range(max_new_tokens):
            nxt = int(self(seq)[0, -1].argmax())
            out.append(nxt)
            seq = torch.cat([seq, torch.tensor([[nxt]], device=device)], dim=1)
        return out
