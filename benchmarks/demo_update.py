"""Python-side time of one lecture-demo update (a control moves: recompute and redraw), for every
demo in notebooks/, at its default sizes. Prints one JSON object: per demo, the JSON of its own
benchmark script (milliseconds), and `slowest_update_ms` against the 200 ms goal.

    .venv/bin/python benchmarks/demo_update.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from kvcache_demo_update import time_updates  # noqa: E402  (median ms of n updates)

SCRIPTS = {  # demo notebook: the benchmark that times its widget
    "pipeline.ipynb": "pipeline_demo_update.py",
    "kv_cache.ipynb": "kvcache_demo_update.py",
    "serving.ipynb": "serving_widget.py",
    "zero.ipynb": "zero_demo_update.py",
    "fault.ipynb": "fault_demo_update.py",
}


def costs_demo() -> dict:
    from mlsys_kit.models.viz import costs_explorer

    box = costs_explorer()
    tokens = box.children[1].children[0]
    return {"costs_update_ms": time_updates(lambda i: setattr(tokens, "value", 1024 + 128 * (i % 8 + 1)))}


def wall_ms(result: dict) -> list[float]:
    """The wall-clock update times a script reported (keys ending in _ms, not CPU times)."""
    return [v for k, v in result.items() if k.endswith("_ms") and "cpu" not in k and isinstance(v, (int, float))]


def main() -> dict:
    out: dict = {"costs.ipynb": costs_demo()}
    for nb, script in SCRIPTS.items():
        res = subprocess.run([sys.executable, str(HERE / script)], capture_output=True, text=True, check=True)
        out[nb] = json.loads(res.stdout)
    missing = sorted(p.name for p in (HERE.parent / "notebooks").glob("*.ipynb") if p.name not in out)
    out["demos_without_a_benchmark"] = missing
    out["slowest_update_ms"] = max(max(wall_ms(v), default=0) for k, v in out.items() if k.endswith(".ipynb"))
    out["load_average_1min"] = round(os.getloadavg()[0], 2)
    return out


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
