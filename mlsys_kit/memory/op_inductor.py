"""Inductor's own recomputation, counted exactly from its partition, on the graph it partitions.

``torch.compile(backend="inductor")`` hands AOTAutograd its decomposition table
(``torch._inductor.decomposition.select_decomp_table``): LayerNorm becomes ``var_mean``,
``rsqrt`` and pointwise nodes, GELU and the cross entropy pointwise nodes and reductions
(attention and ``addmm`` stay whole). Its ``partition_fn`` runs its joint-graph passes and then
``min_cut_rematerialization_partition`` (``activation_memory_budget``), which first merges
common subexpressions and may save *unclaimed* nodes, backward nodes that read no gradient
(e.g. a LayerNorm backward's ``rstd / C``). All of that happens **before** lowering: the cut is
an ATen forward graph (its outputs past the user outputs are the saved tensors) and an ATen
backward graph (every forward node in it is recomputed), so the recomputation can be counted
node by node, although the kernels that later run it are fused.

Two ways to get the cut, checked against each other by the benchmark
(``benchmarks/memory_oplevel.py --inductor``): :func:`inductor_cut` calls the same pipeline
through ``aot_function`` (:func:`.op_real.trace` with ``decompose="inductor"``: seconds, on
``meta``; :func:`inductor_cutter` cuts one trace at many budgets), :func:`capture_inductor`
records the cut inside a real ``torch.compile`` run.
:func:`cut_cost` counts a cut on the :class:`.opgraph.OpGraph` of that same graph: the saved
bytes (storages, by their saveable bases) and the FLOPs of the forward nodes the backward runs.

Checkmate (Jain et al., MLSys'20) section 6 compares its plans with the frameworks' own
heuristics the same way: at equal memory, the recomputed cost.
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any, Callable, Iterable, Iterator

from mlsys_kit import checks
from mlsys_kit.memory.op_real import cut_names, graph_of, torch_partition, trace
from mlsys_kit.memory.opgraph import OpGraph, graph_from_joint


def cut_cost(graph: OpGraph, saved: Iterable[str], recomputed: Iterable[str]) -> dict[str, Any]:
    """A partition counted on ``graph``: ``saved`` (forward nodes the forward graph returns; a view
    counts as its base's storage) and ``recomputed`` (forward nodes the backward graph runs;
    views cost nothing). ``closure_recompute_flops``: Checkmate's R of the saved set (the
    least recomputation it allows, :meth:`.opgraph.OpGraph.recomputed`), a second count."""
    if not isinstance(graph, OpGraph):
        raise ValueError(f"graph must be an OpGraph: got {type(graph).__name__}")
    saved, recomputed = list(saved), list(recomputed)
    unknown = sorted(n for n in saved + recomputed if n not in graph.index)
    if unknown:
        raise ValueError(f"saved and recomputed must name nodes of the graph: {unknown[:5]} are not in it")
    bases = {b for n in saved for b in graph.bases(n)}
    closure = graph.cost(bases)
    ran = sorted(n for n in set(recomputed) if graph[n].kind not in ("view", "input"))
    return {"saved_bytes": closure["saved_bytes"], "saved": sorted(bases), "recomputed": ran,
            "recompute_flops": sum(graph[n].flops for n in ran),
            "recompute_matmul_flops": sum(graph[n].flops for n in ran if graph[n].matmul),
            "closure_recompute_flops": closure["recompute_flops"],
            "closure_recompute_matmul_flops": closure["recompute_matmul_flops"]}


def inductor_cut(budget: float, preset: str = "tiny", batch: int = 8, seq: int = 128,
                 n_layer: int | None = None, device: str = "meta") -> dict[str, Any]:
    """Inductor's partition of the GPT step at ``activation_memory_budget`` = ``budget``, traced
    as inductor traces it (:func:`.op_real._aot_step` with ``decompose="inductor"``) and cut by
    ``min_cut_rematerialization_partition``; returns :func:`cut_cost` plus ``graph`` and ``budget``."""
    t = trace(preset, batch, seq, device, n_layer, partition=torch_partition(budget), decompose="inductor")
    return {**cut_cost(t["graph"], t["saved"], t["recomputed"]), "graph": t["graph"], "budget": float(budget)}


def inductor_cutter(preset: str = "tiny", batch: int = 8, seq: int = 128, n_layer: int | None = None,
                    device: str = "meta", decompose: str | None = "inductor") -> Callable[[float], dict[str, Any]]:
    """:func:`inductor_cut` at many budgets for one trace: the step is traced once (inductor's
    decompositions and joint passes; ``decompose=None``: as ``aot_eager`` traces it), and each
    call ``cut(budget)`` runs the min cut on a copy of that joint graph (the min cut rewrites
    the graph it is given). For bisections."""
    import torch
    from functorch.compile import default_partition, min_cut_rematerialization_partition

    got: dict[str, Any] = {}

    def grab(joint, inputs, **kw):
        got.update(joint=joint, inputs=inputs, kw=kw, graph=graph_of(joint, f"GPT {preset} ({decompose})"))
        return default_partition(torch.fx.GraphModule(joint, copy.deepcopy(joint.graph)), inputs, **kw)

    trace(preset, batch, seq, device, n_layer, partition=grab, decompose=decompose)

    def cut(budget: float) -> dict[str, Any]:
        if not 0 <= checks.nonneg_number("activation_memory_budget", budget) <= 1:
            raise ValueError(f"activation_memory_budget must be in [0, 1]: got {budget}")
        joint, graph, n = got["joint"], got["graph"], got["kw"]["num_fwd_outputs"]
        with torch._functorch.config.patch(activation_memory_budget=float(budget)):
            fw, bw = min_cut_rematerialization_partition(torch.fx.GraphModule(joint, copy.deepcopy(joint.graph)),
                                                         got["inputs"], **got["kw"])
        saved, ran = cut_names(graph, fw, bw, n)
        return {**cut_cost(graph, saved, ran), "graph": graph, "budget": float(budget)}

    return cut


@contextlib.contextmanager
def capture_inductor(record: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Inside, every partition a real ``torch.compile(backend="inductor")`` makes is recorded in
    ``record`` (the last one wins): ``graph`` (the :class:`.opgraph.OpGraph` of the joint graph the
    min cut partitioned, unclaimed nodes included), ``saved`` and ``recomputed`` (node names), and
    ``cost`` (:func:`cut_cost`). Inductor's and AOTAutograd's caches are off inside, so the
    partition runs (a cache hit would skip it)."""
    import torch
    from torch._inductor import compile_fx

    if not isinstance(record, dict):
        raise ValueError(f"record must be a dict: got {type(record).__name__}")
    real = compile_fx.min_cut_rematerialization_partition

    def spy(joint, inputs, *, num_fwd_outputs, **kw):
        fw, bw = real(joint, inputs, num_fwd_outputs=num_fwd_outputs, **kw)  # it merges subexpressions in place
        graph = graph_from_joint(joint, "inductor's joint graph", unclaimed=True)
        saved, ran = cut_names(graph, fw, bw, num_fwd_outputs)
        record.update(graph=graph, saved=saved, recomputed=ran, cost=cut_cost(graph, saved, ran))
        return fw, bw

    compile_fx.min_cut_rematerialization_partition = spy
    try:
        with torch._functorch.config.patch(enable_autograd_cache=False), \
                torch._inductor.config.patch(fx_graph_cache=False):
            yield record
    finally:
        compile_fx.min_cut_rematerialization_partition = real


def bisect_budget(target_bytes: float, cut, steps: int = 10) -> dict[str, Any]:
    """The largest ``activation_memory_budget`` in [0, 1] (to 2^-steps) whose cut saves at most
    ``target_bytes``; ``cut(budget)`` returns a dict with ``saved_bytes`` (e.g. :func:`inductor_cut`)."""
    checks.nonneg_number("target_bytes", target_bytes)
    checks.positive_int("steps", steps)
    top = cut(1.0)
    if top["saved_bytes"] <= target_bytes:
        return top
    lo, hi, best = 0.0, 1.0, None
    for _ in range(steps):
        mid = (lo + hi) / 2
        d = cut(mid)
        if d["saved_bytes"] <= target_bytes:
            lo, best = mid, d
        else:
            hi = mid
    return best if best is not None else cut(0.0)


@contextlib.contextmanager
def attention_listed() -> Iterator[None]:
    """Inside, torch's partitioner treats CPU attention as it treats the CUDA kernels: the CPU
    flash-attention kernel (``aten._scaled_dot_product_flash_attention_for_cpu``) joins its
    list of compute-intensive ops (never recomputed unless the budget asks) and its runtime
    estimate gets the attention FLOPs, 4·B·H·T·S·D (torch's FLOP counter has no formula for
    it and prices it at 1). A what-if, not torch as shipped: it shows where the shipped
    partitioner's extra recomputation on CPU comes from."""
    import torch
    import torch._functorch.partitioners as parts
    from torch._inductor.custom_graph_pass import CustomRuntimeEstimator

    cpu_attention = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
    shipped = parts.get_default_op_list

    def op_list():
        ops = shipped()
        ops.compute_intensive_ops.add(cpu_attention)
        return ops

    class Priced(CustomRuntimeEstimator):
        def __call__(self, node):
            if parts.get_aten_target(node) == cpu_attention:
                b, h, t, d = node.args[0].meta["val"].shape
                return 4.0 * b * h * t * node.args[1].meta["val"].shape[2] * d
            with torch._functorch.config.patch(activation_memory_budget_runtime_estimator="flops"):
                return parts.estimate_runtime(node)

        def uuid(self):
            return "mlsys-kit: CPU attention priced"

    parts.get_default_op_list = op_list
    try:
        with torch._functorch.config.patch(activation_memory_budget_runtime_estimator=Priced()):
            yield
    finally:
        parts.get_default_op_list = shipped
