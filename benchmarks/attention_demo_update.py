"""Python-side time of one update of the FlashAttention lecture widgets (a control moves:
recompute, redraw, encode the PNG). Prints one JSON object (milliseconds, median of 10 moves;
the goal is under 200 ms): wall time, and the CPU time of this process, which a busy shared
machine inflates much less.

    python benchmarks/attention_demo_update.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from widget_timing import median_ms  # noqa: E402  (benchmarks/ is on the path when run as a script)


if __name__ == "__main__":
    from mlsys_kit.attention.viz import io_explorer, tile_walk_explorer

    walk = tile_walk_explorer()
    step, bq, bk, causal = walk.children[0].children
    io = io_explorer()
    n, d, m = io.children[0].children
    print(json.dumps({
        "walk_update_ms_step": median_ms(step, [3, 9, 17, 25, 31, 5, 12, 20, 28, 1]),
        "walk_update_ms_block": median_ms(bk, [4, 8, 16, 32, 8, 4, 16, 32, 4, 8]),
        "io_update_ms_seq": median_ms(n, [256, 4096, 512, 16384, 1024, 2048, 8192, 128, 1024, 4096]),
        "io_update_ms_sram": median_ms(m, [16, 64, 192, 512, 8, 100, 256, 32, 128, 48]),
        "io_update_ms_head_dim": median_ms(d, [16, 32, 128, 256, 64, 16, 32, 128, 256, 64]),
    }, indent=2))
