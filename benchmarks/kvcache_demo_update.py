"""Python-side time of one update of the KV-cache lecture widget (a slider moves: replay the
timeline on the real BlockManager, redraw, encode PNG). Prints one JSON object (ms, median of 10).
Goal from the issue: under 200 ms."""

from __future__ import annotations

import json
import statistics
import time


def time_updates(move, n: int = 10) -> float:
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        move(i)
        times.append(time.perf_counter() - t0)
    return round(1000 * statistics.median(times), 1)


def main() -> None:
    from mlsys_kit.kvcache.viz import kv_cache_explorer

    box = kv_cache_explorer()
    _, step, block = box.children[0].children
    sizes = [1, 2, 4, 8, 16, 32]
    for b in sizes:  # fill the per-block-size workload cache once, as a lecturer's first sweep does
        block.value = b
    step_ms = time_updates(lambda i: setattr(step, "value", 1 + i % 16))
    block_ms = time_updates(lambda i: setattr(block, "value", sizes[i % len(sizes)]))
    print(json.dumps({"benchmark": "kvcache_demo_update", "event_slider_ms": step_ms, "block_size_slider_ms": block_ms},
                     indent=2))


if __name__ == "__main__":
    main()
