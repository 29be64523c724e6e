"""The teaching path: one training step, tensor by tensor, under a plan for every layer.

Chen et al., *Training Deep Nets with Sublinear Memory Cost* (2016), sections 3-4 (liveness of
the activations in a forward-backward chain; checkpoints and recomputation), and Rhu et al.,
*vDNN* (MICRO'16), section 3 (offload in the forward pass, prefetch in the backward pass),
put in one simulator. A plan gives each layer i (1..n) one letter:

====== ============================================================================
letter what layer i does with its saved activations a_i = o_{i-1} + e_i
====== ============================================================================
K      keep: saved in the forward pass, held on the device until its backward
C      checkpoint: runs without saving; its input x_{i-1} is kept; in the backward
       pass it is recomputed (with the R layers after it) from that input
R      recompute: part of the segment of the C before it; its input is dropped
S      swap (vDNN): saved, copied to the host after its forward, freed on the device
       when the copy ends, copied back (prefetched) before its backward
====== ============================================================================

The rules, each a tensor's birth and death (allocation at an op's start, release at its end):

* F_i (forward) makes x_i (o_i bytes) and, for K and S, the extra saved tensors e_i. x_{i-1}
  dies after F_i when layer i is R; otherwise it lives on as part of a_i (K, S) or as the
  checkpoint (C). At the end of the forward pass x_n becomes its gradient g_n (same bytes).
* S: the offload of a_i starts when F_i ends and the link is free; the device copy dies when the
  offload ends; F_{i+2} waits for it (vDNN synchronises one layer behind, so the copy overlaps
  F_{i+1}; waiting is a *stall*).
* Backward, right to left: a K or S layer runs B_i; a segment C R ... R (layers l..r) first
  recomputes R_l..R_r (each makes e_i and x_i again; x_r dies at once), then runs B_r..B_l.
* B_i makes g_{i-1} and frees g_i, e_i and x_{i-1} when it ends. A swapped layer's a_i comes
  back by a prefetch issued when the backward op before B_i starts (``lookahead`` ops ahead);
  B_i waits until it has arrived (a stall).
* Workspace of a layer lives only during its own ops. Weights, gradients and optimizer states
  (``chain.static``) live for the whole step.

:func:`simulate` returns peak memory, what holds it, step time (compute + recompute + stalls)
and the timeline. It is the reference every policy and the DP of :mod:`.optimal` are checked
against.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlsys_kit import checks
from mlsys_kit.memory.chain import Chain

LETTERS = "KCRS"


@dataclass
class StepResult:
    """What one step under a plan costs. Times in seconds, memory in bytes."""

    plan: str
    peak_bytes: int
    peak_time: float
    peak_holders: dict[str, int]
    step_time: float
    compute_time: float
    recompute_time: float
    recompute_flops: float
    recompute_count: int
    stall_time: float
    offloaded_bytes: int
    saved_bytes: int
    timeline: list[dict[str, Any]] = field(default_factory=list)
    memory: list[tuple[float, int]] = field(default_factory=list)

    def to_dict(self, timeline: bool = False) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k not in ("timeline", "memory")}
        if timeline:
            d["timeline"], d["memory"] = self.timeline, [list(p) for p in self.memory]
        return d


def check_plan(chain: Chain, plan: str) -> str:
    """Return ``plan`` if it is a valid plan for ``chain``: one letter of K, C, R, S per layer,
    and every R inside a segment (after a C or an R)."""
    if not isinstance(chain, Chain):
        raise ValueError(f"chain must be a Chain: got {type(chain).__name__}")
    if not isinstance(plan, str) or len(plan) != chain.n or any(c not in LETTERS for c in plan):
        raise ValueError(f"a plan is one letter of K, C, R, S per layer ({chain.n} layers): got {plan!r}")
    for i, c in enumerate(plan):
        if c == "R" and (i == 0 or plan[i - 1] not in "CR"):
            raise ValueError(f"layer {i + 1} is R but does not follow a C or an R: a recomputed segment "
                             f"starts with a checkpoint C (plan {plan!r})")
    return plan


def units(plan: str) -> list[tuple[int, int]]:
    """The plan's backward units, left to right, as (l, r) layer ranges (1-based, inclusive):
    a K or S layer alone, or a segment C R ... R."""
    out: list[tuple[int, int]] = []
    for i, c in enumerate(plan, 1):
        if c == "R":
            out[-1] = (out[-1][0], i)
        else:
            out.append((i, i))
    return out


def prefetch_schedule(durations: list[float], transfers: list[float | None], ready: list[float] | None = None,
                      start: float = 0.0, link_free: float = 0.0, lookahead: int = 1) -> dict[str, Any]:
    """When the backward ops run and when their prefetches travel (vDNN section 3.2).

    ``durations[j]`` is the j-th backward-phase compute op's time; ``transfers[j]`` the time to
    bring its saved tensors back over the link (None: nothing to fetch). The prefetch for op j
    is issued when op ``j - lookahead`` starts (ops 0..lookahead-1: at ``start``), waits for the
    link (one copy at a time, in issue order) and for ``ready[j]`` (its offload's end); op j
    starts when op j-1 has ended and its prefetch has arrived; the wait is a stall.
    Returns ``start``, ``end`` (per op), ``prefetch`` ((start, end) or None per op), ``stall``
    (total) and ``time`` (when the last op ends)."""
    if len(transfers) != len(durations) or (ready is not None and len(ready) != len(durations)):
        raise ValueError(f"durations, transfers (and ready) must have the same length: got "
                         f"{len(durations)}, {len(transfers)}" + ("" if ready is None else f", {len(ready)}"))
    checks.positive_int("lookahead", lookahead)
    ready = ready or [0.0] * len(durations)
    pre: list[tuple[float, float] | None] = [None] * len(durations)
    starts, ends = [], []
    t, link, stall = start, link_free, 0.0

    def issue(j: int, when: float) -> None:
        nonlocal link
        if j < len(durations) and transfers[j] is not None:
            p_start = max(when, link, ready[j])
            link = p_start + transfers[j]
            pre[j] = (p_start, link)

    for j in range(min(lookahead, len(durations))):
        issue(j, start)
    for j, dur in enumerate(durations):
        s0 = max(t, pre[j][1]) if pre[j] else t
        stall += s0 - t
        issue(j + lookahead, s0)
        starts.append(s0)
        t = s0 + dur
        ends.append(t)
    return {"start": starts, "end": ends, "prefetch": pre, "stall": stall, "time": t}


def simulate(chain: Chain, plan: str, link_bytes_per_s: float | None = None, lookahead: int = 1,
             keep_timeline: bool = True) -> StepResult:
    """Run one step of ``chain`` under ``plan`` (see the module docstring) and account for every
    tensor. ``link_bytes_per_s`` is the device-host bandwidth, needed when the plan swaps."""
    check_plan(chain, plan)
    checks.positive_int("lookahead", lookahead)
    if "S" in plan:
        if link_bytes_per_s is None:
            raise ValueError("a plan with S (swap) layers needs link_bytes_per_s (the device-host bandwidth)")
        checks.positive_number("link_bytes_per_s", link_bytes_per_s)
    n, L = chain.n, chain.layers
    events: list[tuple[float, int, int, str, str, int]] = []  # (time, 0 free | 1 alloc, seq, name, cat, bytes)
    ops: list[dict[str, Any]] = []
    seq = [0]

    def ev(t: float, kind: int, name: str, cat: str, nbytes: int) -> None:
        seq[0] += 1
        events.append((t, kind, seq[0], name, cat, nbytes))

    def op(stream: str, kind: str, layer: int, start: float, end: float) -> None:
        if keep_timeline:
            ops.append({"stream": stream, "op": kind, "layer": layer, "start": start, "end": end})

    t = 0.0  # the compute stream's clock
    link = 0.0  # the link's clock
    stall = 0.0
    offload_end: dict[int, float] = {}
    ev(0.0, 1, "x0", "activations", chain.out(0))
    # ---- forward
    for i in range(1, n + 1):
        layer, c = L[i - 1], plan[i - 1]
        start = max(t, offload_end.get(i - 2, 0.0))
        stall += start - t
        end = start + layer.fwd_time
        ev(start, 1, f"x{i}", "activations", layer.out_bytes)
        if c in "KS":
            ev(start, 1, f"e{i}", "activations", layer.extra_bytes)
        if layer.workspace_bytes:
            ev(start, 1, f"w{i}", "workspace", layer.workspace_bytes)
            ev(end, 0, f"w{i}", "workspace", layer.workspace_bytes)
        if c == "R":
            ev(end, 0, f"x{i - 1}", "activations", chain.out(i - 1))
        op("compute", "F", i, start, end)
        if c == "S":
            o_start = max(end, link)
            link = o_end = o_start + chain.saved_bytes(i) / link_bytes_per_s
            offload_end[i] = o_end
            ev(o_end, 0, f"x{i - 1}", "activations", chain.out(i - 1))
            ev(o_end, 0, f"e{i}", "activations", layer.extra_bytes)
            op("link", "offload", i, o_start, o_end)
        t = end
    ev(t, 0, f"x{n}", "activations", chain.out(n))
    ev(t, 1, f"g{n}", "activation grads", chain.out(n))
    # ---- backward: the compute ops in order, then run them
    order: list[tuple[str, int]] = []
    for l, r in reversed(units(plan)):
        if plan[l - 1] == "C":
            order += [("R", i) for i in range(l, r + 1)] + [("B", i) for i in range(r, l - 1, -1)]
        else:
            order.append(("B", l))
    swapped_at = {j: i for j, (kind, i) in enumerate(order) if kind == "B" and plan[i - 1] == "S"}
    sched = prefetch_schedule(
        [L[i - 1].fwd_time if kind == "R" else L[i - 1].bwd_time for kind, i in order],
        [chain.saved_bytes(i) / link_bytes_per_s if j in swapped_at else None for j, (_, i) in enumerate(order)],
        ready=[offload_end.get(i, 0.0) for _, i in order], start=t, link_free=link, lookahead=lookahead)
    for j, i in swapped_at.items():
        p_start, p_end = sched["prefetch"][j]
        ev(p_start, 1, f"x{i - 1}", "activations", chain.out(i - 1))
        ev(p_start, 1, f"e{i}", "activations", L[i - 1].extra_bytes)
        op("link", "prefetch", i, p_start, p_end)
    stall += sched["stall"]
    recompute_time = recompute_flops = 0.0
    for j, (kind, i) in enumerate(order):
        layer = L[i - 1]
        start, end = sched["start"][j], sched["end"][j]
        dur = end - start
        if layer.workspace_bytes:
            ev(start, 1, f"w{i}", "workspace", layer.workspace_bytes)
            ev(end, 0, f"w{i}", "workspace", layer.workspace_bytes)
        if kind == "R":
            recompute_time += dur
            recompute_flops += layer.fwd_flops
            ev(start, 1, f"e{i}", "activations", layer.extra_bytes)
            ev(start, 1, f"x{i}", "activations", layer.out_bytes)
            if i == order[j + 1][1] and order[j + 1][0] == "B":  # the segment's last layer: x_r is not needed
                ev(end, 0, f"x{i}", "activations", layer.out_bytes)
        else:
            ev(start, 1, f"g{i - 1}", "activation grads", chain.out(i - 1))
            for name, cat, nbytes in ((f"g{i}", "activation grads", chain.out(i)),
                                      (f"e{i}", "activations", layer.extra_bytes),
                                      (f"x{i - 1}", "activations", chain.out(i - 1))):
                ev(end, 0, name, cat, nbytes)
            if i == 1:
                ev(end, 0, "g0", "activation grads", chain.out(0))
        op("compute", kind, i, start, end)
        t = end
    # ---- replay the events in time order (releases before allocations at the same instant)
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    live: dict[str, tuple[str, int]] = {}
    static = chain.static_bytes
    cur, peak, peak_time, peak_live = static, -1, 0.0, {}
    memory: list[tuple[float, int]] = [(0.0, static)]
    for k, (when, kind, _, name, cat, nbytes) in enumerate(events):
        if kind == 1:
            if name in live:
                raise AssertionError(f"{name} allocated twice (plan {plan})")
            live[name] = (cat, nbytes)
            cur += nbytes
        else:
            if name not in live:
                raise AssertionError(f"{name} freed but not live (plan {plan})")
            cur -= live.pop(name)[1]
        last_at_time = k + 1 == len(events) or events[k + 1][0] != when or events[k + 1][1] != kind
        if last_at_time:
            if keep_timeline:
                memory.append((when, cur))
            if cur > peak:
                peak, peak_time, peak_live = cur, when, dict(live)
    if live:
        raise AssertionError(f"tensors still live after the step: {sorted(live)} (plan {plan})")
    holders = dict(chain.static)
    for cat, nbytes in peak_live.values():
        holders[cat] = holders.get(cat, 0) + nbytes
    swapped = [i for i in range(1, n + 1) if plan[i - 1] == "S"]
    saved = sum(chain.saved_bytes(i) for i in range(1, n + 1) if plan[i - 1] in "KS") + \
        sum(chain.out(i - 1) for i in range(1, n + 1) if plan[i - 1] == "C")
    return StepResult(
        plan=plan, peak_bytes=peak, peak_time=peak_time, peak_holders=holders, step_time=t,
        compute_time=chain.compute_time, recompute_time=recompute_time, recompute_flops=recompute_flops,
        recompute_count=plan.count("C") + plan.count("R"), stall_time=stall,
        offloaded_bytes=sum(chain.saved_bytes(i) for i in swapped), saved_bytes=saved,
        timeline=ops, memory=memory)
