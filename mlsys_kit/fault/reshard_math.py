"""Per-parameter ("universal") form of a ZeRO/tensor-parallel sharded training state.

Follows Lian et al., "Universal Checkpointing: A Flexible and Efficient Distributed
Checkpointing System for Large-Scale DNN Training with Reconfigurable Parallelism" (ATC'25),
section 3: a checkpoint saved under one parallel layout is turned into one *atomic* checkpoint
per parameter (the full parameter and its full optimizer states), and any other layout is cut
back out of it. Pure Python, no torch: the maps here say which rank holds which elements of
which parameter; the real runtime applies them to tensors (:mod:`mlsys_kit.fault.reshard_real`).

A layout is (t, d, ZeRO stage) with t·d ranks; rank = dp·t + tp (tensor ranks adjacent, as in
Megatron). Each parameter is cut along its ``tp_dim`` into t equal chunks (``None``: replicated
on every tensor rank, e.g. a LayerNorm). A tensor rank's chunks, flattened row-major and
concatenated in the given order, form one flat buffer of Ψ_t elements padded to d·ceil(Ψ_t/d);
data rank dp owns elements [dp·S, (dp+1)·S) of it, S = ceil(Ψ_t/d) (ZeRO, SC'20 section 5).
Which states a rank keeps whole and which it keeps as its slice:

====== ======================== ======================================
stage  ``param``                ``exp_avg``, ``exp_avg_sq`` (Adam)
====== ======================== ======================================
0      whole padded buffer      whole padded buffer
1, 2   whole padded buffer      own slice (S elements)
3      own slice                own slice
====== ======================== ======================================

Gradients are not checkpointed. So the bytes a rank saves are ``params_bytes +
optimizer_bytes`` of :func:`mlsys_kit.zero.model.memory_per_device` with Ψ = Ψ_t, N_d = d,
``padded=True`` (:func:`checkpoint_bytes`; the tests check it). The real ZeRO runtime pads each
unit on its own: call these functions once per unit with that unit's parameters.

Shards are ``shards[rank][state]`` = a flat list of floats (the rank's buffer for that state);
the universal form is ``universal[name][state]`` = the full parameter, flat, row-major.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from math import prod

from mlsys_kit.checks import nonneg_int, one_of, positive_int
from mlsys_kit.common import ceil_div

STATES = ("param", "exp_avg", "exp_avg_sq")
ZERO_STAGES = (0, 1, 2, 3)


@dataclass(frozen=True)
class Layout:
    """t-way tensor parallel × d-way data parallel with ZeRO ``zero`` (0-3) over the d ranks."""

    t: int
    d: int
    zero: int

    def __post_init__(self) -> None:
        positive_int("t (tensor-parallel degree)", self.t)
        positive_int("d (data-parallel degree)", self.d)
        one_of("zero (ZeRO stage)", self.zero, ZERO_STAGES)

    @property
    def world(self) -> int:
        return self.t * self.d

    def rank(self, tp: int, dp: int) -> int:
        """The global rank of tensor rank ``tp`` in data group ``dp``: dp·t + tp."""
        if not (isinstance(tp, int) and 0 <= tp < self.t and isinstance(dp, int) and 0 <= dp < self.d):
            raise ValueError(f"(tp, dp) must be in [0, {self.t}) x [0, {self.d}): got ({tp!r}, {dp!r})")
        return dp * self.t + tp

    def coords(self, rank: int) -> tuple[int, int]:
        """(tp, dp) of a global rank."""
        if not (isinstance(rank, int) and not isinstance(rank, bool) and 0 <= rank < self.world):
            raise ValueError(f"rank must be an integer in [0, {self.world}) for {self}: got {rank!r}")
        return rank % self.t, rank // self.t

    def partitioned(self, state: str) -> bool:
        """Whether ``state`` is kept as a 1/d slice (True) or whole on every data rank."""
        one_of("state", state, STATES)
        return self.zero >= (3 if state == "param" else 1)

    def __str__(self) -> str:
        return f"t{self.t},d{self.d},zero{self.zero}"


def parse_layout(text: str) -> Layout:
    """``"t2,d2,zero1"`` → Layout(2, 2, 1) (the CLI's spelling; parts in this order)."""
    m = re.fullmatch(r"\s*t(\d+)\s*,\s*d(\d+)\s*,\s*zero(\d+)\s*", str(text))
    if not m:
        raise ValueError(f"a layout is written t<T>,d<D>,zero<S>, e.g. t2,d2,zero1 (S in 0-3): got {text!r}")
    return Layout(int(m.group(1)), int(m.group(2)), int(m.group(3)))


@dataclass(frozen=True)
class ParamSpec:
    """A parameter's full shape and the dimension tensor parallelism splits (None: replicated)."""

    name: str
    shape: tuple[int, ...]
    tp_dim: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"a parameter needs a non-empty name: got {self.name!r}")
        if not isinstance(self.shape, tuple) or not self.shape:
            raise ValueError(f"{self.name}: shape must be a non-empty tuple of positive ints: got {self.shape!r}")
        for s in self.shape:
            positive_int(f"{self.name}: a dimension of the shape", s)
        if self.tp_dim is not None:
            nonneg_int(f"{self.name}: tp_dim", self.tp_dim)
            if self.tp_dim >= len(self.shape):
                raise ValueError(f"{self.name}: tp_dim must be None or in [0, {len(self.shape)}): got {self.tp_dim}")

    @property
    def numel(self) -> int:
        return prod(self.shape)

    def local_numel(self, t: int) -> int:
        """Elements one tensor rank holds: numel/t if split, numel if replicated."""
        if self.tp_dim is None:
            return self.numel
        if self.shape[self.tp_dim] % t:
            raise ValueError(f"{self.name}: dimension {self.tp_dim} of shape {self.shape} cannot be split "
                             f"over t={t} tensor ranks: it must be a multiple of t")
        return self.numel // t


def _check_specs(specs: Sequence[ParamSpec]) -> None:
    if not specs or not all(isinstance(s, ParamSpec) for s in specs):
        raise ValueError("specs must be a non-empty sequence of ParamSpec")
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"parameter names must be unique: got {names}")


def tp_indices(spec: ParamSpec, t: int, tp: int) -> list[int]:
    """Flat (row-major) indices into the full parameter of tensor rank ``tp``'s chunk, in the
    chunk's own row-major order (Megatron-LM section 3: columns of A, rows of B)."""
    positive_int("t", t)
    if not (isinstance(tp, int) and 0 <= tp < t):
        raise ValueError(f"tp must be in [0, {t}): got {tp!r}")
    spec.local_numel(t)
    if spec.tp_dim is None:
        return list(range(spec.numel))
    k, shape = spec.tp_dim, spec.shape
    outer, inner = prod(shape[:k]), prod(shape[k + 1:])
    chunk = shape[k] // t
    out: list[int] = []
    for o in range(outer):
        base = (o * shape[k] + tp * chunk) * inner
        out.extend(range(base, base + chunk * inner))
    return out


def flat_numel(specs: Sequence[ParamSpec], t: int) -> int:
    """Ψ_t: elements of one tensor rank's (unpadded) flat buffer."""
    _check_specs(specs)
    return sum(s.local_numel(t) for s in specs)


def shard_numel(specs: Sequence[ParamSpec], layout: Layout) -> int:
    """S = ceil(Ψ_t / d): elements of one data rank's slice of the padded flat buffer."""
    return ceil_div(flat_numel(specs, layout.t), layout.d)


@dataclass(frozen=True)
class Piece:
    """Elements ``full_indices`` of parameter ``name`` sit at ``buffer_offset...`` of a rank's buffer."""

    name: str
    buffer_offset: int
    full_indices: tuple[int, ...]


def pieces(specs: Sequence[ParamSpec], layout: Layout, rank: int, state: str) -> list[Piece]:
    """What ``rank`` holds of ``state``: one Piece per parameter it holds any of, in buffer order.

    A whole (replicated) state's buffer is the padded flat buffer; a partitioned state's buffer
    is the rank's slice, so ``buffer_offset`` counts from the slice's start.
    """
    _check_specs(specs)
    tp, dp = layout.coords(rank)
    size = shard_numel(specs, layout)
    lo, hi = (dp * size, (dp + 1) * size) if layout.partitioned(state) else (0, size * layout.d)
    out, off = [], 0
    for s in specs:
        n = s.local_numel(layout.t)
        a, b = max(off, lo), min(off + n, hi)
        if a < b:
            idx = tp_indices(s, layout.t, tp)
            out.append(Piece(s.name, a - lo, tuple(idx[a - off:b - off])))
        off += n
    return out


def buffer_numel(specs: Sequence[ParamSpec], layout: Layout, state: str) -> int:
    """Elements of a rank's buffer for ``state``: S if partitioned, d·S if whole."""
    size = shard_numel(specs, layout)
    return size if layout.partitioned(state) else size * layout.d


def checkpoint_bytes(specs: Sequence[ParamSpec], layout: Layout,
                     state_bytes: Mapping[str, int] | None = None) -> list[int]:
    """Bytes each rank saves (padding included), per rank; fp32 (4 bytes) for every state by default."""
    sb = dict.fromkeys(STATES, 4) if state_bytes is None else dict(state_bytes)
    if set(sb) != set(STATES):
        raise ValueError(f"state_bytes must give bytes for exactly {STATES}: got {sorted(sb)}")
    for k, v in sb.items():
        positive_int(f"state_bytes[{k!r}]", v)
    per = sum(buffer_numel(specs, layout, st) * sb[st] for st in STATES)
    return [per] * layout.world


def _check_shards(shards: Sequence[Mapping[str, Sequence[float]]], specs: Sequence[ParamSpec],
                  layout: Layout) -> None:
    if len(shards) != layout.world:
        raise ValueError(f"layout {layout} has {layout.world} ranks but {len(shards)} shards were given")
    for r, sh in enumerate(shards):
        for st in STATES:
            if st not in sh:
                raise ValueError(f"rank {r}'s shard lacks state {st!r} (needs {STATES})")
            want = buffer_numel(specs, layout, st)
            if len(sh[st]) != want:
                raise ValueError(f"rank {r}'s {st!r} buffer has {len(sh[st])} elements; layout {layout} "
                                 f"needs {want}")


def to_universal(shards: Sequence[Mapping[str, Sequence[float]]], specs: Sequence[ParamSpec],
                 layout: Layout, check_replicas: bool = True) -> dict[str, dict[str, list[float]]]:
    """Merge the ranks' buffers into one full flat list per parameter and state (UCP section 3.2).

    Every element is held by at least one rank; with ``check_replicas`` every copy of it must
    agree (a stale replica is an error, not silently dropped).
    """
    _check_specs(specs)
    _check_shards(shards, specs, layout)
    uni: dict[str, dict[str, list[float | None]]] = {
        s.name: {st: [None] * s.numel for st in STATES} for s in specs}
    for r in range(layout.world):
        for st in STATES:
            buf = shards[r][st]
            for pc in pieces(specs, layout, r, st):
                dst = uni[pc.name][st]
                for j, i in enumerate(pc.full_indices):
                    v = buf[pc.buffer_offset + j]
                    if dst[i] is None:
                        dst[i] = v
                    elif check_replicas and dst[i] != v:
                        raise ValueError(f"replicas disagree: {pc.name}[{i}] {st} is {dst[i]!r} on an "
                                         f"earlier rank but {v!r} on rank {r} (a stale shard?)")
    for name, states in uni.items():
        for st, vals in states.items():
            if any(v is None for v in vals):  # cannot happen for a valid layout: every slice is owned
                raise ValueError(f"{name} {st}: some elements are held by no rank")
    return uni  # type: ignore[return-value]


def from_universal(universal: Mapping[str, Mapping[str, Sequence[float]]], specs: Sequence[ParamSpec],
                   layout: Layout, pad: float = 0.0) -> list[dict[str, list[float]]]:
    """Cut each rank's buffers out of the universal form for ``layout`` (UCP section 3.3)."""
    _check_specs(specs)
    for s in specs:
        if s.name not in universal:
            raise ValueError(f"the universal checkpoint lacks parameter {s.name!r}")
        for st in STATES:
            if st not in universal[s.name] or len(universal[s.name][st]) != s.numel:
                raise ValueError(f"universal[{s.name!r}] needs {st!r} with {s.numel} elements (shape {s.shape})")
    out = []
    for r in range(layout.world):
        shard = {}
        for st in STATES:
            buf = [pad] * buffer_numel(specs, layout, st)
            for pc in pieces(specs, layout, r, st):
                src = universal[pc.name][st]
                for j, i in enumerate(pc.full_indices):
                    buf[pc.buffer_offset + j] = src[i]
            shard[st] = buf
        out.append(shard)
    return out


def reshard(shards: Sequence[Mapping[str, Sequence[float]]], specs: Sequence[ParamSpec],
            src: Layout, dst: Layout) -> list[dict[str, list[float]]]:
    """Layout ``src`` → universal → layout ``dst``."""
    return from_universal(to_universal(shards, specs, src), specs, dst)
