"""Schedule generators: GPipe, 1F1B, interleaved 1F1B, ZB-H1 and ZB-V.

* GPipe (Huang et al., NeurIPS'19, section 2.2): all forwards, then all backwards.
* 1F1B / PipeDream-Flush (Narayanan et al., PipeDream SOSP'19; Megatron-LM SC'21 section 2.2.1):
  rank r warms up with p-r-1 forwards, then alternates one forward and one backward, then cools
  down with the remaining backwards. Same bubble as GPipe, (p-1)/m, but at most p microbatches
  of activations in flight instead of m.
* Interleaved 1F1B (Megatron-LM SC'21, section 2.2.2): v model chunks per rank placed in a loop;
  bubble (p-1)/(v m).
* ZB-H1 (Zero Bubble, Qi et al., ICLR'24, section 3.1): 1F1B with the backward split into B and W;
  W is delayed by r steps on rank r, so the B chain is shorter and the idle time per rank drops to
  (p-1)(t_F + t_B - t_W) at 1F1B's peak memory.
* ZB-V (Zero Bubble, section 6): two chunks per rank placed in a V (rank r holds stages r and
  2p-1-r), so the first and last stage share a rank.

Every generator returns a :class:`~mlsys_kit.pipeline.schedule.Schedule` and raises ValueError
for parameters the schedule cannot take, saying what it needs.
"""

from __future__ import annotations

from typing import Callable

from mlsys_kit.checks import positive_int
from mlsys_kit.common import ceil_div
from mlsys_kit.pipeline.schedule import Action, Schedule, loop_placement, v_placement

SCHEDULES = ("gpipe", "1f1b", "interleaved-1f1b", "zb-h1", "zb-v")


def gpipe(p: int, m: int) -> Schedule:
    """GPipe: every rank runs F0..F(m-1) then BW0..BW(m-1) on its one stage."""
    positive_int("p (stages)", p)
    positive_int("m (microbatches)", m)
    ranks = [[Action("F", i, r) for i in range(m)] + [Action("BW", i, r) for i in range(m)] for r in range(p)]
    return Schedule(ranks, loop_placement(p, 1), m, "gpipe")


def one_f_one_b(p: int, m: int) -> Schedule:
    """1F1B (PipeDream-Flush): warm-up of p-r-1 forwards, steady F/BW pairs, cool-down of backwards."""
    positive_int("p (stages)", p)
    positive_int("m (microbatches)", m)
    if m < p:
        raise ValueError(f"1F1B needs at least as many microbatches as stages: got m={m}, p={p}")
    ranks = []
    for r in range(p):
        warmup = p - r - 1
        acts = [Action("F", i, r) for i in range(warmup)]
        for i in range(m - warmup):
            acts += [Action("F", warmup + i, r), Action("BW", i, r)]
        acts += [Action("BW", i, r) for i in range(m - warmup, m)]
        ranks.append(acts)
    return Schedule(ranks, loop_placement(p, 1), m, "1f1b")


def interleaved_1f1b(p: int, m: int, v: int = 2) -> Schedule:
    """Megatron's interleaved 1F1B: v chunks per rank, stage ``c*p + r`` on rank r.

    Microbatches go through the chunks in groups of p, so m must be a multiple of p. The k-th
    forward of a rank runs chunk ``(k // p) % v`` on microbatch ``(k // (p v)) p + k % p``;
    backwards walk the chunks in reverse. Warm-up is ``2(p-r-1) + (v-1)p`` forwards.
    """
    positive_int("p (stages)", p)
    positive_int("m (microbatches)", m)
    positive_int("v (chunks per rank)", v)
    if v == 1:
        sched = one_f_one_b(p, m)
        sched.name = "interleaved-1f1b"
        return sched
    if m % p:
        raise ValueError(f"interleaved 1F1B needs m to be a multiple of p (microbatches go round in groups of p): got m={m}, p={p}")
    total = m * v

    def mb(k: int) -> int:
        return (k // (p * v)) * p + k % p

    ranks = []
    for r in range(p):
        fwd = [Action("F", mb(k), ((k // p) % v) * p + r) for k in range(total)]
        bwd = [Action("BW", mb(k), (v - 1 - (k // p) % v) * p + r) for k in range(total)]
        warmup = min(2 * (p - r - 1) + (v - 1) * p, total)
        acts = fwd[:warmup]
        for i in range(total - warmup):
            acts += [fwd[warmup + i], bwd[i]]
        acts += bwd[total - warmup:]
        ranks.append(acts)
    sched = Schedule(ranks, loop_placement(p, v), m, "interleaved-1f1b")
    return sched


def zb_h1(p: int, m: int) -> Schedule:
    """ZB-H1: 1F1B order with BW split into B and W; rank r delays each W by r backward steps."""
    positive_int("p (stages)", p)
    positive_int("m (microbatches)", m)
    if m < p:
        raise ValueError(f"ZB-H1 needs at least as many microbatches as stages: got m={m}, p={p}")
    ranks = []
    for r in range(p):
        warmup = p - r - 1
        acts = [Action("F", i, r) for i in range(warmup)]
        for j in range(m):  # the j-th backward step (steady state, then cool-down)
            if warmup + j < m:
                acts.append(Action("F", warmup + j, r))
            acts.append(Action("B", j, r))
            if j >= r:
                acts.append(Action("W", j - r, r))
        acts += [Action("W", i, r) for i in range(max(m - r, 0), m)]
        ranks.append(acts)
    return Schedule(ranks, loop_placement(p, 1), m, "zb-h1")


def zb_v(p: int, m: int) -> Schedule:
    """ZB-V: rank r holds stages r (chunk 0) and 2p-1-r (chunk 1), following the paper's phases.

    Built for ``n = max(m, 2p-1)`` microbatches (the fewest that fill the V) and the actions of
    microbatches >= m dropped, so every m >= 1 works.
    """
    positive_int("p (stages)", p)
    positive_int("m (microbatches)", m)
    n = max(m, 2 * p - 1)
    ranks = []
    for r in range(p):
        s0, s1 = r, 2 * p - 1 - r
        cnt = {"F0": 0, "F1": 0, "B0": 0, "B1": 0, "W0": 0, "W1": 0}
        acts: list[Action] = []

        def emit(kind: str, chunk: int) -> None:
            key = f"{kind}{chunk}"
            acts.append(Action(kind, cnt[key], s0 if chunk == 0 else s1))
            cnt[key] += 1

        for _ in range(2 * (p - r) - 1):
            emit("F", 0)
        for _ in range(r):
            emit("F", 1), emit("F", 0)
        for _ in range(p - r):
            emit("F", 1), emit("B", 1), emit("W", 1)
        while cnt["F1"] < cnt["F0"] or cnt["F0"] < n:
            if cnt["F0"] < n:
                emit("F", 0)
            emit("B", 0), emit("W", 0), emit("F", 1), emit("B", 1), emit("W", 1)
        for _ in range(r):
            emit("B", 0), emit("B", 1)
        for _ in range(p - r):
            emit("B", 0), emit("W", 0)
        while cnt["W1"] < cnt["B1"]:
            emit("W", 1)
        while cnt["W0"] < cnt["B0"]:
            emit("W", 0)
        ranks.append([a for a in acts if a.microbatch < m])
    return Schedule(ranks, v_placement(p), m, "zb-v")


GENERATORS: dict[str, Callable[..., Schedule]] = {
    "gpipe": gpipe,
    "1f1b": one_f_one_b,
    "interleaved-1f1b": interleaved_1f1b,
    "zb-h1": zb_h1,
    "zb-v": zb_v,
}


def make_schedule(name: str, p: int, m: int, v: int = 2) -> Schedule:
    """Build schedule ``name`` (one of :data:`SCHEDULES`); ``v`` is used by interleaved-1f1b only."""
    if name not in GENERATORS:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}: got {name!r}")
    if name == "interleaved-1f1b":
        return interleaved_1f1b(p, m, v)
    return GENERATORS[name](p, m)


def fewest_valid_microbatches(name: str, p: int, m: int, v: int = 2) -> tuple[int, str]:
    """The smallest m' >= m that :func:`make_schedule` accepts for ``name`` with p stages (and v
    chunks), and the rule that decided it ("" when m itself is fine): what a widget moves its
    m slider to instead of showing an error."""
    if name not in GENERATORS:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}: got {name!r}")
    positive_int("p (stages)", p)
    positive_int("m (microbatches)", m)
    positive_int("v (chunks per rank)", v)
    if name in ("1f1b", "zb-h1") or (name == "interleaved-1f1b" and v == 1):
        return (m, "") if m >= p else (p, f"{name} needs m >= p")
    if name == "interleaved-1f1b":
        return (m, "") if m % p == 0 else (ceil_div(m, p) * p, "interleaved-1f1b needs m to be a multiple of p")
    return m, ""
