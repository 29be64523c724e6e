"""A training step as a graph of operators: every forward op with its output bytes and FLOPs,
and which of its outputs the backward pass reads.

The graph of Checkmate (Jain et al., *Checkmate: Breaking the Memory Wall with Optimal Tensor
Rematerialization*, MLSys'20), section 3 (the computation graph G = (V, E) with a cost C_v and
a memory M_v per node), taken from a real trace of the tiny GPT (:mod:`mlsys_kit.models.gpt`):
AOTAutograd traces the step (forward, loss and backward) into one ATen graph, the *joint*
graph that torch's own partitioner cuts (:func:`trace_gpt`). The chain of blocks of
:mod:`.chain` is the coarse view of the same step: a block is about 25 of these operators.

Vocabulary, one :class:`Op` per forward node:

* ``kind``: ``input`` (a parameter or the token ids: always in memory, never counted),
  ``op`` (a node with its own output storage: it can be *saved* for the backward pass),
  ``multi`` (an op returning several tensors, e.g. LayerNorm's output, mean and rstd: its
  outputs are the ``op`` nodes that read it, it holds no bytes itself), ``view`` (a view, a
  transpose, a split, a detach: it shares its input's storage, costs nothing to rebuild and
  is never saved itself; saving its base is what keeps it);
* ``out_bytes`` (M_v): bytes of the output storage; ``flops`` (C_v): 2mnk for a matmul
  (``mm``, ``addmm``, ``bmm``), 4·B·H·T·S·D for attention, one FLOP per output element for
  everything else (pointwise and reductions alike: LayerNorm, GELU, adds, softmax);
* ``needed``: the backward pass reads it (directly, or through a view);
* ``matmul``: a compute-bound op (matmul or attention), the kind torch's partitioner never
  recomputes; ``segment``: ``embed``, ``h.<i>`` (block i) or ``head``, for the block view.

Pure Python; :func:`graph_from_joint` reads a torch graph (torch imported inside it). The trace:
:func:`.op_real.trace_gpt`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from mlsys_kit import checks

KINDS = ("input", "op", "multi", "view")


@dataclass(frozen=True)
class Op:
    """One forward node of the step (see the module docstring)."""

    name: str
    kind: str
    inputs: tuple[str, ...] = ()
    out_bytes: int = 0
    flops: float = 0.0
    needed: bool = False
    matmul: bool = False
    segment: str = ""
    target: str = ""

    def __post_init__(self) -> None:
        checks.one_of(f"{self.name}: kind", self.kind, KINDS)
        checks.nonneg_int(f"{self.name}: out_bytes", self.out_bytes)
        checks.nonneg_number(f"{self.name}: flops", self.flops)

    @property
    def saveable(self) -> bool:
        return self.kind == "op"


@dataclass(frozen=True)
class OpGraph:
    """The forward ops of a step in topological order (inputs of an op come before it)."""

    ops: tuple[Op, ...]
    name: str = "graph"

    def __post_init__(self) -> None:
        if not isinstance(self.ops, tuple) or not all(isinstance(o, Op) for o in self.ops):
            raise ValueError("ops must be a tuple of Op")
        seen: set[str] = set()
        for o in self.ops:
            if o.name in seen:
                raise ValueError(f"op names must be unique: {o.name!r} appears twice")
            for i in o.inputs:
                if i not in seen:
                    raise ValueError(f"op {o.name!r} reads {i!r}, which is not an earlier op (ops must be in "
                                     "topological order)")
            seen.add(o.name)
        object.__setattr__(self, "index", {o.name: o for o in self.ops})

    def __getitem__(self, name: str) -> Op:
        return self.index[name]  # type: ignore[attr-defined]

    @property
    def saveable(self) -> list[str]:
        return [o.name for o in self.ops if o.saveable]

    @property
    def needed(self) -> list[str]:
        return [o.name for o in self.ops if o.needed and o.kind != "input"]

    @property
    def forward_flops(self) -> float:
        return sum(o.flops for o in self.ops)

    def segments(self) -> list[str]:
        return list(dict.fromkeys(o.segment for o in self.ops if o.kind != "input"))

    def check_saved(self, saved: Iterable[str]) -> frozenset[str]:
        s = frozenset(saved)
        bad = sorted(n for n in s if n not in self.index or not self[n].saveable)  # type: ignore[attr-defined]
        if bad:
            raise ValueError(f"only 'op' nodes can be saved (not inputs, views or multi-output ops): got {bad[:5]}")
        return s

    def recomputed(self, saved: Iterable[str]) -> frozenset[str]:
        """Checkmate's R for the backward stage given S = ``saved``: every needed node that is not
        saved, and, recursively, every unsaved input of a recomputed node (inputs are free)."""
        s = self.check_saved(saved)
        out: set[str] = set()
        stack = [n for n in self.needed if n not in s]
        while stack:
            n = stack.pop()
            if n in out:
                continue
            out.add(n)
            stack += [i for i in self[n].inputs if self[i].kind != "input" and i not in s and i not in out]
        return frozenset(out)

    def read(self, saved: Iterable[str]) -> frozenset[str]:
        """The part of ``saved`` the backward reads (what the backward needs, and the inputs of
        what it recomputes): a saved tensor nothing reads is dropped from the forward's outputs
        by the cut, so a plan should not count it (a K block's input, where LayerNorm's backward
        reads its normalised output instead, in inductor's decomposition)."""
        s = self.check_saved(saved)
        used = {i for r in self.recomputed(s) for i in self[r].inputs}
        return frozenset(n for n in s if n in used or self[n].needed)

    def cost(self, saved: Iterable[str]) -> dict[str, Any]:
        """Saved bytes, recomputed FLOPs (all, and matmul/attention alone) of a saved set."""
        s = self.check_saved(saved)
        r = self.recomputed(s)
        return {"saved_bytes": sum(self[n].out_bytes for n in s),
                "recompute_flops": sum(self[n].flops for n in r),
                "recompute_matmul_flops": sum(self[n].flops for n in r if self[n].matmul),
                "saved": sorted(s), "recomputed": sorted(r)}

    def keep_all(self) -> frozenset[str]:
        """Save every needed tensor (through views: their saveable bases): nothing recomputed."""
        return frozenset(n for v in self.needed for n in self.bases(v))

    def bases(self, name: str) -> set[str]:
        """The saveable nodes that keep ``name`` alive: itself, or through views and multi-output ops."""
        o = self[name]
        if o.saveable:
            return {name}
        if o.kind == "input":
            return set()
        return {b for i in o.inputs for b in self.bases(i)}  # a view's base; a multi-output op's inputs

    def to_dict(self) -> dict[str, Any]:
        keep = self.cost(self.keep_all())
        return {"name": self.name, "ops": sum(o.kind != "input" for o in self.ops),
                "saveable": len(self.saveable), "needed": len(self.needed),
                "forward_flops": self.forward_flops,
                "forward_matmul_flops": sum(o.flops for o in self.ops if o.matmul),
                "keep_all_saved_bytes": keep["saved_bytes"], "segments": len(self.segments())}


def from_lists(names: Sequence[str], inputs: Sequence[Sequence[str]], out_bytes: Sequence[int],
               flops: Sequence[float], needed: Sequence[bool], sources: Sequence[str] = (),
               matmul: Sequence[bool] | None = None) -> OpGraph:
    """A graph from plain lists (tests, the lab): every named node is an ``op``; ``sources``
    are free inputs; ``matmul`` marks the nodes the min-cut baseline never recomputes."""
    matmul = [False] * len(names) if matmul is None else matmul
    lens = {len(names), len(inputs), len(out_bytes), len(flops), len(needed), len(matmul)}
    if len(lens) != 1:
        raise ValueError(f"names, inputs, out_bytes, flops, needed and matmul must have the same length: "
                         f"got {sorted(lens)}")
    ops = [Op(s, "input") for s in sources]
    ops += [Op(n, "op", tuple(i), b, f, bool(nd), bool(m), segment=n) for n, i, b, f, nd, m
            in zip(names, inputs, out_bytes, flops, needed, matmul)]
    return OpGraph(tuple(ops), "lists")


def block_saved_set(graph: OpGraph, plan: str) -> frozenset[str]:
    """A block plan (K/C/R per block, :mod:`.optimal`) as a saved set of this graph: a K block
    saves what its backward reads and its input, a C block its input only, an R block nothing;
    the embedding and the head keep what their backward reads. The coarse version of a plan."""
    blocks = [s for s in graph.segments() if s.startswith("h.")]
    if not isinstance(plan, str) or len(plan) != len(blocks) or set(plan) - set("KCR"):
        raise ValueError(f"plan must be a string of K/C/R, one per block ({len(blocks)}): got {plan!r}")
    if plan and plan[0] == "R" or any(b == "R" and a not in "CR" for a, b in zip(plan, plan[1:])):
        raise ValueError(f"an R block must follow a C or R block: got {plan!r}")
    mode = dict(zip(blocks, plan))
    saved: set[str] = set()
    first = {}  # the first op of each block: its block input is the saveable base it reads
    for o in graph.ops:
        if o.kind == "input":
            continue
        m = mode.get(o.segment, "K")
        if m == "K" and o.needed:
            saved |= graph.bases(o.name)
        first.setdefault(o.segment, o)
    for seg, op in first.items():  # a K or C unit keeps its input (the embedding and head are K)
        if mode.get(seg, "K") in "KC":
            saved |= {b for i in op.inputs for b in graph.bases(i)}
    return graph.read(saved)


_REDUCTIONS = {"var_mean", "sum", "amax", "amin", "mean", "var", "logsumexp"}
_VIEWS = {"view", "_unsafe_view", "t", "transpose", "permute", "expand", "detach", "alias", "unsqueeze",
          "squeeze", "slice", "select", "reshape", "as_strided", "split", "split_with_sizes", "unbind"}


def _flops(name: str, args: Sequence[Any], out_numel: int) -> tuple[float, bool]:
    def shape(x: Any) -> tuple[int, ...]:
        return tuple(x.meta["val"].shape)

    if name == "mm":
        (m, k), (_, n) = shape(args[0]), shape(args[1])
        return 2.0 * m * n * k, True
    if name == "addmm":
        (m, k), (_, n) = shape(args[1]), shape(args[2])
        return 2.0 * m * n * k + m * n, True
    if name == "bmm":
        (b, m, k), (_, _, n) = shape(args[0]), shape(args[1])
        return 2.0 * b * m * n * k, True
    if "scaled_dot_product" in name:
        b, h, t, d = shape(args[0])
        s = shape(args[1])[2]
        return 4.0 * b * h * t * s * d, True
    if name in _REDUCTIONS:  # a reduction reads every input element once
        return float(math.prod(shape(args[0]))), False
    return float(out_numel), False


def graph_from_joint(joint: Any, name: str = "step", unclaimed: bool = False) -> OpGraph:
    """The forward part of an AOTAutograd joint graph (``torch.fx``) as an :class:`OpGraph`.

    Segments: each GPT block starts at its first LayerNorm (two per block), the head at the
    final one (``ln_f``); what comes before the first is the embedding. A LayerNorm is its
    ``native_layer_norm`` node, or, in a graph traced with inductor's decompositions (where
    it is ``var_mean``, ``rsqrt`` and pointwise nodes), its ``var_mean``.

    ``unclaimed``: also the nodes of the backward part that read no gradient (torch's
    partitioner calls them *unclaimed*, ``classify_nodes``: e.g. a LayerNorm backward's
    ``rstd / C``): the forward may compute and save them, or the backward compute them. Either
    way they run once, so their FLOPs count 0 here (they are backward work, not recomputation);
    they take the segment of their latest input."""
    import operator

    import torch
    from torch._functorch.partitioners import _has_tag_is_forward, _is_primal

    grads: set[str] = set()  # the tangents and everything that reads them
    for n in joint.graph.nodes:
        if (n.op == "placeholder" and "tangents" in str(n.target)) or any(a.name in grads for a in n.all_input_nodes):
            grads.add(n.name)
    fwd = [n for n in joint.graph.nodes if _is_primal(n) or (n.op == "call_function" and (
        _has_tag_is_forward(n) or (unclaimed and n.name not in grads)))]
    names = {n.name for n in fwd}

    def is_ln(n: Any) -> bool:
        return n.op == "call_function" and _has_tag_is_forward(n) and (
            "layer_norm" in str(n.target) or "var_mean" in str(n.target))

    lns = sum(map(is_ln, fwd))
    ops, ln_seen, kind, segment = [], 0, {}, {}
    for n in fwd:
        if n.op == "placeholder":
            ops.append(Op(n.name, "input", target="placeholder", segment="input"))
            kind[n.name] = "input"
            continue
        tname = getattr(n.target, "__name__", str(n.target)).split(".")[0]
        if is_ln(n):
            ln_seen += 1
        ins = tuple(dict.fromkeys(a.name for a in n.all_input_nodes if a.name in names))
        seg = "embed" if ln_seen == 0 else ("head" if ln_seen == lns else f"h.{(ln_seen - 1) // 2}")
        backward = not _has_tag_is_forward(n)
        if backward:  # an unclaimed node: its latest input's segment
            seg = next((segment[i] for i in reversed(ins) if i in segment), "head")
        segment[n.name] = seg
        needed = any(u.name not in names and u.op != "output" for u in n.users)
        val = n.meta.get("val")
        of_multi = n.target is operator.getitem and kind.get(n.args[0].name) == "multi"
        if tname in _VIEWS or (n.target is operator.getitem and not of_multi):
            op = Op(n.name, "view", ins, 0, 0.0, needed, False, seg, tname)
        elif not isinstance(val, torch.Tensor):
            first = next((v for v in val if isinstance(v, torch.Tensor)), None) if isinstance(val, (tuple, list)) else None
            f, mm = _flops(tname, n.args, 0 if first is None else first.numel())
            op = Op(n.name, "multi", ins, 0, 0.0 if backward else f, needed, mm, seg, tname)
        elif of_multi:
            op = Op(n.name, "op", ins, val.numel() * val.element_size(), 0.0, needed, False, seg, "getitem")
        else:
            f, mm = _flops(tname, n.args, val.numel())
            op = Op(n.name, "op", ins, val.numel() * val.element_size(), 0.0 if backward else f, needed, mm, seg, tname)
        ops.append(op)
        kind[n.name] = op.kind
    return OpGraph(tuple(ops), name)

