"""``mlsys-kit demo``: run each topic's reference implementation headless, print a summary
table of headline figures as it goes, and write ``out/report.html`` (figures embedded as PNG)
and ``out/report.json`` (the same numbers).

Each topic contributes one section from ``mlsys_kit/<topic>/demo.py``: a function
``section(progress) -> Section``; ``progress(msg)`` prints a progress line. Every figure names
the CLI command that reproduces it alone (with ``--json`` and ``--plot FILE``).
"""

from __future__ import annotations

import base64
import html
import json
import time
from pathlib import Path
from typing import Any, Callable

from mlsys_kit.attention import demo as attention_demo
from mlsys_kit.cluster import demo as cluster_demo
from mlsys_kit.common import Section
from mlsys_kit.disagg import demo as disagg_demo
from mlsys_kit.fault import demo as fault_demo
from mlsys_kit.feed import demo as feed_demo
from mlsys_kit.kvcache import demo as kvcache_demo
from mlsys_kit.memory import demo as memory_demo
from mlsys_kit.models import demo as models_demo
from mlsys_kit.offload import demo as offload_demo
from mlsys_kit.parallel import demo as parallel_demo
from mlsys_kit.pipeline import demo as pipeline_demo
from mlsys_kit.serving import demo as serving_demo
from mlsys_kit.zero import demo as zero_demo

# The report's sections, in order: each module has ``section(progress) -> Section``.
DEMO_SECTIONS = [models_demo, pipeline_demo, kvcache_demo, serving_demo, zero_demo, attention_demo, parallel_demo, memory_demo,
                 disagg_demo, fault_demo, cluster_demo, offload_demo, feed_demo]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def run_demo(out_dir: str | Path = "out", only: list[str] | None = None) -> int:
    modules = DEMO_SECTIONS
    if only:
        known = {m.__name__.split(".")[1]: m for m in modules}
        unknown = [t for t in only if t not in known]
        if unknown:
            raise ValueError(f"unknown demo topic(s) {', '.join(unknown)}: choose from {', '.join(known)}")
        modules = [known[t] for t in only]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sections: list[Section] = []
    t_all = time.perf_counter()
    for i, module in enumerate(modules, 1):
        name = module.__name__.split(".")[1]
        print(f"[{i}/{len(modules)}] {name} ...", flush=True)
        t0 = time.perf_counter()
        progress: Callable[[str], None] = lambda msg, name=name: print(f"    {name}: {msg}", flush=True)
        sec = module.section(progress)
        sections.append(sec)
        print(f"[{i}/{len(modules)}] {name} done in {time.perf_counter() - t0:.1f} s", flush=True)
    width = max((len(k) for s in sections for k, _ in s.rows), default=10)
    print("\nSummary")
    for sec in sections:
        print(f"  {sec.title}")
        for key, value in sec.rows:
            print(f"    {key:<{width}}  {_fmt(value)}")
    (out / "report.json").write_text(json.dumps(
        {s.topic: {"title": s.title, "rows": {k: v for k, v in s.rows}, "data": s.data} for s in sections},
        indent=2, default=str))
    (out / "report.html").write_text(render_html(sections))
    print(f"\nwrote {out / 'report.html'} and {out / 'report.json'} in {time.perf_counter() - t_all:.1f} s")
    return 0


def render_html(sections: list[Section]) -> str:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>mlsys-kit report</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 10px;text-align:left}"
        "figure{margin:1.5em 0}figcaption{color:#444}code{background:#f4f4f4;padding:1px 4px}"
        # every figure fits the page: a wide one (the planner's three panels) is scaled down, never cut
        "img{max-width:100%;height:auto;display:block}</style>",
        "</head><body><h1>mlsys-kit report</h1>",
        "<p>Every number below comes from the reference implementations run on this machine; "
        "every figure names the command that draws it alone.</p><ul>",
    ]
    parts += [f"<li><a href='#{s.topic}'>{html.escape(s.title)}</a></li>" for s in sections]
    parts.append("</ul>")
    for s in sections:
        parts.append(f"<h2 id='{s.topic}'>{html.escape(s.title)}</h2><p>{html.escape(s.summary)}</p>")
        parts.append("<table><tr><th>figure</th><th>value</th></tr>")
        parts += [f"<tr><td>{html.escape(k)}</td><td>{html.escape(_fmt(v))}</td></tr>" for k, v in s.rows]
        parts.append("</table>")
        for f in s.figures:
            b64 = base64.b64encode(f.png).decode()
            parts.append(
                f"<figure><img alt='{html.escape(f.caption)}' src='data:image/png;base64,{b64}'>"
                f"<figcaption>{html.escape(f.caption)}<br>alone: <code>{html.escape(f.command)}</code>"
                "</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)
