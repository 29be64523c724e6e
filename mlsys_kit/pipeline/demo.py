"""Demo report section: Gantt chart of every schedule at p=4, m=8, and the bubble table."""

from __future__ import annotations

from typing import Callable

from mlsys_kit.common import Figure, Section
from mlsys_kit.pipeline.generators import SCHEDULES, make_schedule
from mlsys_kit.pipeline.simulate import simulate
from mlsys_kit.pipeline.viz import bubble_table_figure, gantt_figure
from mlsys_kit.viz.figure import figure_png

P, M, V = 4, 8, 2


def section(progress: Callable[[str], None]) -> Section:
    rows, figures, data, table = [], [], {}, []
    for name in SCHEDULES:
        progress(f"simulating {name} at p={P}, m={M}")
        res = simulate(make_schedule(name, P, M, V), costs_per_rank=True)
        d = res.to_dict()
        data[name] = d
        rows.append((f"{name}: bubble fraction (idle/busy)", res.bubble_fraction))
        rows.append((f"{name}: peak activations (microbatches)", max(res.peak_activations)))
        rows.append((f"{name}: makespan (t_F = 1 per rank)", res.makespan))
        table.append((name, res.bubble_fraction, res.bubble_rate, max(res.peak_activations)))
        fig = gantt_figure(res.events, P, f"{name}, p={P}, m={M}: bubble fraction {res.bubble_fraction:.3f}", res.memory)
        figures.append(Figure(f"{name}: Gantt timeline (rank x time) and activation memory", figure_png(fig),
                              f"mlsys-kit pipeline simulate --schedule {name} --stages {P} --microbatches {M} "
                              f"--chunks {V} --plot {name}.png"))
    figures.insert(0, Figure(f"Bubble fraction per schedule at p={P}, m={M} (unit costs; labels give peak activations)",
                             figure_png(bubble_table_figure(table)),
                             f"mlsys-kit pipeline simulate --schedule SCHEDULE --stages {P} --microbatches {M} --json"))
    return Section(
        topic="pipeline",
        title="Pipeline parallelism: GPipe, 1F1B, interleaved 1F1B, ZB-H1, ZB-V",
        summary=(f"Event simulation of each schedule at p={P} ranks, m={M} microbatches (v={V} chunks for "
                 "interleaved), t_F = t_B = t_W = 1. GPipe and 1F1B idle (p-1)/m of the busy time, interleaved "
                 "(p-1)/(v m); ZB-H1 splits the backward into B and W to cut the idle time to (p-1)(t_F+t_B-t_W) "
                 "per rank; ZB-V also places the stages in a V."),
        rows=rows, figures=figures, data={"p": P, "m": M, "v": V, "schedules": data},
    )
