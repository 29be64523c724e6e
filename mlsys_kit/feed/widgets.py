"""The lecture widgets of "keeping devices fed": ``comm_explorer`` (one data-parallel step under
FIFO, DDP buckets and ByteScheduler, SOSP'19 Figure 1 and section 4: move the bandwidth, the
partition and the credit and watch layer 0's gradient overtake) and ``cache_explorer`` (the page
cache against MinIO, CoorDL VLDB'21 section 4.1: move the dataset and the memory). Each figure is
made once at 100 dpi and its artists are moved in place, then redrawn alone over the kept axes
(:func:`mlsys_kit.viz.figure.blit_png`; the time axis holds still while it holds the timelines)."""

from __future__ import annotations

import ipywidgets as w

from mlsys_kit.feed.comm import MODELS, POLICIES, Network, iteration_time, model_layers
from mlsys_kit.feed.data import Pipeline, epoch_model
from mlsys_kit.feed.viz import TimelinePanel
from mlsys_kit.feed.viz_data import CachePanel
from mlsys_kit.viz.figure import blit_png, live_figure, live_image, steady_limit

DPI = 100
_STYLE = {"description_width": "initial"}


def comm_explorer(model: str = "vgg16", gbps: float = 100.0, workers: int = 8, partition_kb: int = 1024,
                  window: int = 4):
    """Model, bandwidth (Gbit/s), workers, latency, ByteScheduler's partition (KiB) and credit
    (in partitions); three timelines (FIFO, buckets of 25 MiB, ByteScheduler) redraw in place.
    Returns an ipywidgets box."""
    bw = w.FloatLogSlider(value=gbps, base=10, min=0, max=3, step=0.05, description="bandwidth (Gbit/s)",
                          continuous_update=False, style=_STYLE)
    nw = w.IntSlider(value=workers, min=2, max=64, description="workers", continuous_update=False, style=_STYLE)
    lat = w.FloatSlider(value=50.0, min=0.0, max=500.0, step=10.0, description="latency (us)",
                        continuous_update=False, style=_STYLE)
    part = w.SelectionSlider(options=[2 ** i for i in range(8, 17)], value=partition_kb, description="partition (KiB)",
                             continuous_update=False, style=_STYLE)
    cred = w.SelectionSlider(options=[1, 2, 4, 8, 16, 32], value=window, description="credit (partitions)",
                             continuous_update=False, style=_STYLE)
    name = w.Dropdown(options=list(MODELS), value=model, description="model")
    image, facts = live_image(), w.HTML()
    fig = live_figure(9.0, 5.2, DPI)
    axes = [fig.add_axes((0.09, 0.09 + 0.31 * (2 - i), 0.88, 0.24)) for i in range(3)]
    panels = [TimelinePanel(ax) for ax in axes]
    axes[-1].set_xlabel("time from the start of backward (ms)")
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)

    def redraw(*_):
        layers = model_layers(name.value)
        net = Network(bw.value * 1e9 / 8, lat.value * 1e-6, nw.value)
        p = part.value * 1024
        kw = {"fifo": {}, "bucket": {"bucket_bytes": 25 * 2**20}, "bytescheduler": {"partition": p, "credit": p * cred.value}}
        timelines = [iteration_time(layers, net, pol, **kw[pol]) for pol in POLICIES]
        # a time axis that holds still while it holds every timeline on at least half of it
        t_max = steady_limit(axes[0].get_xlim()[1], 1.02e3 * max(t.iteration_time for t in timelines)) / 1e3
        for panel, t in zip(panels, timelines):
            panel.update(t, t_max)
        image.value = blit_png(fig, {**{pn.ax: [pn.compute, pn.link, pn.end] for pn in panels},
                                     fig: [pn.label for pn in panels]})
        fifo = timelines[0].iteration_time
        facts.value = " &nbsp; ".join(f"{t.policy} <b>{t.iteration_time * 1e3:.2f} ms</b> ({fifo / t.iteration_time:.2f}x FIFO)"
                                      for t in timelines) + f" &nbsp; compute {timelines[0].compute_time * 1e3:.1f} ms"

    for widget in (bw, nw, lat, part, cred, name):
        widget.observe(redraw, names="value")
    redraw()
    return w.VBox([w.HBox([bw, nw, lat]), w.HBox([part, cred, name]), facts, image])


def cache_explorer(dataset_gb: float = 140.0, memory_gb: float = 91.0):
    """Dataset and memory (GB), storage bandwidth and prep cores: the steady hit rate and the
    stall fraction of LRU and MinIO against memory/dataset, the current setting marked."""
    ds = w.FloatSlider(value=dataset_gb, min=10, max=1000, step=10, description="dataset (GB)",
                       continuous_update=False, style=_STYLE)
    mem = w.FloatSlider(value=memory_gb, min=0, max=500, step=1, description="memory (GB)",
                        continuous_update=False, style=_STYLE)
    sto = w.FloatLogSlider(value=250.0, base=10, min=1, max=4, step=0.05, description="storage (MB/s)",
                           continuous_update=False, style=_STYLE)
    cores = w.IntSlider(value=24, min=1, max=128, description="prep cores", continuous_update=False, style=_STYLE)
    image, facts = live_image(), w.HTML()
    fig = live_figure(9.0, 3.6, DPI)
    panel = CachePanel(fig.add_axes((0.07, 0.14, 0.40, 0.74)), fig.add_axes((0.57, 0.14, 0.40, 0.74)))

    def redraw(*_):
        p = Pipeline(dataset_gb=ds.value, memory_gb=mem.value, storage_mb_s=sto.value, cpu_workers=cores.value)
        panel.update(p)  # fixed limits: only the curves and marks are redrawn, the legend kept on top
        image.value = blit_png(fig, {ax: [*(lines[i] for lines in panel.lines.values()),
                                          *(marks[i] for marks in panel.marks.values())]
                                     for i, ax in enumerate((panel.ax_hit, panel.ax_stall))})
        facts.value = " &nbsp; ".join(
            f"{c}: hit rate <b>{e['hit_rate']:.3f}</b>, stall <b>{100 * e['stall_fraction']:.1f}%</b>, "
            f"{e['bytes_read'] / 1e9:.1f} GB read ({e['bottleneck']}-bound)"
            for c, e in ((c, epoch_model(p, c)) for c in ("lru", "minio")))

    for widget in (ds, mem, sto, cores):
        widget.observe(redraw, names="value")
    redraw()
    return w.VBox([w.HBox([ds, mem]), w.HBox([sto, cores]), facts, image])
