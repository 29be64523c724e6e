"""The fault-tolerance lecture widgets: waste against the checkpoint interval and the MTBF
(Young 1974, Daly 2006, the failure simulator; remote storage vs GEMINI's in-memory copies,
SOSP'23 section 3), a simulated run's timeline of compute, checkpoints, lost work and restarts,
and GEMINI's replica placement (section 4: group vs ring, the probability that k failed machines
can still recover from CPU memory). Each figure is drawn once (:func:`live_figure`); a control
moves its artists in place and only the panels that changed are redrawn (:func:`canvas_png`), or
only the curves over the kept axes (:func:`blit_png`, the waste widget, whose limits hold still)."""

from __future__ import annotations

import ipywidgets as w
import numpy as np
from matplotlib.collections import PolyCollection
from matplotlib.patches import Patch
from matplotlib.ticker import LogLocator, MaxNLocator, NullLocator

from mlsys_kit.checks import one_of, positive_int, positive_number
from mlsys_kit.fault.failsim import simulate
from mlsys_kit.fault.failsim_fast import simulate_fast
from mlsys_kit.fault.gemini import placement, recovery_probability
from mlsys_kit.fault.plan import STRATEGIES, strategy_costs
from mlsys_kit.fault.viz import KIND_COLORS, SERIES
from mlsys_kit.fault.waste import daly_interval, job_mtbf
from mlsys_kit.viz.figure import blit_png, canvas_png, live_figure, live_image, steady_decades, steady_limit

STYLE = {"description_width": "initial"}
DPI = 100
SIM_POINTS = 9  # simulated intervals per update (x0.25 to x4 Daly's), common random numbers
SIM_WORK = 400  # simulated compute per point, in job MTBFs
MAX_FAILURES = 20_000  # a point (or timeline) expecting more failures is not simulated: it would hardly finish


def _expected_failures(t: float, c: float, r: float, m: float, segments: int) -> float:
    """About how many failures a run of ``segments`` intervals meets (Daly eq. 12's wall time / M)."""
    with np.errstate(over="ignore"):
        return segments * float(np.exp(r / m) * np.expm1((t + c) / m))


def _few_ticks(ax, log_x: bool = False) -> None:
    """Few, cheap tick labels: drawing them is most of an update's time."""
    if log_x:
        ax.xaxis.set_major_locator(LogLocator(numticks=5))
        ax.xaxis.set_minor_locator(NullLocator())
    else:
        ax.xaxis.set_major_locator(MaxNLocator(6, integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(5))


def _first_order(t: np.ndarray, c: float, r: float, m: float) -> np.ndarray:
    return c / t + (t / 2 + r) / m  # Young's waste (waste.waste_fraction), vectorised


def _exact(t: np.ndarray, c: float, r: float, m: float) -> np.ndarray:
    return 1 - t / (m * np.exp(r / m) * np.expm1((t + c) / m))  # Daly eq. 12 (waste.exact_waste_fraction)


def waste_explorer(devices: int = 1024, mtbf_hours: float = 10_000.0, checkpoint_gb: float = 1000.0,
                   strategy: str = "remote"):
    """Waste against the interval (left: Young's first order, Daly's exact, simulated points,
    Daly's optimum) and the waste at Daly's optimum against the per-device MTBF (right), for the
    chosen checkpoint strategy (plan.strategy_costs: 20 Gbit/s storage, 400 Gbit/s network,
    60 s restart, 2 replicas). Returns an ipywidgets box."""
    positive_int("devices", devices)
    positive_number("MTBF (hours)", mtbf_hours)
    positive_number("checkpoint (GB)", checkpoint_gb)
    one_of("strategy", strategy, STRATEGIES)
    dev = w.IntSlider(value=devices, min=2, max=16384, step=2, description="devices", continuous_update=False, style=STYLE)
    mtbf = w.FloatLogSlider(value=mtbf_hours, base=10, min=2, max=5, step=0.05, description="MTBF per device (h)",
                            continuous_update=False, style=STYLE)
    gb = w.FloatLogSlider(value=checkpoint_gb, base=10, min=0, max=4, step=0.05, description="checkpoint (GB)",
                          continuous_update=False, style=STYLE)
    strat = w.Dropdown(options=list(STRATEGIES), value=strategy, description="strategy", style=STYLE)
    image, facts = live_image(), w.HTML()

    fig = live_figure(10.0, 3.6, DPI)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.15, top=0.84, wspace=0.25)
    ax, ax2 = fig.subplots(1, 2)
    young, = ax.plot([], [], color=SERIES[0], lw=1.5, label="Young (first order)")
    exact, = ax.plot([], [], color=SERIES[1], lw=1.5, label="Daly exact (eq. 12)")
    sims, = ax.plot([], [], "o", ms=4, color=SERIES[2], label="simulated")
    opt = ax.axvline(1.0, color="black", ls="--", lw=1, label="Daly's optimum")
    ax.set_xscale("log")
    ax.set_xlabel("checkpoint interval T (s, log)")
    ax.set_ylabel("wasted time (%)")
    curve2, = ax2.plot([], [], color=SERIES[1], lw=1.5, label="exact, at Daly's T")
    curve2y, = ax2.plot([], [], color=SERIES[0], lw=1, ls=":", label="Young, at Daly's T")
    here, = ax2.plot([], [], "*", ms=12, color="black")
    ax2.set_xscale("log")
    ax2.set_xlabel("MTBF per device (h, log)")
    ax2.set_ylabel("wasted time at the optimum (%)")
    for a in (ax, ax2):  # legends above the axes, the figure's: the curves are redrawn over the kept
        box = a.get_position()  # axes (blit_png), never under a legend, and a new view redraws no legend
        fig.legend(*a.get_legend_handles_labels(), fontsize=8, loc="lower center", ncols=2, frameon=False,
                   bbox_to_anchor=(box.x0 + box.width / 2, box.y1))
        _few_ticks(a, log_x=True)
    mtbfs = np.logspace(2, 5, 60)
    ax.set_ylim(0, 1)
    ax2.set_xlim(mtbfs[0], mtbfs[-1])
    ax2.set_ylim(0, 1)
    layers = {ax: [young, exact, sims, opt], ax2: [curve2, curve2y, here]}

    def redraw(*_):
        n, h = dev.value, mtbf.value
        c, r = strategy_costs(strat.value, n, gb.value * 1e9, 20.0, 400.0, 60.0, 2)
        m = job_mtbf(h * 3600, n)
        t_opt = daly_interval(c, m)
        ts = t_opt * np.logspace(-1, 1, 80)
        y_young, y_exact = 100 * np.minimum(_first_order(ts, c, r, m), 1.0), 100 * _exact(ts, c, r, m)
        young.set_data(ts, y_young)
        exact.set_data(ts, y_exact)
        pts = t_opt * 2.0 ** np.linspace(-2, 2, SIM_POINTS)
        segs = [max(1, round(SIM_WORK * m / t)) for t in pts]
        ok = [(t, k) for t, k in zip(pts, segs) if _expected_failures(t, c, r, m, k) <= MAX_FAILURES]
        sim_w = [simulate_fast(t, c, r, m, k).waste_fraction for t, k in ok]
        sims.set_data([t for t, _ in ok], 100 * np.asarray(sim_w))
        opt.set_xdata([t_opt, t_opt])
        ms = mtbfs * 3600 / n
        t_all = np.array([daly_interval(c, mm) for mm in ms])
        y2, y2y = 100 * _exact(t_all, c, r, ms), 100 * np.minimum(_first_order(t_all, c, r, ms), 1.0)
        curve2.set_data(mtbfs, y2)
        curve2y.set_data(mtbfs, y2y)
        w_here = float(_exact(np.array(t_opt), c, r, m))
        here.set_data([h], [100 * w_here])
        # limits that hold still while they hold the data (steady_decades, steady_limit): a move then
        # redraws the curves only, over the kept axes, ticks and legends
        ax.set_xlim(*steady_decades(ax.get_xlim(), ts[0], ts[-1]))
        top = max(np.max(y_young), np.max(y_exact), 100 * max(sim_w, default=0.0))
        top2 = max(np.max(y2), np.max(y2y), 100 * w_here)
        for a, t in ((ax, top), (ax2, top2)):  # a waste is at most 100 %: the axis stops at 105 %
            a.set_ylim(0, min(steady_limit(a.get_ylim()[1], 1.05 * t), 105.0))
        image.value = blit_png(fig, layers)
        facts.value = (f"{n} devices, {strat.value}: C = {c:.3g} s, R = {r:.3g} s, job MTBF {m / 3600:.3g} h. "
                       f"Daly's interval <b>{t_opt:.4g} s</b> (Young's sqrt(2CM) {np.sqrt(2 * c * m):.4g} s); "
                       f"waste there <b>{100 * w_here:.2f} %</b> (exact), simulated best of {len(ok)} points "
                       + (f"<b>{100 * min(sim_w):.2f} %</b>" if sim_w else
                          "(none: a run would meet too many failures to finish; checkpoint costs more than the MTBF)"))

    for widget in (dev, mtbf, gb, strat):
        widget.observe(redraw, names="value")
    redraw()
    return w.VBox([w.HBox([dev, mtbf]), w.HBox([gb, strat]), image, facts])


def _spans(events, kind: str) -> list[list[tuple[float, float]]]:
    return [[(a, 0.0), (b, 0.0), (b, 1.0), (a, 1.0)] for k, a, b in events if k == kind]


def timeline_explorer(mtbf_hours: float = 4.0, interval_min: float = 30.0, checkpoint_min: float = 3.0,
                      restart_min: float = 10.0, segments: int = 24):
    """One simulated run (failsim's record, seeded): compute, checkpoints, lost work and
    restarts along time, with the waste Daly's model expects. Returns an ipywidgets box."""
    positive_int("segments", segments)
    mtbf = w.FloatSlider(value=mtbf_hours, min=0.5, max=24, step=0.5, description="job MTBF (h)",
                         continuous_update=False, style=STYLE)
    interval = w.FloatSlider(value=interval_min, min=5, max=240, step=5, description="interval (min)",
                             continuous_update=False, style=STYLE)
    ckpt = w.FloatSlider(value=checkpoint_min, min=0.0, max=30, step=0.5, description="checkpoint (min)",
                         continuous_update=False, style=STYLE)
    restart = w.FloatSlider(value=restart_min, min=0.0, max=60, step=1, description="restart (min)",
                            continuous_update=False, style=STYLE)
    seed = w.IntSlider(value=0, min=0, max=50, description="seed", continuous_update=False, style=STYLE)
    image, facts = live_image(), w.HTML()

    fig = live_figure(10.0, 2.2, DPI)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.42, top=0.82)
    ax = fig.add_subplot()
    bars = {k: ax.add_collection(PolyCollection([], facecolors=c, edgecolors="none")) for k, c in KIND_COLORS.items()}
    ax.set_yticks([])
    ax.set_ylim(0, 1)
    ax.set_xlabel("time (h)")
    ax.legend(handles=[Patch(color=c, label=k) for k, c in KIND_COLORS.items()], ncol=4, fontsize=8,
              loc="upper center", bbox_to_anchor=(0.5, -0.55), frameon=False)
    title = ax.set_title("", fontsize=10)

    def redraw(*_):
        m, t, c, r = mtbf.value * 3600, interval.value * 60, ckpt.value * 60, restart.value * 60
        if _expected_failures(t, c, r, m, segments) > MAX_FAILURES / 10:
            for coll in bars.values():
                coll.set_verts([])
            title.set_text("not simulated: interval + checkpoint far longer than the MTBF, the run would hardly finish")
            image.value = canvas_png(fig)
            facts.value = (f"expected failures for {segments} intervals: "
                           f"{_expected_failures(t, c, r, m, segments):.3g}; shorten the interval or lengthen the MTBF")
            return
        run = simulate(t, c, r, m, segments, seed=seed.value, record=True)
        hours = [(k, a / 3600, b / 3600) for k, a, b in run.events]
        for kind, coll in bars.items():
            coll.set_verts(_spans(hours, kind))
        ax.set_xlim(0, run.wall_time / 3600)
        expect = float(_exact(np.array(t), c, r, m))
        title.set_text(f"{run.failures} failures, {run.checkpoints} checkpoints: waste {100 * run.waste_fraction:.1f} % "
                       f"(Daly's model expects {100 * expect:.1f} %)")
        image.value = canvas_png(fig)
        facts.value = (f"wall {run.wall_time / 3600:.3g} h for {segments * t / 3600:.3g} h of work: lost "
                       f"{run.lost / 3600:.3g} h, restarting {run.restarting / 3600:.3g} h, checkpointing "
                       f"{run.checkpointing / 3600:.3g} h. Daly's interval for these costs: "
                       f"<b>{daly_interval(c, m) / 60:.3g} min</b>" if c > 0 else
                       f"wall {run.wall_time / 3600:.3g} h; a free checkpoint: checkpoint as often as you can")

    for widget in (mtbf, interval, ckpt, restart, seed):
        widget.observe(redraw, names="value")
    redraw()
    return w.VBox([w.HBox([mtbf, interval, ckpt]), w.HBox([restart, seed]), image, facts])


def placement_explorer(n: int = 8, m: int = 2):
    """GEMINI's placements side by side (group, or mixed when m does not divide N; ring): which
    machines hold whose checkpoint, and P(recover from CPU memory | k machines fail) for every k.
    Returns an ipywidgets box."""
    positive_int("machines N", n)
    positive_int("replicas m", m)
    if not 2 <= m <= n <= 32:
        raise ValueError(f"the placement widget takes 2 <= m <= N <= 32: got N={n}, m={m}")
    ns = w.IntSlider(value=n, min=2, max=32, description="N (machines)", continuous_update=False, style=STYLE)
    mr = w.IntSlider(value=m, min=2, max=n, description="m (replicas)", continuous_update=False, style=STYLE)
    image, facts = live_image(), w.HTML()

    fig = live_figure(10.0, 3.4, DPI)
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.15, top=0.88, wspace=0.35)
    ax_g, ax_r, ax_p = fig.subplots(1, 3, width_ratios=[1, 1, 1.4])
    ax_r.sharey(ax_g)  # the same rows (each machine's checkpoint): one column of row numbers, half the tick text
    ax_r.tick_params(labelleft=False)
    imgs = []
    for a in (ax_g, ax_r):
        imgs.append(a.imshow(np.zeros((2, 2)), cmap="Blues", vmin=0, vmax=1.4, interpolation="nearest"))
        a.set_xlabel("machine holding a copy", fontsize=8)
        for axis in (a.xaxis, a.yaxis):  # whole machine numbers, few of them: tick text is most of a redraw
            axis.set_major_locator(MaxNLocator(5, integer=True))
    ax_g.set_ylabel("machine's checkpoint", fontsize=8)
    titles = [ax_g.set_title("", fontsize=9), ax_r.set_title("ring", fontsize=9)]
    lines = [ax_p.plot([], [], "o-", ms=3, color=SERIES[i], label=s)[0] for i, s in enumerate(("group", "ring"))]
    ax_p.set_xlabel("failed machines k")
    ax_p.set_ylabel("P(recover from memory)")
    ax_p.set_ylim(-0.03, 1.03)
    ax_p.xaxis.set_major_locator(MaxNLocator(6, integer=True))
    ax_p.yaxis.set_major_locator(MaxNLocator(5))
    # above the axes: the lines are redrawn over the kept axes (blit_png), never under the legend
    leg = ax_p.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2, frameon=False)

    layers = {ax_g: [imgs[0]], ax_r: [imgs[1]], ax_p: lines}

    def redraw(*_):
        nn = ns.value
        if mr.max != nn:
            mr.max = nn  # moving max may move the value: its observer redraws
            if mr.value > nn:
                return
        mm = mr.value
        first = "group" if nn % mm == 0 else "mixed"
        for img, a, strategy in ((imgs[0], ax_g, first), (imgs[1], ax_r, "ring")):
            holders = placement(nn, mm, strategy)
            grid = np.zeros((nn, nn))
            for i, hs in enumerate(holders):
                grid[i, hs] = 1
            img.set_data(grid)
            img.set_extent((-0.5, nn - 0.5, nn - 0.5, -0.5))
            a.set_xlim(-0.5, nn - 0.5)
            a.set_ylim(nn - 0.5, -0.5)
        titles[0].set_text(first if first == "group" else "mixed (m does not divide N)")
        ks = np.arange(0, nn + 1)
        probs = {s: [recovery_probability(nn, mm, int(k), s) for k in ks] for s in (first, "ring")}
        lines[0].set_data(ks, probs[first])
        lines[1].set_data(ks, probs["ring"])
        leg.get_texts()[0].set_text(first)
        lines[0].set_label(first)
        # k runs to N on an axis that holds still while N moves within half of it (steady_limit)
        ax_p.set_xlim(-0.3, steady_limit(ax_p.get_xlim()[1] - 0.3, nn) + 0.3)
        # m alone moves the grids and lines over the kept axes; the group/mixed name redraws its
        # axes and the legend; N moves every axes' limits (a whole redraw)
        image.value = blit_png(fig, layers, keys={ax_g: first, ax_p: first})
        facts.value = (f"{mm} failed machines: P(recover) {first} <b>{probs[first][mm]:.3f}</b>, ring "
                       f"<b>{probs['ring'][mm]:.3f}</b>; fewer than m = {mm} failures always recover "
                       f"(each checkpoint has {mm} holders)")

    for widget in (ns, mr):
        widget.observe(redraw, names="value")
    redraw()
    box = w.VBox([w.HBox([ns, mr]), image, facts])
    box.figure = fig  # for tests and benchmarks
    return box
