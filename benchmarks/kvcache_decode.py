"""Paged-attention decode step vs contiguous-KV decode step of the tiny GPT (CPU).

Same model, batch 32, context 256 and 1024: median wall time of one decode step of the whole
model (all layers), and the ratio paged / contiguous (goal from the issue: <= 1.3), both with
every row at the same length; plus the paged step on a ragged batch (contexts in
[context/2, context]). Usage: python benchmarks/kvcache_decode.py [repeats]
Prints one JSON object.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

import torch

from mlsys_kit.common import ceil_div
from mlsys_kit.kvcache.contiguous import ContiguousKVCache
from mlsys_kit.kvcache.runner import PagedModelRunner
from mlsys_kit.models.gpt import GPT


def median_times(fns: dict, repeats: int) -> dict:
    """Median seconds of each function, calls interleaved so that load from other processes
    on a shared machine hits every variant alike."""
    for fn in fns.values():
        fn()  # warm-up
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def measure(model: GPT, batch: int, context: int, block_size: int, repeats: int) -> dict:
    g = torch.Generator().manual_seed(0)
    prompts = torch.randint(0, model.config.vocab_size, (batch, context), generator=g)
    steps = repeats + 1
    contiguous = ContiguousKVCache(model, batch, context + steps)
    contiguous.step(prompts)
    next_tok = torch.zeros(batch, 1, dtype=torch.long)
    blocks = batch * ceil_div(context + steps, block_size)
    paged = PagedModelRunner(model, blocks, block_size)
    paged.step([(i, prompts[i].tolist()) for i in range(batch)])
    # ragged batch (what paging is for): contexts spread over [context/2, context]; the
    # contiguous cache cannot batch these without padding every row to the longest
    lens = torch.randint(context // 2, context + 1, (batch,), generator=g).tolist()
    ragged = PagedModelRunner(model, blocks, block_size)
    ragged.step([(i, prompts[i, :n].tolist()) for i, n in enumerate(lens)])
    decode = [(i, [0]) for i in range(batch)]
    t = median_times({"contiguous": lambda: contiguous.step(next_tok), "paged": lambda: paged.step(decode),
                      "ragged": lambda: ragged.step(decode)}, repeats)
    return {"batch": batch, "context": context, "block_size": block_size,
            "contiguous_ms": 1e3 * t["contiguous"], "paged_ms": 1e3 * t["paged"],
            "ratio": t["paged"] / t["contiguous"],
            "paged_ragged_ms": 1e3 * t["ragged"], "ragged_mean_context": sum(lens) / batch}


def main() -> None:
    # one thread by default: reproducible on a shared machine (TORCH_THREADS=n to change)
    torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "1")))
    model = GPT("tiny")
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    results = []
    for ctx in (256, 1024):  # three rounds; the median of each figure (robust to other jobs' load)
        rounds = [measure(model, 32, ctx, 16, repeats) for _ in range(3)]
        results.append({k: statistics.median(r[k] for r in rounds) for k in rounds[0]})
    print(json.dumps({"benchmark": "kvcache_decode", "model": "tiny", "device": "cpu",
                      "torch_threads": torch.get_num_threads(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
