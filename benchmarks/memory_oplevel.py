"""Block plans, operator-level plans and torch's min-cut partitioner side by side on one model
(issue #31). Prints one JSON object.

For each peak budget between keep-all's and sqrt's (the chain model of ``memory plan``), the
block DP (:mod:`mlsys_kit.memory.optimal_fast`) picks a block plan; its saved set on the traced
operator graph fixes the bytes B every other plan must stay within:

* ``block``: the block DP's plan, run as its saved set;
* ``op``: Checkmate's integer program (:func:`mlsys_kit.memory.checkmate.milp_plan`) at B;
* ``op_at_torch_bytes``: the integer program again, at the bytes torch's plan saved;
* ``torch``: ``min_cut_rematerialization_partition`` (the partitioner of ``torch.compile``'s
  ``aot_eager`` backend) with ``torch._functorch.config.activation_memory_budget`` bisected to
  the largest budget whose saved bytes stay within B; ``torch_compile_aot_eager``: the same
  budget through ``torch.compile(backend="aot_eager")`` itself (bytes its autograd function
  saves, counted by saved_tensors_hooks; step time); with ``--inductor``,
  ``torch_compile_inductor``: inductor's partition (``mlsys_kit.memory.op_inductor``: the step
  traced with inductor's decompositions and joint passes, cut by the min cut) with its
  ``activation_memory_budget`` bisected to B on that partition's saved bytes, its
  recomputation counted node by node (``*_counted``), then ``torch.compile(backend="inductor")``
  itself at that budget: saved bytes by saved_tensors_hooks, step time, and its partition
  captured inside the compile and counted (``captured``; ``captured_matches_counted``);
  ``op_decomposed_at_inductor_bytes``: ours planned on inductor's graph at the bytes its
  partition saves, run; ``op_at_inductor_bytes``: ours on the default graph at the bytes the
  compiled step saved; ``inductor_attention_listed``: a what-if, inductor's partition with
  the CPU attention kernel on torch's compute-intensive list and priced by its FLOPs
  (``op_inductor.attention_listed``), bisected and counted, with ours predicted at its bytes.

Each is run by torch (``mlsys_kit.memory.op_real``): saved bytes measured from the tensors the
forward graph hands the backward, recomputed FLOPs from the forward nodes the backward graph
runs, step time the median of ``--repeat`` steps, gradients compared bitwise with eager (on
inductor's graph: with that graph's keep-all step, and allclose with eager).

    python benchmarks/memory_oplevel.py [--layers 8] [--batch 8] [--seq 128] [--threads 1] [--repeat 5] [--inductor]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def bisect_torch(target: float, cutter, graph, steps: int = 12) -> tuple[float, dict]:
    """The largest activation_memory_budget in [0, 1] whose saved bytes are at most ``target``
    (``cutter``: ``op_inductor.inductor_cutter(..., decompose=None)``, one trace cut at each budget)."""
    from mlsys_kit.memory.op_inductor import bisect_budget

    d = bisect_budget(target, cutter, steps)
    return d["budget"], graph.cost({x for n in d["saved"] for x in graph.bases(n)})


def compiled_saved_bytes(budget: float, args, repeat: int, backend: str = "aot_eager") -> dict:
    """``torch.compile(backend=backend)`` at ``activation_memory_budget``: the bytes its
    compiled autograd function saves (a saved_tensors_hooks counter: unique storages, parameters
    and token ids left out) and its median step time. Inductor: its partition is captured
    inside the compile (``op_inductor.capture_inductor``) and counted, ``captured``."""
    import statistics
    import time

    import torch

    from mlsys_kit.memory import op_real
    from mlsys_kit.memory.op_inductor import capture_inductor

    cfg, model, _ = op_real._model("tiny", "cpu", args.layers, 0)
    idx, tgt = op_real._inputs(cfg, args.batch, args.seq, "cpu", 0)
    step = op_real._step_module(model)
    skip = {t.untyped_storage().data_ptr() for t in [*model.parameters(), idx, tgt]}
    torch._dynamo.reset()
    seen: dict[int, int] = {}

    def pack(t):
        if t.untyped_storage().data_ptr() not in skip:
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    times, record = [], {}
    with torch._functorch.config.patch(activation_memory_budget=budget), \
            (capture_inductor(record) if backend == "inductor" else contextlib.nullcontext()):
        f = torch.compile(step, backend=backend)
        for k in range(repeat + 1):
            seen.clear()
            step.zero_grad(set_to_none=True)
            t0 = time.perf_counter()
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                loss = f(idx, tgt)
            loss.backward()
            if k:
                times.append(time.perf_counter() - t0)
    out = {"saved_bytes_measured": sum(seen.values()), "step_ms": round(1e3 * statistics.median(times), 2),
           "budget": budget}
    if record:
        out["captured"] = gflops(record["cost"])
    return out


def gflops(cost: dict) -> dict:
    """A counted cut (``op_inductor.cut_cost``) in the benchmark's units."""
    return {"saved_bytes": cost["saved_bytes"], "recompute_gflop": round(cost["recompute_flops"] / 1e9, 4),
            "recompute_matmul_gflop": round(cost["recompute_matmul_flops"] / 1e9, 4)}


def row(name: str, r: dict, graph, extra: dict) -> dict:
    measured = [n for n in r["recomputed_nodes_measured"] if n in graph.index]
    if r.get("decompose"):
        extra = {**extra, **{k: r[k] for k in ("reference", "eager_allclose", "eager_max_abs_grad_diff")}}
    return {"plan": name, "saved_bytes_measured": r["saved_bytes_measured"],
            "recompute_gflop_measured": round(sum(graph[n].flops for n in measured) / 1e9, 4),
            "recompute_matmul_gflop_measured": round(sum(graph[n].flops for n in measured if graph[n].matmul) / 1e9, 4),
            "step_ms": round(1e3 * r["step_time_s"], 2), "plain_step_ms": round(1e3 * r["plain_step_time_s"], 2),
            "bitwise_equal": r["bitwise_equal"], **extra}


if __name__ == "__main__":
    import torch

    from mlsys_kit.memory.chain import gpt_chain
    from mlsys_kit.memory.checkmate import milp_plan, min_cut_plan
    from mlsys_kit.memory.lifetimes import simulate
    from mlsys_kit.memory.op_inductor import attention_listed, bisect_budget, inductor_cutter
    from mlsys_kit.memory.op_real import ours_partition, run_partition, torch_partition, trace_gpt
    from mlsys_kit.memory.opgraph import block_saved_set
    from mlsys_kit.memory.optimal_fast import optimal_plan_fast
    from mlsys_kit.memory.policies import sqrt_plan
    from mlsys_kit.models.gpt import preset

    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--budgets", type=int, default=4)
    ap.add_argument("--rows", default="", help="run only these budgets (1-based, comma-separated, e.g. 3,4)")
    ap.add_argument("--inductor", action="store_true", help="also torch.compile(backend='inductor'), its budget "
                    "bisected to the same bytes (needs a C++ compiler; minutes)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = preset("tiny", n_layer=a.layers)
    chain = gpt_chain(cfg, a.batch, a.seq)
    graph = trace_gpt("tiny", a.batch, a.seq, "meta", a.layers)
    keep_peak = simulate(chain, "K" * chain.n, keep_timeline=False).peak_bytes
    sqrt_peak = simulate(chain, sqrt_plan(chain.n), keep_timeline=False).peak_bytes
    step = (keep_peak - sqrt_peak) / a.budgets
    run = dict(preset="tiny", batch=a.batch, seq=a.seq, n_layer=a.layers, repeat=a.repeat)
    rows = []
    aot_cutter = inductor_cutter("tiny", a.batch, a.seq, a.layers, decompose=None)
    if a.inductor:  # inductor's graph (its decompositions, joint passes, unclaimed nodes), cut at any budget
        cutter = inductor_cutter("tiny", a.batch, a.seq, a.layers)
        fine = cutter(1.0)["graph"]
    picked = {int(r) - 1 for r in a.rows.split(",") if r.strip()} or set(range(a.budgets))
    if not picked <= set(range(a.budgets)):
        ap.error(f"--rows must be between 1 and --budgets ({a.budgets}): got {a.rows!r}")
    for k in sorted(picked):
        peak_budget = keep_peak - step * (k + 1)
        plan = optimal_plan_fast(chain, peak_budget)[0]
        block = graph.cost(block_saved_set(graph, plan))
        target = block["saved_bytes"]
        op = milp_plan(graph, target)
        tb, tcost = bisect_torch(target, aot_cutter, graph)
        res = {"peak_budget_mb": round(peak_budget / 1e6, 2), "block_plan": plan, "saved_budget_bytes": target,
               "torch_activation_memory_budget": round(tb, 5)}
        res["block"] = row("block", run_partition(ours_partition(lambda g, s=block["saved"]: frozenset(s)), **run),
                           graph, {"saved_bytes_predicted": block["saved_bytes"],
                                   "recompute_gflop_predicted": round(block["recompute_flops"] / 1e9, 4)})
        res["op"] = row("op", run_partition(ours_partition(lambda g, s=op["saved"]: frozenset(s)), **run), graph,
                        {"saved_bytes_predicted": op["saved_bytes"], "milp_optimal": op["optimal"],
                         "recompute_gflop_predicted": round(op["recompute_flops"] / 1e9, 4)})
        res["torch"] = row("torch", run_partition(torch_partition(tb), **run), graph,
                           {"saved_bytes_model": tcost["saved_bytes"]})
        res["torch_compile_aot_eager"] = compiled_saved_bytes(tb, a, a.repeat)
        if a.inductor:  # inductor: its budget bisected on its own partition, counted exactly, then compiled
            ind_cut = bisect_budget(target, cutter)
            ind = res["torch_compile_inductor"] = compiled_saved_bytes(ind_cut["budget"], a, a.repeat, "inductor")
            ind.update(saved_bytes_partition=ind_cut["saved_bytes"],
                       **{k + "_counted": v for k, v in gflops(ind_cut).items() if k != "saved_bytes"})
            ind["captured_matches_counted"] = ind.get("captured") == gflops(ind_cut)
            at = milp_plan(graph, ind["saved_bytes_measured"])  # ours on the default (coarser) graph
            res["op_at_inductor_bytes"] = row("op", run_partition(ours_partition(lambda g, s=at["saved"]: frozenset(s)),
                                                                  **run), graph,
                                              {"saved_bytes_predicted": at["saved_bytes"],
                                               "recompute_gflop_predicted": round(at["recompute_flops"] / 1e9, 4)})
            with attention_listed():  # the what-if: torch's lists with CPU attention as compute-bound
                listed = bisect_budget(target, cutter)
            theirs = milp_plan(fine, listed["saved_bytes"])
            res["inductor_attention_listed"] = {"budget": listed["budget"], **gflops(listed),
                                                "op_at_its_bytes_predicted": gflops(theirs)}
            mine = milp_plan(fine, ind_cut["saved_bytes"])  # ours on inductor's own graph, at its bytes
            res["op_decomposed_at_inductor_bytes"] = row(
                "op (inductor's graph)", run_partition(ours_partition(lambda g, s=mine["saved"]: frozenset(s)),
                                                       decompose="inductor", **run), fine,
                {"saved_bytes_predicted": mine["saved_bytes"], "milp_optimal": mine["optimal"],
                 "recompute_gflop_predicted": round(mine["recompute_flops"] / 1e9, 4),
                 "recompute_matmul_gflop_predicted": round(mine["recompute_matmul_flops"] / 1e9, 4)})
        # and ours at the bytes torch reached: never more bytes, never more recompute than torch
        mine = milp_plan(graph, res["torch"]["saved_bytes_measured"])
        res["op_at_torch_bytes"] = row("op", run_partition(ours_partition(lambda g, s=mine["saved"]: frozenset(s)),
                                                           **run), graph,
                                       {"saved_bytes_predicted": mine["saved_bytes"], "milp_optimal": mine["optimal"],
                                        "recompute_gflop_predicted": round(mine["recompute_flops"] / 1e9, 4)})
        rows.append(res)
    cut = min_cut_plan(graph)
    print(json.dumps({"model": graph.name, "threads": a.threads, "repeat": a.repeat, "graph": graph.to_dict(),
                      "keep_all_peak_mb": round(keep_peak / 1e6, 2), "sqrt_peak_mb": round(sqrt_peak / 1e6, 2),
                      "min_cut": {"saved_bytes": cut["saved_bytes"], "recompute_gflop": round(cut["recompute_flops"] / 1e9, 4)},
                      **({"inductor_graph": fine.to_dict()} if a.inductor else {}), "rows": rows}, indent=2))
