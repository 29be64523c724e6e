"""A training step as a chain of layers: what each layer saves for its backward pass, how long
its forward and backward take, and what the step holds besides (weights, gradients, optimizer).

The chain model of Chen et al., *Training Deep Nets with Sublinear Memory Cost* (2016),
section 3 (a feed-forward chain; the step is a forward pass then a backward pass in reverse),
and of Checkmate (Jain et al., MLSys'20), section 4 (the linear-graph case). Vocabulary:

* ``o_i`` (``Layer.out_bytes``): layer i's output x_i, the boundary tensor a checkpoint keeps;
  ``Chain.input_bytes`` is o_0, the step's input;
* ``e_i`` (``Layer.extra_bytes``): what layer i saves for its backward besides its input;
  so the layer's saved activations are ``a_i = o_{i-1} + e_i`` (:meth:`Chain.saved_bytes`);
* ``fwd_time``/``bwd_time`` in seconds and ``fwd_flops`` (for the recompute count in FLOPs);
* ``workspace_bytes``: scratch memory a layer holds only while one of its ops runs.

Builders: :func:`transformer_chain` (any ``models.costs`` preset, activations per Korthikanti
et al. 2022 section 4.1, times from FLOPs at a device rate), :func:`gpt_chain` (the tiny GPT of
``models.gpt``, bytes exactly as torch's autograd saves them on CPU: see :mod:`.real`),
:func:`vgg16_chain` (the network of vDNN's headline result) and :func:`uniform_chain`;
:func:`build_chain` picks one by preset name (``mlsys-kit memory plan``, the demo, the widget).
Pure Python, no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from mlsys_kit import checks
from mlsys_kit.memory.config import CHAIN_PRESETS
from mlsys_kit.models import costs

CATEGORIES = ("weights", "gradients", "optimizer", "activations", "activation grads", "workspace")


@dataclass(frozen=True)
class Layer:
    """One layer of the chain (see the module docstring for o_i, e_i)."""

    name: str
    out_bytes: int
    extra_bytes: int
    fwd_time: float
    bwd_time: float
    fwd_flops: float = 0.0
    workspace_bytes: int = 0

    def __post_init__(self) -> None:
        checks.nonneg_int(f"{self.name}: out_bytes", self.out_bytes)
        checks.nonneg_int(f"{self.name}: extra_bytes", self.extra_bytes)
        checks.nonneg_int(f"{self.name}: workspace_bytes", self.workspace_bytes)
        checks.positive_number(f"{self.name}: fwd_time", self.fwd_time)
        checks.positive_number(f"{self.name}: bwd_time", self.bwd_time)
        checks.nonneg_number(f"{self.name}: fwd_flops", self.fwd_flops)


@dataclass(frozen=True)
class Chain:
    """A chain of layers, its input size o_0 and the static bytes of the step."""

    layers: tuple[Layer, ...]
    input_bytes: int
    static: dict[str, int] = field(default_factory=dict)  # weights, gradients, optimizer
    name: str = "chain"

    def __post_init__(self) -> None:
        if not isinstance(self.layers, tuple) or not self.layers:
            raise ValueError("a chain needs a non-empty tuple of Layer")
        if not all(isinstance(x, Layer) for x in self.layers):
            raise ValueError("every element of layers must be a Layer")
        checks.nonneg_int("input_bytes", self.input_bytes)
        for k, v in self.static.items():
            checks.one_of("static category", k, ("weights", "gradients", "optimizer"))
            checks.nonneg_int(f"static {k} bytes", v)

    @property
    def n(self) -> int:
        return len(self.layers)

    def out(self, i: int) -> int:
        """o_i: bytes of x_i (i = 0 is the input; layers are numbered 1..n)."""
        return self.input_bytes if i == 0 else self.layers[i - 1].out_bytes

    def saved_bytes(self, i: int) -> int:
        """a_i = o_{i-1} + e_i: what layer i (1..n) saves for its backward."""
        return self.out(i - 1) + self.layers[i - 1].extra_bytes

    @property
    def static_bytes(self) -> int:
        return sum(self.static.values())

    @property
    def compute_time(self) -> float:
        """One forward and one backward of every layer, no recomputation, no stalls."""
        return sum(x.fwd_time + x.bwd_time for x in self.layers)

    def with_static(self, **static: int) -> "Chain":
        return Chain(self.layers, self.input_bytes, dict(static), self.name)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "layers": self.n, "input_bytes": self.input_bytes, "static": dict(self.static),
                "saved_bytes": [self.saved_bytes(i) for i in range(1, self.n + 1)],
                "compute_time": self.compute_time}


def uniform_chain(n: int, out_bytes: int = 1, extra_bytes: int = 0, fwd_time: float = 1.0,
                  bwd_time: float = 2.0, static_bytes: int = 0) -> Chain:
    """n identical layers (Chen et al.'s setting for the sqrt(n) rule); input as big as an output."""
    checks.positive_int("n (layers)", n)
    layer = [Layer(f"layer{i}", out_bytes, extra_bytes, fwd_time, bwd_time, fwd_time) for i in range(1, n + 1)]
    return Chain(tuple(layer), out_bytes, {"weights": static_bytes} if static_bytes else {}, f"uniform-{n}")


def transformer_chain(cfg: Any, batch: int, seq: int | None = None, layers: int | None = None,
                      flops_per_s: float = 312e12 * 0.5, optimizer_bytes_per_param: int = 12) -> Chain:
    """The blocks of a ``models.costs.TransformerConfig`` as a chain.

    Saved activations per block: ``s·b·h·(34 + 5·a·s/h)`` bytes, Korthikanti et al., *Reducing
    Activation Recomputation in Large Transformer Models* (2022), section 4.1, equation 1 (2-byte
    activations, 1-byte dropout masks); the block's input is ``2·s·b·h`` of it. Forward FLOPs:
    2 per multiply-add of the block's matrices plus causal attention (``models.costs``);
    backward = 2 x forward. ``flops_per_s`` defaults to an A100 at 50 % of its 312 TFLOP/s.
    Static bytes: mixed-precision Adam (ZeRO 3.1) for the whole model. Embedding and LM head
    are not layers of the chain (their weights are in the static bytes).
    """
    cfg = cfg if isinstance(cfg, costs.TransformerConfig) else costs.preset(cfg)
    if layers is not None:
        cfg = cfg.with_(layers=checks.positive_int("layers", layers))
    b = checks.positive_int("batch", batch)
    s = cfg.seq_len if seq is None else checks.positive_int("seq", seq)
    rate = checks.positive_number("flops_per_s", flops_per_s)
    h, a = cfg.hidden, cfg.heads
    act = s * b * h * 34 + 5 * a * s * s * b
    boundary = 2 * s * b * h
    per_layer_matmul = (costs.matmul_params(cfg) - cfg.vocab * cfg.hidden) // cfg.layers
    flops = b * s * (2 * per_layer_matmul + 4 * max(1, s // 2) * h)
    state = costs.training_state_bytes(cfg, optimizer_bytes_per_param)
    blocks = tuple(Layer(f"block{i}", boundary, act - boundary, flops / rate, 2 * flops / rate, float(flops))
                   for i in range(1, cfg.layers + 1))
    return Chain(blocks, boundary, {k: state[k] for k in ("weights", "gradients", "optimizer")},
                 f"{cfg.name} x{cfg.layers} b={b} s={s}")


def gpt_chain(cfg: Any, batch: int, seq: int, flops_per_s: float = 50e9) -> Chain:
    """The tiny GPT's blocks (``models.gpt.GPTConfig``) in fp32, bytes as torch saves them.

    Per block, with N = batch·seq tokens, C = n_embd, H = n_head (CPU attention kernel):
    16·N·C + 4·N + N·H floats: the block input and the input of the second LayerNorm
    (2NC), the inputs of c_attn, c_proj and c_fc (3NC; the attention output is c_proj's
    input), the fused q/k/v (3NC), the MLP's pre- and post-GELU (8NC), two LayerNorms' mean
    and rstd (4N) and the attention's log-sum-exp (NH). The input N·C floats are o_{i-1}.
    """
    from mlsys_kit.models.gpt import GPTConfig

    if not isinstance(cfg, GPTConfig):
        raise ValueError(f"cfg must be a models.gpt.GPTConfig: got {type(cfg).__name__}")
    n_tok = checks.positive_int("batch", batch) * checks.positive_int("seq", seq)
    C, H = cfg.n_embd, cfg.n_head
    saved = 4 * (16 * n_tok * C + 4 * n_tok + n_tok * H)
    boundary = 4 * n_tok * C
    flops = n_tok * (2 * 12 * C * C + 4 * seq // 2 * C)
    params = sum([4 * C, 3 * C * C + 3 * C, C * C + C, 4 * C * C + 4 * C, 4 * C * C + C])
    rate = checks.positive_number("flops_per_s", flops_per_s)
    blocks = tuple(Layer(f"h.{i}", boundary, saved - boundary, flops / rate, 2 * flops / rate, float(flops))
                   for i in range(cfg.n_layer))
    total_params = params * cfg.n_layer + (cfg.vocab_size + cfg.n_positions + 2) * C
    return Chain(blocks, boundary, {"weights": 4 * total_params, "gradients": 4 * total_params,
                                    "optimizer": 8 * total_params}, f"tiny GPT b={batch} s={seq}")


# VGG-16 (Simonyan & Zisserman 2015, configuration D): (kind, out channels) at 224x224 input.
_VGG16 = [("conv", 64), ("conv", 64), ("pool", 0), ("conv", 128), ("conv", 128), ("pool", 0),
          ("conv", 256), ("conv", 256), ("conv", 256), ("pool", 0), ("conv", 512), ("conv", 512),
          ("conv", 512), ("pool", 0), ("conv", 512), ("conv", 512), ("conv", 512), ("pool", 0),
          ("fc", 4096), ("fc", 4096), ("fc", 1000)]


def vgg16_chain(batch: int = 256, flops_per_s: float = 6.1e12 * 0.7, elem_bytes: int = 4,
                mem_bytes_per_s: float = 336e9) -> Chain:
    """VGG-16 as vDNN offloads it (Rhu et al., MICRO'16, section 3): every layer (a conv with its
    in-place ReLU, a pool, an fc) keeps its input feature map X for the backward pass; fp32. Static: the weights and
    their gradients (138M parameters), no optimizer state (SGD). ``flops_per_s`` defaults to a
    Maxwell Titan X (6.1 TFLOP/s fp32 peak) at 70 %; ReLU and pooling are memory-bound: they
    take the bytes they read and write over ``mem_bytes_per_s`` (the Titan X's 336 GB/s)."""
    b = checks.positive_int("batch", batch)
    rate = checks.positive_number("flops_per_s", flops_per_s)
    bw = checks.positive_number("mem_bytes_per_s", mem_bytes_per_s)
    layers, c, hw, params = [], 3, 224, 0
    for i, (kind, out) in enumerate(_VGG16):
        if kind == "conv":
            flops = 2 * b * hw * hw * 9 * c * out
            params += 9 * c * out + out
            fm = b * hw * hw * out * elem_bytes
            layers.append(Layer(f"conv{i}+relu", fm, 0, flops / rate + 2 * fm / bw, 2 * flops / rate + 3 * fm / bw,
                                flops))
            c = out
        elif kind == "pool":
            fm_in = b * hw * hw * c * elem_bytes
            hw //= 2
            fm = b * hw * hw * c * elem_bytes
            layers.append(Layer(f"pool{i}", fm, 0, (fm_in + fm) / bw, (2 * fm_in + fm) / bw, 0.0))
        else:
            fan_in = c * hw * hw
            flops = 2 * b * fan_in * out
            params += fan_in * out + out
            layers.append(Layer(f"fc{i}", b * out * elem_bytes, 0, flops / rate, 2 * flops / rate, flops))
            c, hw = out, 1
    w = params * elem_bytes
    return Chain(tuple(layers), b * 224 * 224 * 3 * elem_bytes, {"weights": w, "gradients": w}, f"VGG-16 b={b}")


def build_chain(preset: str, batch: int, seq: int | None = None, layers: int | None = None,
                tflops: float | None = None) -> Chain:
    """The chain of ``preset`` (a ``models.costs`` preset or ``vgg16``) at this batch; ``tflops``
    is the device's effective rate (default: an A100 at 50 %, 156; vgg16: a Titan X at 70 %)."""
    checks.one_of("preset", preset, CHAIN_PRESETS)
    if preset == "vgg16":
        if seq is not None or layers is not None:
            raise ValueError("vgg16 has a fixed 224x224 input and 16 weight layers: --seq and --layers do not apply")
        return vgg16_chain(batch, flops_per_s=(tflops or 6.1 * 0.7) * 1e12)
    return transformer_chain(preset, batch, seq, layers, flops_per_s=(tflops or 156.0) * 1e12)


def from_lists(out_bytes: Sequence[int], extra_bytes: Sequence[int], fwd_time: Sequence[float],
               bwd_time: Sequence[float], input_bytes: int, static: dict[str, int] | None = None) -> Chain:
    """A chain from plain lists (what a lab or a test hands over)."""
    lens = {len(out_bytes), len(extra_bytes), len(fwd_time), len(bwd_time)}
    if len(lens) != 1:
        raise ValueError(f"out_bytes, extra_bytes, fwd_time and bwd_time must have the same length: got {sorted(lens)}")
    return Chain(tuple(Layer(f"layer{i + 1}", o, e, f, b, f) for i, (o, e, f, b)
                       in enumerate(zip(out_bytes, extra_bytes, fwd_time, bwd_time))), input_bytes, static or {})
