"""Python-side time of one update of the KV-cache lecture widget (a slider moves: replay the
timeline on the real BlockManager, redraw, encode PNG). Prints one JSON object: per slider, the
median and the worst single update in ms, wall and CPU time (widget_timing.py).

    python benchmarks/kvcache_demo_update.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from widget_timing import median_ms  # noqa: E402  (benchmarks/ is on the path when run as a script)


def main() -> None:
    from mlsys_kit.kvcache.viz import kv_cache_explorer

    box = kv_cache_explorer()
    _, step, block = box.children[0].children
    sizes = [1, 2, 4, 8, 16, 32]
    for b in sizes:  # fill the per-block-size workload cache once, as a lecturer's first sweep does
        block.value = b
    print(json.dumps({"benchmark": "kvcache_demo_update",
                      "event_slider_ms": median_ms(step, [1 + i % 16 for i in range(10)]),
                      "block_size_slider_ms": median_ms(block, [sizes[i % len(sizes)] for i in range(1, 11)])},
                     indent=2))


if __name__ == "__main__":
    main()
