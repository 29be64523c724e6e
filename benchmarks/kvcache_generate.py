"""Greedy generation tokens/s of the tiny GPT with the paged cache vs full recomputation (CPU).
Prints one JSON object. Usage: python benchmarks/kvcache_generate.py"""

from __future__ import annotations

import json
import os
import time

import torch

from mlsys_kit.kvcache.config import KVCACHE
from mlsys_kit.kvcache.runner import generate_paged
from mlsys_kit.models.gpt import GPT


def main() -> None:
    # one thread by default: reproducible on a shared machine (TORCH_THREADS=n to change)
    torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "1")))
    model = GPT(KVCACHE.preset, seed=KVCACHE.seed)
    g = torch.Generator().manual_seed(0)
    results = []
    for prompts, prompt_len, new in [(1, 32, 64), (8, 32, 64), (32, 128, 64)]:
        batch = torch.randint(0, model.config.vocab_size, (prompts, prompt_len), generator=g).tolist()
        generate_paged(model, batch, 2, block_size=KVCACHE.generate_block_size)  # warm-up
        outs, stats = generate_paged(model, batch, new, block_size=KVCACHE.generate_block_size)
        row = {"prompts": prompts, "prompt_len": prompt_len, "max_new_tokens": new,
               "paged_tokens_per_s": stats["tokens_per_s"]}
        if prompts <= 8:
            t0 = time.perf_counter()
            ref = [model.generate_reference(p, new) for p in batch]
            row["reference_tokens_per_s"] = prompts * new / (time.perf_counter() - t0)
            row["matches_reference"] = ref == outs
        results.append(row)
    print(json.dumps({"benchmark": "kvcache_generate", "model": "tiny", "parameters": model.num_parameters(),
                      "torch_threads": torch.get_num_threads(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
