"""CPU forward time (process CPU time, median) of three attention implementations at several N
(d = 64, 8 heads, fp32, one thread): the standard three passes in plain torch
(``softmax(q @ k^T * scale) @ v``: it materialises the N x N scores and probabilities), the
tiled forward with the online softmax (:func:`mlsys_kit.attention.flash.flash_forward`, Python
loops over 64 x 64 tiles), and torch's fused ``scaled_dot_product_attention``. Beside them the
HBM bytes each algorithm would move on a GPU with 100 KB of SRAM (fp16, forward only), counted
by the same loops. Prints one JSON object.

How to read it: each tile step of the Python loop is ~10 small torch calls with microseconds
of dispatch each, so at small N the tiled loop loses to three big torch calls. As N grows, the
standard version's N x N matrices (8 heads x N^2 x 4 bytes: 8 MB at N = 512, 128 MB at 2048)
fall out of the CPU caches and every pass streams them through DRAM: the same effect the
paper's IO analysis predicts for a GPU's HBM, so the tiled loop catches up (within 10-20 % on
the course machine from N = 512) despite its overhead. torch's SDPA is a fused, tiled (flash-style) C++ kernel: the tiling without the
Python overhead, fastest at every N. On a GPU, where a fused kernel runs the tiles out of
~100-200 KB of SRAM and HBM bandwidth is the limit, the byte counts (``*_bytes`` keys) are what
predict the speed-up (FlashAttention Figure 2: 5.7x on GPT-2 medium's attention).

    python benchmarks/attention_cpu.py [--quick]
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mlsys_kit.attention.flash import flash_forward  # noqa: E402
from mlsys_kit.attention.io import io_report  # noqa: E402


def median_ms(fn, repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.process_time()  # CPU time of this (one-thread) process: a busy machine inflates it less
        fn()
        times.append(time.process_time() - t0)
    return round(1000 * statistics.median(times), 2)


if __name__ == "__main__":
    torch.set_num_threads(1)
    quick = "--quick" in sys.argv
    seqs = (256, 512) if quick else (256, 512, 1024, 2048)
    rows = []
    for n in seqs:
        gen = torch.Generator().manual_seed(0)
        q, k, v = (torch.randn(1, 8, n, 64, generator=gen) for _ in range(3))
        repeat = 3 if n >= 1024 else 5
        io = io_report(n, 64, 100, backward=False, count_limit=0)
        rows.append({
            "seq": n,
            "naive_ms": median_ms(lambda: torch.softmax(q @ k.transpose(-1, -2) * 0.125, -1) @ v, repeat),
            "tiled_ms": median_ms(lambda: flash_forward(q, k, v, block_q=64, block_k=64), repeat),
            "sdpa_ms": median_ms(lambda: F.scaled_dot_product_attention(q, k, v), repeat),
            "standard_bytes_gpu_100kb": io["standard_bytes"] * 8, "flash_bytes_gpu_100kb": io["flash_bytes"] * 8,
        })
    print(json.dumps({"setting": "forward, batch 1, 8 heads, d = 64, fp32, 1 thread; bytes: fp16, M = 100 KB, 8 heads",
                      "rows": rows}, indent=2))
