"""Pictures of the fault topic: waste against the checkpoint interval, a run's timeline with
failures and recoveries, GEMINI's replica placement, and the real runs' losses."""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure
from matplotlib.patches import Patch

from mlsys_kit.fault.failsim import simulate
from mlsys_kit.fault.gemini import placement, recovery_probability
from mlsys_kit.viz.figure import new_figure

KIND_COLORS = {"compute": "#4c956c", "checkpoint": "#2c6e9b", "lost": "#d1495b", "restart": "#edae49"}
SERIES = ("#4C72B0", "#DD8452", "#55A868", "#8172B3")  # strategy / run colours, in order


def plot_plan(res: dict[str, Any]) -> Figure:
    """Measured waste against the interval for each strategy, with Young/Daly's optimum marked."""
    fig = new_figure(7.5, 4.2)
    ax = fig.add_subplot()
    for i, (name, s) in enumerate(res["strategies"].items()):
        ts, ws = zip(*s["curve"])
        color = SERIES[i % len(SERIES)]
        ax.plot(ts, [100 * w for w in ws], "o-", ms=3, color=color, label=f"{name}: simulated")
        ax.axvline(s["young_daly_s"], color=color, ls="--", lw=1, label=f"{name}: Young/Daly {s['young_daly_s']:.3g} s")
        ax.plot([s["interval_s"]], [100 * s["waste_fraction"]], "*", ms=12, color=color)
    ax.set_xscale("log")
    ax.set_xlabel("checkpoint interval T (s, log)")
    ax.set_ylabel("wasted time (%)")
    ax.set_title(f"{res['devices']} devices, job MTBF {res['job_mtbf_s'] / 3600:.3g} h, {res['checkpoint_gb']:g} GB checkpoint")
    ax.legend(fontsize=9)
    return fig


def plot_timeline(interval: float, checkpoint: float, restart: float, mtbf: float, segments: int = 40,
                  seed: int = 0, ax: Any = None) -> Figure | None:
    """One simulated run: compute, checkpoints, lost work and restarts along time."""
    run = simulate(interval, checkpoint, restart, mtbf, segments, seed=seed, record=True)
    fig = None
    if ax is None:
        fig = new_figure(8, 1.8)
        ax = fig.add_subplot()
    for kind, color in KIND_COLORS.items():
        spans = [(a, b - a) for k, a, b in run.events if k == kind]
        ax.broken_barh(spans, (0, 1), color=color)
    ax.set_yticks([])
    ax.set_xlim(0, run.wall_time)
    ax.set_xlabel("time (s)")
    ax.set_title(f"{run.failures} failures, waste {100 * run.waste_fraction:.1f} %", fontsize=10)
    ax.legend(handles=[Patch(color=c, label=k) for k, c in KIND_COLORS.items()], ncol=4, fontsize=8,
              loc="upper center", bbox_to_anchor=(0.5, -0.45), frameon=False)
    return fig


def plot_placement(n: int, m: int, ax_group: Any = None, ax_ring: Any = None) -> Figure | None:
    """GEMINI's group and ring placements: which machines hold whose checkpoint, and P(recover)."""
    fig = None
    if ax_group is None:
        fig = new_figure(8, 3.2)
        ax_group, ax_ring = fig.subplots(1, 2)
    for ax, strategy in ((ax_group, "group"), (ax_ring, "ring")):
        ax.clear()
        if strategy == "group" and n % m:
            ax.text(0.5, 0.5, f"group needs m | N\n(N={n}, m={m})", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
            continue
        ax.set_axis_on()
        holders = placement(n, m, strategy)
        grid = [[1 if j in holders[i] else 0 for j in range(n)] for i in range(n)]
        ax.imshow(grid, cmap="Blues", vmin=0, vmax=1.4, aspect="equal", interpolation="nearest")
        ax.set_xlabel("machine holding a copy")
        ax.set_ylabel("machine's checkpoint")
        p = recovery_probability(n, m, m, strategy)
        ax.set_title(f"{strategy}: P(recover | {m} fail) = {p:.3f}", fontsize=10)
    return fig


def _losses(ax: Any, res: dict[str, Any], after_key: str, start: int, label: str) -> None:
    base = res["losses_uninterrupted"]
    ax.plot(range(1, len(base) + 1), base, "o-", color=SERIES[0], label="never interrupted")
    after = res[after_key]
    ax.plot(range(start + 1, start + len(after) + 1), after, "x--", ms=9, color=SERIES[1], label=label)
    ax.axvline(start + 0.5, color="grey", lw=1)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend(fontsize=9)


def plot_recovery(res: dict[str, Any]) -> Figure:
    fig = new_figure(6.4, 3.6)
    ax = fig.add_subplot()
    _losses(ax, res, "losses_after_restart", res["restart_step"], f"restarted from {res['recovered_from']}")
    ax.axvline(res["kill_at"], color=KIND_COLORS["lost"], lw=2, label="rank killed")
    ax.set_title(f"rank {res['killed']['rank']} killed at step {res['kill_at']}; equal: {res['matches_uninterrupted']}")
    return fig


def plot_reshard(res: dict[str, Any]) -> Figure:
    fig = new_figure(6.4, 3.6)
    ax = fig.add_subplot()
    _losses(ax, res, "losses_resumed", res["saved_at_step"], f"resumed as {res['to']}")
    ax.set_title(f"saved as {res['from']}, resumed as {res['to']}: max diff {res['max_abs_loss_diff']:.2g}")
    return fig


def plot_check(res: dict[str, Any]) -> Figure:
    """Which invariant broke at which step (a cell per step and invariant)."""
    fig = new_figure(6.4, 2.6)
    ax = fig.add_subplot()
    inv = res["invariants"]
    grid = [[1 if name in res["per_step"][s] else 0 for s in range(res["steps"])] for name in inv]
    ax.imshow(grid, cmap="Reds", vmin=0, vmax=1.2, aspect="auto", interpolation="nearest")
    ax.set_yticks(range(len(inv)), inv)
    ax.set_xticks(range(res["steps"]))
    ax.set_xlabel("step")
    ax.set_title(f"{res['inject']} injected at step {res['injected_at_step']}: caught at {res['detected_at_step']}")
    return fig
