"""The real check at the level of operators: one training step of the tiny GPT whose forward
saves exactly the tensors a plan names and whose backward recomputes the rest, run by torch.

AOTAutograd (the machinery under ``torch.compile``) traces the step into one joint ATen graph;
a *partition function* picks the tensors the forward keeps for the backward, and torch cuts
the joint graph there (``torch._functorch.partitioners._extract_fwd_bwd_modules``): the
forward graph returns the saved tensors, the backward graph recomputes every other forward
node it reads. Ours (:func:`run_op_plan`) hands it the saved set of a plan from
:mod:`.checkmate`; torch's own choice is ``min_cut_rematerialization_partition`` under
``torch._functorch.config.activation_memory_budget``, the partitioner of the ``aot_eager``
and inductor backends of ``torch.compile`` (:func:`torch_partition`). Checkmate (Jain et al.,
MLSys'20) section 6 executes its plans the same way, by rewriting the graph.

``decompose="inductor"`` traces the step as inductor does before it partitions (its
decomposition table, its joint-graph passes, common subexpressions merged), a finer graph
whose plans are then compared bitwise with that graph's own keep-all step (the decompositions
move low bits against eager, so eager is compared with allclose); :mod:`.op_inductor` counts
inductor's own partition on it.

Measured: the bytes of the tensors the forward graph returns for the backward (unique
storages, parameters and token ids excluded, as the plan counts them) and the forward nodes
the backward graph runs again; loss and every gradient compared with the plain step.
"""

from __future__ import annotations

import contextlib
import copy
import time
from typing import Any, Callable

from mlsys_kit import checks
from mlsys_kit.memory.checkmate import OP_POLICIES, op_policy
from mlsys_kit.memory.config import MEMORY
from mlsys_kit.memory.opgraph import OpGraph, graph_from_joint


def _model(preset: str, device: str, n_layer: int | None, seed: int):
    """The GPT on ``device``; ``meta``: fake tensors (meta storage, no weights, CPU kernels)."""


    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode

    from mlsys_kit.models.gpt import GPT, preset as gpt_preset

    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' asked for but torch.cuda.is_available() is False: use cpu or meta")
    cfg = gpt_preset(preset) if n_layer is None else gpt_preset(preset, n_layer=checks.positive_int("n_layer", n_layer))
    if device == "meta":
        mode = FakeTensorMode(allow_non_fake_inputs=True)
        with mode:
            return cfg, GPT(cfg, seed=seed).train(), mode
    return cfg, GPT(cfg, seed=seed).to(device).train(), contextlib.nullcontext()


def _step_module(model: Any):
    """The step as a module: embeddings, blocks, LM head, cross entropy (no id checks: traced)."""
    import torch
    import torch.nn.functional as F

    class Step(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, idx, tgt):
            m = self.m
            x = m.wte(idx) + m.wpe(torch.arange(idx.shape[1], device=idx.device))
            for block in m.h:
                x = block(x)
            return F.cross_entropy(m.lm_head(x).view(-1, m.config.vocab_size), tgt.view(-1))

    return Step(model)


DECOMPOSE = (None, "inductor")


def _aot_step(step: Any, partition: Callable, record: dict[str, Any], decompose: str | None = None):
    """``f(*params, idx, tgt) -> loss`` through AOTAutograd with ``partition`` choosing the cut;
    ``record`` gets the saved tensors' bytes (each forward run) and the recomputed nodes.
    ``decompose="inductor"``: the step as ``torch.compile``'s inductor backend hands it to its
    partitioner: traced with inductor's decomposition table, then inductor's joint-graph passes
    (``torch._inductor.compile_fx.partition_fn`` with ``partition`` in place of the min cut)."""
    import torch
    from functorch.compile import aot_function
    from torch._subclasses.fake_tensor import FakeTensor

    names = [n for n, _ in step.named_parameters()]

    def fn(*args):
        return torch.func.functional_call(step, dict(zip(names, args[:-2])), (args[-2], args[-1]))

    def fw_compiler(gm, _example):
        def run(args):
            inputs = {a.untyped_storage().data_ptr() for a in args
                      if isinstance(a, torch.Tensor) and not isinstance(a, FakeTensor)}
            outs = gm(*args)
            seen: dict[int, int] = {}
            for t in outs[record["num_fwd_outputs"]:]:
                if isinstance(t, torch.Tensor) and not isinstance(t, FakeTensor):
                    s = t.untyped_storage()
                    if s.data_ptr() not in inputs:
                        seen[s.data_ptr()] = s.nbytes()
            record["saved_bytes_measured"] = sum(seen.values())
            return outs

        run._boxed_call = True
        return run

    def bw_compiler(gm, _example):
        fwd = record["forward_names"]
        record["recomputed_nodes"] = sorted(n.name for n in gm.graph.nodes if n.op == "call_function" and n.name in fwd)

        def run(args):
            return gm(*args)

        run._boxed_call = True
        return run

    def part(joint, inputs, *, num_fwd_outputs, **kw):
        from torch._functorch.partitioners import _has_tag_is_forward

        record["num_fwd_outputs"] = num_fwd_outputs
        record["forward_names"] = {n.name for n in joint.graph.nodes if _has_tag_is_forward(n)}
        return partition(joint, inputs, num_fwd_outputs=num_fwd_outputs, **kw)

    if decompose is None:
        return aot_function(fn, fw_compiler=fw_compiler, bw_compiler=bw_compiler, partition_fn=part)
    from torch._inductor.compile_fx import partition_fn as inductor_partition_fn
    from torch._inductor.decomposition import select_decomp_table

    def cse(joint, inputs, **kw):  # as the min cut starts: dead code out, common subexpressions merged
        from torch._functorch.compile_utils import fx_graph_cse

        joint.graph.eliminate_dead_code()
        joint.graph = fx_graph_cse(joint.graph)
        joint.recompile()
        joint.meta["mlsys_decompose"] = decompose  # graph_from_joint: with the unclaimed nodes
        return part(joint, inputs, **kw)

    def passes(joint, inputs, **kw):  # inductor's joint-graph passes, then ``part`` on their graph
        return inductor_partition_fn(joint, inputs, partitioner_fn_override=cse, **kw)

    return aot_function(fn, fw_compiler=fw_compiler, bw_compiler=bw_compiler, partition_fn=passes,
                        decompositions=select_decomp_table())


def graph_of(joint: Any, name: str = "step") -> OpGraph:
    """The joint graph's :class:`OpGraph`; with the unclaimed nodes where :func:`_aot_step`
    decomposed it (the graph torch's min cut sees there)."""
    return graph_from_joint(joint, name, unclaimed=bool(joint.meta.get("mlsys_decompose")))


def cut_names(graph: OpGraph, fw: Any, bw: Any, num_fwd_outputs: int) -> tuple[list[str], list[str]]:
    """The forward nodes a cut (its forward and backward ``torch.fx`` graphs) saves, the forward
    graph's outputs past the user's (inputs and parameters left out), and those its backward
    graph runs again."""
    outs = next(n for n in fw.graph.nodes if n.op == "output").args[0][num_fwd_outputs:]
    saved = sorted({n.name for n in outs
                    if hasattr(n, "name") and n.name in graph.index and graph[n.name].kind != "input"})
    return saved, sorted(n.name for n in bw.graph.nodes if n.op == "call_function" and n.name in graph.index)


def _inputs(cfg: Any, batch: int, seq: int, device: str, seed: int):
    import torch

    gen = torch.Generator().manual_seed(seed + 1)
    idx = torch.randint(0, cfg.vocab_size, (batch, seq), generator=gen).to(device)
    tgt = torch.randint(0, cfg.vocab_size, (batch, seq), generator=gen).to(device)
    return idx, tgt


def trace(preset: str = "tiny", batch: int = 8, seq: int = 128, device: str = "meta",
          n_layer: int | None = None, partition: Callable | None = None, seed: int = MEMORY.seed,
          decompose: str | None = None) -> dict[str, Any]:
    """Trace one step (on ``meta`` no weights exist, so GPT-2 small traces in seconds) and cut
    it with ``partition`` (default: torch's default partition). Returns ``graph`` (the
    :class:`.opgraph.OpGraph` of the joint graph), ``saved``: the forward nodes the cut
    keeps for the backward (inputs and parameters left out), and ``recomputed``: the forward
    nodes the backward graph runs again. ``decompose``: see :func:`_aot_step`."""
    import torch
    from functorch.compile import default_partition

    checks.one_of("device", device, ("meta", "cpu", "cuda"))
    checks.one_of("decompose", decompose, DECOMPOSE)
    cfg, model, mode = _model(preset, device, n_layer, seed)
    checks.positive_int("batch", batch)
    if checks.positive_int("seq", seq) > cfg.n_positions:
        raise ValueError(f"seq must be at most n_positions={cfg.n_positions}: got {seq}")
    cut = partition or default_partition
    got: dict[str, Any] = {}

    def grab(joint, inputs, *, num_fwd_outputs, **kw):
        graph = graph_of(joint, f"GPT {preset} x{cfg.n_layer} b={batch} s={seq}" + (f" ({decompose})" if decompose else ""))
        fw, bw = cut(joint, inputs, num_fwd_outputs=num_fwd_outputs, **kw)
        saved, recomputed = cut_names(graph, fw, bw, num_fwd_outputs)
        got.update(graph=graph, saved=saved, recomputed=recomputed)
        return fw, bw

    step = _step_module(model)
    f = _aot_step(step, grab, {}, decompose)
    with mode:
        idx = torch.zeros(batch, seq, dtype=torch.long, device="cpu" if device == "meta" else device)
        f(*step.parameters(), idx, idx)
    return got


def ours_partition(choose: Callable[[Any], frozenset[str]], out: dict[str, Any] | None = None):
    """A partition function that saves ``choose(graph)`` (an :class:`.opgraph.OpGraph` saved set)
    plus the parameters and inputs the backward reads, and lets torch build the two graphs;
    ``out`` receives the graph and the saved set."""
    out = {} if out is None else out

    def part(joint, _inputs, *, num_fwd_outputs, **_kw):
        from torch._functorch.partitioners import _extract_fwd_bwd_modules

        graph = graph_of(joint)
        saved = graph.check_saved(choose(graph))
        rec = graph.recomputed(saved)
        out.update(graph=graph, saved=saved)
        fwd = {o.name for o in graph.ops}
        order = {n.name: i for i, n in enumerate(joint.graph.nodes)}
        nodes = {n.name: n for n in joint.graph.nodes}
        readers = [n for n in joint.graph.nodes if n.name not in fwd or n.name in rec]
        primals = {a.name for n in readers for a in n.all_input_nodes
                   if a.name in graph.index and graph[a.name].kind == "input"}
        keep = sorted(set(saved) | primals, key=order.__getitem__)
        fw, bw = _extract_fwd_bwd_modules(joint, [nodes[n] for n in keep], [], num_fwd_outputs=num_fwd_outputs)
        for n in reversed(list(bw.graph.nodes)):  # fx keeps dead "random" ops (attention's dropout): drop them
            if n.op == "call_function" and not n.users and n.name in fwd:
                bw.graph.erase_node(n)
        bw.recompile()
        return fw, bw

    return part


def torch_partition(budget: float):
    """torch's min-cut partitioner at ``activation_memory_budget``, as ``aot_eager`` calls it;
    on a step traced with ``decompose="inductor"`` (:func:`_aot_step`), as inductor does (its
    ``partition_fn``: joint-graph passes, then this with its default ``compiler="inductor"``)."""
    if checks.nonneg_number("activation_memory_budget", budget) > 1:
        raise ValueError(f"activation_memory_budget must be in [0, 1] (a fraction of keep-all's bytes): got {budget}")

    def part(joint, inputs, *, num_fwd_outputs, **kw):
        import torch
        from functorch.compile import min_cut_rematerialization_partition

        with torch._functorch.config.patch(activation_memory_budget=budget):
            return min_cut_rematerialization_partition(joint, inputs, num_fwd_outputs=num_fwd_outputs, **kw)

    return part


def run_partition(partition: Callable, preset: str = "tiny", batch: int = 8, seq: int = 128,
                  device: str = "cpu", seed: int = MEMORY.seed, n_layer: int | None = None,
                  repeat: int = 1, decompose: str | None = None) -> dict[str, Any]:
    """One step with ``partition`` cutting the joint graph, against the plain step: the eager
    step, or with ``decompose="inductor"`` (:func:`_aot_step`), the same decomposed graph run
    with nothing recomputed (``reference`` says which; inductor's decompositions change the
    numerics, so they are compared with eager too: ``eager_max_abs_grad_diff``,
    ``eager_allclose``). ``repeat`` timed steps after one that traces (median time reported)."""
    import statistics

    import torch

    checks.one_of("device", device, ("cpu", "cuda"))
    checks.one_of("decompose", decompose, DECOMPOSE)
    checks.positive_int("repeat", repeat)
    cfg, model, _ = _model(preset, device, n_layer, seed)
    if checks.positive_int("seq", seq) > cfg.n_positions:
        raise ValueError(f"seq must be at most n_positions={cfg.n_positions}: got {seq}")
    idx, tgt = _inputs(cfg, checks.positive_int("batch", batch), seq, device, seed)

    def timed(step, f):
        times = []
        for _ in range(repeat):
            step.zero_grad(set_to_none=True)
            t0 = time.perf_counter()
            loss = f(idx, tgt)
            loss.backward()
            times.append(time.perf_counter() - t0)
        return loss, statistics.median(times)

    def cut(step, part, record):
        f = _aot_step(step, part, record, decompose)
        f(*step.parameters(), idx, tgt).backward()  # traces, partitions
        return lambda i, t: f(*step.parameters(), i, t)

    eager = _step_module(copy.deepcopy(model))
    eager_loss, eager_time = timed(eager, eager)
    plain, plain_loss, plain_time = eager, eager_loss, eager_time
    if decompose is not None:
        plain = _step_module(copy.deepcopy(model))
        plain_loss, plain_time = timed(plain, cut(plain, ours_partition(lambda g: g.keep_all()), {}))
    step, record = _step_module(model), {}
    loss, step_time = timed(step, cut(step, partition, record))
    pairs = list(zip(step.parameters(), plain.parameters()))
    vs_eager = list(zip(step.parameters(), eager.parameters()))
    return {"preset": preset, "batch": batch, "seq": seq, "device": device, "n_layer": cfg.n_layer,
            "decompose": decompose, "reference": "eager" if decompose is None else f"{decompose}-decomposed keep-all",
            "loss": loss.item(), "plain_loss": plain_loss.item(),
            "bitwise_equal": bool(torch.equal(loss, plain_loss)) and all(torch.equal(p.grad, q.grad) for p, q in pairs),
            "max_abs_grad_diff": max(float((p.grad - q.grad).abs().max()) for p, q in pairs),
            "eager_max_abs_grad_diff": max(float((p.grad - q.grad).abs().max()) for p, q in vs_eager),
            "eager_allclose": bool(torch.allclose(loss, eager_loss)) and all(
                torch.allclose(p.grad, q.grad, rtol=1e-4, atol=1e-6) for p, q in vs_eager),
            "saved_bytes_measured": record["saved_bytes_measured"],
            "recomputed_nodes_measured": record["recomputed_nodes"],
            "step_time_s": step_time, "plain_step_time_s": plain_time}


def run_op_plan(policy: str, preset: str = MEMORY.run_preset, batch: int = MEMORY.run_batch,
                seq: int = MEMORY.run_seq, budget_mb: float | None = None, device: str = "cpu",
                n_layer: int | None = None, repeat: int = 1, decompose: str | None = None) -> dict[str, Any]:
    """One step of the tiny GPT under an operator-level policy (:func:`.checkmate.op_policy`;
    the budget on saved bytes defaults to 60 % of keep-all's), predicted against measured;
    ``decompose="inductor"`` plans and runs on inductor's decomposed graph (:func:`_aot_step`)."""

    checks.one_of("policy", policy, OP_POLICIES)
    budget = None if budget_mb is None else checks.positive_number("budget_mb", budget_mb) * 1e6
    got: dict[str, Any] = {}

    def choose(graph):
        got["plan"] = op_policy(policy, graph, budget)
        return frozenset(got["plan"]["saved"])

    out = run_partition(ours_partition(choose), preset, batch, seq, device, n_layer=n_layer, repeat=repeat,
                        decompose=decompose)
    graph, plan = got["plan"].pop("graph"), got["plan"]
    measured = [n for n in out.pop("recomputed_nodes_measured") if n in graph.index]
    out.update(level="op", policy=policy, budget_bytes=plan["budget_bytes"], graph=graph.to_dict(),
               saved_bytes_predicted=plan["saved_bytes"], saved_tensors=len(plan["saved"]),
               recompute_flops_predicted=plan["recompute_flops"],
               recompute_flops_measured=sum(graph[n].flops for n in measured),
               recompute_matmul_flops_predicted=plan["recompute_matmul_flops"],
               recompute_matmul_flops_measured=sum(graph[n].flops for n in measured if graph[n].matmul),
               matches_plain_step=bool(out["max_abs_grad_diff"] <= 1e-6 and abs(out["loss"] - out["plain_loss"]) <= 1e-6))
    return out


def trace_gpt(preset: str = "tiny", batch: int = 8, seq: int = 128, device: str = "meta",
              n_layer: int | None = None, decompose: str | None = None) -> OpGraph:
    """The :class:`OpGraph` of one training step of the GPT ``preset`` (``models.gpt``), traced
    by AOTAutograd; on ``meta`` (fake tensors) no weights are made: GPT-2 small in seconds.
    ``decompose="inductor"``: the finer graph inductor partitions (:func:`_aot_step`)."""
    return trace(preset, batch, seq, device, n_layer, decompose=decompose)["graph"]
