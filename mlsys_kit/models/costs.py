"""Transformer cost model: parameters, FLOPs, KV-cache and training-state bytes, roofline.

The warm-up topic of the course: every later topic (pipeline, KV cache, serving, ZeRO) starts
from these numbers. The formulas follow

* Kaplan et al., *Scaling Laws for Neural Language Models* (2020), section 2.1 and table 1:
  forward FLOPs per token ~= 2 N + 2 n_layer n_ctx d_attn, training ~= 3x forward;
* Narayanan et al., *Efficient Large-Scale Language Model Training on GPU Clusters Using
  Megatron-LM* (SC'21), appendix: the same accounting with the logit layer included;
* Kwon et al., *Efficient Memory Management for LLM Serving with PagedAttention* (SOSP'23),
  section 2.3: KV cache bytes per token = 2 x layers x kv_heads x head_dim x dtype bytes
  (OPT-13B: 800 KB per token in fp16);
* Rajbhandari et al., *ZeRO* (SC'20), section 3.1: mixed-precision Adam holds 2 + 2 + 12 bytes
  per parameter (fp16 weights, fp16 gradients, fp32 master weights, momentum and variance);
* Williams et al., *Roofline* (CACM 2009): attainable FLOP/s = min(peak, intensity x bandwidth).

Parameter counts are exact for the architectures named by the config (GPT-2/OPT: LayerNorm,
biases, learned positions, GELU MLP; LLaMA: RMSNorm, no biases, rotary positions, SwiGLU MLP)
and the tests check them against Hugging Face ``transformers`` models built on the meta device.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from mlsys_kit import checks

MLP_KINDS = ("gelu", "swiglu")
NORM_KINDS = ("layernorm", "rmsnorm")


@dataclass(frozen=True)
class TransformerConfig:
    """A decoder-only transformer. ``ffn_hidden`` defaults to 4 x hidden; ``kv_heads`` to
    ``heads`` (multi-head attention; fewer is grouped-query attention, 1 is multi-query)."""

    layers: int
    hidden: int
    heads: int
    vocab: int = 50257
    kv_heads: int | None = None
    ffn_hidden: int | None = None
    seq_len: int = 2048
    dtype_bytes: int = 2
    mlp: str = "gelu"
    norm: str = "layernorm"
    bias: bool = True
    learned_positions: int = 0  # rows of the learned position table; 0 for rotary/none
    tied_embeddings: bool = True
    name: str = "custom"

    def __post_init__(self) -> None:
        for field in ("layers", "hidden", "heads", "vocab", "seq_len", "dtype_bytes"):
            checks.positive_int(field, getattr(self, field))
        checks.positive_int("kv_heads", self.n_kv_heads)
        checks.positive_int("ffn_hidden", self.ffn)
        checks.nonneg_int("learned_positions", self.learned_positions)
        checks.one_of("mlp", self.mlp, MLP_KINDS)
        checks.one_of("norm", self.norm, NORM_KINDS)
        if self.hidden % self.heads:
            raise ValueError(f"hidden must be divisible by heads: got hidden={self.hidden}, heads={self.heads}")
        if self.heads % self.n_kv_heads:
            raise ValueError(
                f"heads must be a multiple of kv_heads (grouped-query attention): "
                f"got heads={self.heads}, kv_heads={self.n_kv_heads}")

    @property
    def n_kv_heads(self) -> int:
        return self.heads if self.kv_heads is None else self.kv_heads

    @property
    def ffn(self) -> int:
        return 4 * self.hidden if self.ffn_hidden is None else self.ffn_hidden

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    def with_(self, **changes: Any) -> "TransformerConfig":
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)


# Presets. Sources are the models' published configs (Hugging Face config.json of the
# checkpoints named) and papers; the tests rebuild each with `transformers` and count.
PRESETS: dict[str, TransformerConfig] = {
    # GPT-2 small: Radford et al. 2019; HF "gpt2" config.json (n_layer 12, n_embd 768,
    # n_head 12, vocab 50257, n_positions 1024). 124,439,808 parameters.
    "gpt2": TransformerConfig(name="gpt2", layers=12, hidden=768, heads=12, vocab=50257,
                              seq_len=1024, learned_positions=1024),
    # OPT-13B: Zhang et al. 2022, table 1 (40 layers, 40 heads, d_model 5120); HF
    # "facebook/opt-13b" config.json (ffn_dim 20480, vocab 50272, max_position_embeddings 2048,
    # learned positions with an offset of 2 rows).
    "opt-13b": TransformerConfig(name="opt-13b", layers=40, hidden=5120, heads=40, vocab=50272,
                                 seq_len=2048, learned_positions=2050),
    # LLaMA-2-7B: Touvron et al. 2023, table 1; HF "meta-llama/Llama-2-7b-hf" config.json
    # (hidden 4096, intermediate 11008, 32 layers, 32 heads, vocab 32000, untied head).
    "llama2-7b": TransformerConfig(name="llama2-7b", layers=32, hidden=4096, heads=32, vocab=32000,
                                   ffn_hidden=11008, seq_len=4096, mlp="swiglu", norm="rmsnorm",
                                   bias=False, tied_embeddings=False),
    # LLaMA-2-70B: same sources (hidden 8192, intermediate 28672, 80 layers, 64 heads,
    # 8 KV heads: grouped-query attention).
    "llama2-70b": TransformerConfig(name="llama2-70b", layers=80, hidden=8192, heads=64, kv_heads=8,
                                    vocab=32000, ffn_hidden=28672, seq_len=4096, mlp="swiglu",
                                    norm="rmsnorm", bias=False, tied_embeddings=False),
}


@dataclass(frozen=True)
class Device:
    """An accelerator for the roofline: dense peak FLOP/s at the working precision,
    memory bandwidth in bytes/s and memory capacity in bytes."""

    name: str
    peak_flops: float
    bandwidth: float
    memory_bytes: float

    def __post_init__(self) -> None:
        checks.positive_number("peak_flops", self.peak_flops)
        checks.positive_number("bandwidth", self.bandwidth)
        checks.positive_number("memory_bytes", self.memory_bytes)


# NVIDIA data sheets: A100 (2020/2021: 312 TFLOP/s dense BF16/FP16 tensor core, 1,555 GB/s
# for the 40 GB part, 2,039 GB/s for the 80 GB SXM part); H100 SXM (2022: 989 TFLOP/s dense
# BF16, 3.35 TB/s HBM3, 80 GB).
DEVICES: dict[str, Device] = {
    "a100-40gb": Device("a100-40gb", 312e12, 1.555e12, 40e9),
    "a100-80gb": Device("a100-80gb", 312e12, 2.039e12, 80e9),
    "h100-sxm": Device("h100-sxm", 989e12, 3.35e12, 80e9),
}


def preset(name: str) -> TransformerConfig:
    """The preset config called ``name`` (see ``PRESETS``)."""
    return PRESETS[checks.one_of("preset", name, PRESETS)]


def _check_config(cfg: Any) -> TransformerConfig:
    if not isinstance(cfg, TransformerConfig):
        raise ValueError(f"expected a TransformerConfig: got {type(cfg).__name__}")
    return cfg


def _layer_params(cfg: TransformerConfig) -> int:
    h, kv = cfg.hidden, cfg.n_kv_heads * cfg.head_dim
    attn = h * h + 2 * h * kv + h * h  # Q, K, V, output projection
    mlp = (3 if cfg.mlp == "swiglu" else 2) * h * cfg.ffn
    norms = 2 * (2 * h if cfg.norm == "layernorm" else h)
    biases = (h + 2 * kv + h) + ((2 * cfg.ffn if cfg.mlp == "swiglu" else cfg.ffn) + h) if cfg.bias else 0
    return attn + mlp + norms + biases


def param_count(cfg: TransformerConfig) -> int:
    """Exact parameter count: embeddings (+ learned positions), blocks, final norm, LM head
    (shared with the token embedding when ``tied_embeddings``)."""
    cfg = _check_config(cfg)
    embed = cfg.vocab * cfg.hidden + cfg.learned_positions * cfg.hidden
    final_norm = 2 * cfg.hidden if cfg.norm == "layernorm" else cfg.hidden
    head = 0 if cfg.tied_embeddings else cfg.vocab * cfg.hidden
    return embed + cfg.layers * _layer_params(cfg) + final_norm + head


def matmul_params(cfg: TransformerConfig) -> int:
    """Parameters that multiply every token's activations: the weight matrices of the
    blocks and the LM head (not embeddings lookups, norms or biases)."""
    cfg = _check_config(cfg)
    h, kv = cfg.hidden, cfg.n_kv_heads * cfg.head_dim
    per_layer = 2 * h * h + 2 * h * kv + (3 if cfg.mlp == "swiglu" else 2) * h * cfg.ffn
    return cfg.layers * per_layer + cfg.vocab * cfg.hidden


def forward_flops_per_token(cfg: TransformerConfig, context: int | None = None) -> int:
    """Forward FLOPs for one token that attends to ``context`` tokens (default: seq_len).

    2 FLOPs per multiply-add: 2 x matmul_params for the weights, and per layer 2 x context x
    d_attn for QK^T plus the same for the attention-weighted sum of V. For a causal sequence of
    length s the average token attends to s/2 tokens, which gives Kaplan's 2 n_layer n_ctx d_attn.
    """
    cfg = _check_config(cfg)
    ctx = cfg.seq_len if context is None else checks.positive_int("context", context)
    return 2 * matmul_params(cfg) + 4 * cfg.layers * ctx * cfg.hidden


def training_flops_per_token(cfg: TransformerConfig) -> int:
    """Training FLOPs per token on sequences of ``seq_len`` (causal average context s/2):
    forward + backward = 3 x forward (the backward pass does two matmuls per forward one).
    Activation recomputation would add one more forward (4x)."""
    cfg = _check_config(cfg)
    return 3 * forward_flops_per_token(cfg, context=max(1, cfg.seq_len // 2))


def kv_bytes_per_token(cfg: TransformerConfig) -> int:
    """KV-cache bytes per token: a K and a V vector per layer per KV head (PagedAttention 2.3)."""
    cfg = _check_config(cfg)
    return 2 * cfg.layers * cfg.n_kv_heads * cfg.head_dim * cfg.dtype_bytes


def training_state_bytes(cfg: TransformerConfig, optimizer_bytes_per_param: int = 12) -> dict[str, int]:
    """Bytes of model states for mixed-precision training (ZeRO 3.1): weights and gradients at
    ``dtype_bytes`` each, optimizer states at K bytes per parameter (12 for Adam: fp32 master
    copy, momentum, variance)."""
    cfg = _check_config(cfg)
    k = checks.positive_int("optimizer_bytes_per_param", optimizer_bytes_per_param)
    n = param_count(cfg)
    states = {"weights": n * cfg.dtype_bytes, "gradients": n * cfg.dtype_bytes, "optimizer": n * k}
    states["total"] = sum(states.values())
    return states


def gemm_intensity(m: int, n: int, k: int, dtype_bytes: int = 2) -> float:
    """Arithmetic intensity (FLOP per byte of DRAM traffic) of C[m,n] = A[m,k] @ B[k,n]:
    2mnk FLOPs over reading A and B and writing C once."""
    m, n, k = (checks.positive_int(x, v) for x, v in (("m", m), ("n", n), ("k", k)))
    b = checks.positive_int("dtype_bytes", dtype_bytes)
    return 2 * m * n * k / (b * (m * k + k * n + m * n))


def roofline(intensity: float, device: Device) -> dict[str, Any]:
    """The roofline verdict for a kernel of the given arithmetic intensity on ``device``:
    attainable FLOP/s, the ridge point, and whether it is memory- or compute-bound."""
    ai = checks.positive_number("intensity", intensity)
    if not isinstance(device, Device):
        raise ValueError(f"expected a Device (see DEVICES): got {type(device).__name__}")
    ridge = device.peak_flops / device.bandwidth
    return {
        "intensity": ai,
        "ridge_intensity": ridge,
        "attainable_flops": min(device.peak_flops, ai * device.bandwidth),
        "bound": "compute" if ai >= ridge else "memory",
    }


def max_concurrent_requests(cfg: TransformerConfig, memory_bytes: float, tokens_per_request: int) -> int:
    """How many requests of ``tokens_per_request`` tokens (prompt + output) fit in the KV cache
    beside the model weights in ``memory_bytes`` (activations and fragmentation ignored: an
    upper bound). 0 when the weights alone do not leave room for one."""
    cfg = _check_config(cfg)
    mem = checks.positive_number("memory_bytes", memory_bytes)
    t = checks.positive_int("tokens_per_request", tokens_per_request)
    free = mem - param_count(cfg) * cfg.dtype_bytes
    return max(0, int(free // (kv_bytes_per_token(cfg) * t)))


def summary(cfg: TransformerConfig, device: Device | None = None) -> dict[str, Any]:
    """Every headline figure for ``cfg`` as a JSON-ready dict (what ``mlsys-kit model costs``
    prints). With a device: decode and prefill GEMM verdicts and how many full-length requests
    fit."""
    cfg = _check_config(cfg)
    out: dict[str, Any] = {
        "config": asdict(cfg) | {"kv_heads": cfg.n_kv_heads, "ffn_hidden": cfg.ffn},
        "params": param_count(cfg),
        "matmul_params": matmul_params(cfg),
        "kv_bytes_per_token": kv_bytes_per_token(cfg),
        "flops_per_token": forward_flops_per_token(cfg),
        "training_flops_per_token": training_flops_per_token(cfg),
        "state_bytes": training_state_bytes(cfg),
        "weight_bytes": param_count(cfg) * cfg.dtype_bytes,
    }
    if device is not None:
        # decode multiplies a batch-1 activation row by each weight matrix; prefill a full sequence
        decode = gemm_intensity(1, cfg.hidden, cfg.hidden, cfg.dtype_bytes)
        prefill = gemm_intensity(cfg.seq_len, cfg.hidden, cfg.hidden, cfg.dtype_bytes)
        out["device"] = asdict(device)
        out["decode_gemm"] = roofline(decode, device)
        out["prefill_gemm"] = roofline(prefill, device)
        out["max_concurrent_requests"] = max_concurrent_requests(cfg, device.memory_bytes, cfg.seq_len)
    return out
