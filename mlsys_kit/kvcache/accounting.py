"""KV-cache memory accounting: static reservation vs paging, fragmentation, sharing savings.

PagedAttention (Kwon et al., SOSP'23), section 3 "Memory challenges in LLM serving" and
Figure 2: systems that store each request's KV cache contiguously must reserve the maximum
length up front (FasterTransformer, Orca "Max"), so most of the reserved memory never holds a
token: the paper measured only 20.4 % - 38.2 % of KV memory holding real token states.
With paging (section 4.2) a request holds ceil(len / B) blocks, so it wastes fewer than B
slots (internal fragmentation of its last block) and nothing else. Section 4.4: forked
samples and a shared prompt prefix share blocks instead of copying them.

Workload: prompt and output lengths drawn from log-normal distributions with the means of the
ShareGPT trace the paper uses (section 6.1: 161 input and 338 output tokens on average),
clipped to ``max_len``. Utilisation is averaged over every request's lifetime (each decode
step weighs the same), as memory is observed while a serving system runs.
"""

from __future__ import annotations

import math
import random

import numpy as np

from mlsys_kit.checks import nonneg_int, positive_int
from mlsys_kit.common import ceil_div
from mlsys_kit.kvcache.allocator import BlockAllocator
from mlsys_kit.kvcache.block_table import BlockManager
from mlsys_kit.kvcache.config import KVCacheConfig as C

SHAREGPT_MEAN_PROMPT = 161
SHAREGPT_MEAN_OUTPUT = 338


def sample_workload(requests: int, max_len: int = C.max_len, seed: int = C.seed) -> list[tuple[int, int]]:
    """(prompt_len, output_len) per request, ShareGPT-like means, prompt + output <= max_len."""
    positive_int("requests", requests)
    positive_int("max_len", max_len)
    if max_len < 2:
        raise ValueError(f"max_len must be at least 2 (one prompt and one output token): got {max_len}")
    rng = random.Random(seed)
    sigma = 1.0
    out = []
    for _ in range(requests):  # log-normal with the given mean: mu = ln(mean) - sigma^2 / 2
        p = max(1, round(rng.lognormvariate(math.log(SHAREGPT_MEAN_PROMPT) - sigma**2 / 2, sigma)))
        o = max(1, round(rng.lognormvariate(math.log(SHAREGPT_MEAN_OUTPUT) - sigma**2 / 2, sigma)))
        p = min(p, max_len - 1)
        out.append((p, min(o, max_len - p)))
    return out


def _lifetime_lengths(workload: list[tuple[int, int]]) -> np.ndarray:
    """Sequence length at every decode step of every request (prompt, prompt+1, ..., prompt+output)."""
    return np.concatenate([np.arange(p, p + o + 1) for p, o in workload])


def waste_report(block_size: int, requests: int, max_len: int = C.max_len, seed: int = C.seed,
                 workload: list[tuple[int, int]] | None = None) -> dict:
    """Fractions of allocated KV memory that hold real tokens, static reservation vs paging."""
    positive_int("block_size", block_size)
    if workload is None:
        workload = sample_workload(requests, max_len, seed)
    lengths = _lifetime_lengths(workload)
    real = float(lengths.sum())
    paged_slots = float((np.ceil(lengths / block_size) * block_size).sum())
    static_slots = float(len(lengths) * max_len)
    steps = len(lengths)
    return {
        "block_size": block_size, "requests": len(workload), "max_len": max_len, "seed": seed,
        "mean_prompt_len": sum(p for p, _ in workload) / len(workload),
        "mean_output_len": sum(o for _, o in workload) / len(workload),
        "static_utilization": real / static_slots,
        "paged_utilization": real / paged_slots,
        "static_reserved_unused_fraction": 1 - real / static_slots,
        "paged_internal_fragmentation": 1 - real / paged_slots,
        # unused slots per live sequence, averaged over time: paging wastes < one block
        "static_waste_slots_per_seq": (static_slots - real) / steps,
        "paged_waste_slots_per_seq": (paged_slots - real) / steps,
    }


def sweep_block_sizes(block_sizes: list[int], requests: int, max_len: int = C.max_len, seed: int = C.seed) -> list[dict]:
    """waste_report for each block size on the same workload (fragmentation vs table size)."""
    workload = sample_workload(requests, max_len, seed)
    out = []
    for b in block_sizes:
        r = waste_report(b, requests, max_len, seed, workload=workload)
        r["mean_table_entries"] = float(np.ceil(_lifetime_lengths(workload) / b).mean())
        out.append(r)
    return out


def sharing_report(block_size: int, requests: int, samples: int = C.samples, shared_prefix: int = C.shared_prefix,
                   max_len: int = C.max_len, seed: int = C.seed) -> dict:
    """Blocks held when every request is complete, run on the real BlockManager.

    Parallel sampling: each request's prompt is forked into ``samples`` sequences that
    decode different tokens (copy-on-write on the shared last block). Prefix cache: every
    prompt starts with the same ``shared_prefix`` tokens (a system prompt).
    """
    positive_int("samples", samples)
    nonneg_int("shared_prefix", shared_prefix)
    workload = sample_workload(requests, max_len - shared_prefix, seed) if shared_prefix < max_len - 1 else None
    if workload is None:
        raise ValueError(f"shared_prefix must be below max_len - 1 = {max_len - 1}: got {shared_prefix}")
    rng = random.Random(seed + 1)

    # parallel sampling with fork
    need = sum(samples * ceil_div(p + o, block_size) for p, o in workload)
    mgr = BlockManager(BlockAllocator(need, block_size))
    for r, (p, o) in enumerate(workload):
        mgr.append((r, 0), [rng.randrange(50000) for _ in range(p)])
        for s in range(1, samples):
            mgr.fork((r, 0), (r, s))
        for s in range(samples):
            mgr.append((r, s), [rng.randrange(50000) for _ in range(o)])
    fork_blocks = mgr.allocator.num_used
    # shared system prompt with the prefix cache (one sample per request)
    system = [rng.randrange(50000) for _ in range(shared_prefix)]
    need = sum(ceil_div(shared_prefix + p + o, block_size) for p, o in workload)
    pmgr = BlockManager(BlockAllocator(need, block_size), enable_prefix_cache=True)
    for r, (p, o) in enumerate(workload):
        pmgr.append(r, system + [rng.randrange(50000) for _ in range(p + o)])
    unshared = need_fork_unshared(workload, samples, block_size)
    return {
        "block_size": block_size, "requests": requests, "samples": samples, "shared_prefix": shared_prefix,
        "fork_blocks_without_sharing": unshared,
        "fork_blocks_with_sharing": fork_blocks,
        "fork_saving": 1 - fork_blocks / unshared,
        "prefix_blocks_without_cache": need,
        "prefix_blocks_with_cache": pmgr.allocator.num_used,
        "prefix_saving": 1 - pmgr.allocator.num_used / need,
        "prefix_cache_hits": pmgr.prefix_cache.hits,
    }


def need_fork_unshared(workload: list[tuple[int, int]], samples: int, block_size: int) -> int:
    """Blocks that ``samples`` independent copies of each request would hold (no fork)."""
    return sum(samples * ceil_div(p + o, block_size) for p, o in workload)
