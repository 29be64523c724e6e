"""Block allocator and block manager throughput (pure Python, one core). Prints one JSON object.

* allocator: allocate + free pairs per second on a 4096-block pool (O(1) each);
* block manager: decode appends per second (one token to each of 256 sequences, block 16),
  including a new block every 16th token, and fork + copy-on-write + free cycles per second;
* prefix cache: prompts of 512 tokens (32 blocks) per second that hit a cached 496-token prefix.
"""

from __future__ import annotations

import json
import time

from mlsys_kit.kvcache.allocator import BlockAllocator
from mlsys_kit.kvcache.block_table import BlockManager


def rate(fn, n: int) -> float:
    t0 = time.perf_counter()
    fn(n)
    return n / (time.perf_counter() - t0)


def alloc_free(n: int) -> None:
    a = BlockAllocator(4096, 16)
    for _ in range(n // 1024):
        blocks = [a.allocate() for _ in range(1024)]
        for b in blocks:
            a.free(b)


def decode_appends(n: int) -> None:
    seqs = 256
    m = BlockManager(BlockAllocator(seqs * (n // seqs // 16 + 2), 16))
    for s in range(seqs):
        m.append(s, [1])
    for i in range(n // seqs):
        for s in range(seqs):
            m.append(s, [i])


def fork_cow(n: int) -> None:
    m = BlockManager(BlockAllocator(64, 16))
    m.append("p", list(range(40)))
    for i in range(n):
        m.fork("p", i)
        m.append(i, [7])  # copy-on-write of the half-filled last block
        m.free(i)


def prefix_hits(n: int) -> None:
    m = BlockManager(BlockAllocator(64 + 40, 16), enable_prefix_cache=True)
    prompt = list(range(512))
    m.append("warm", prompt)
    for i in range(n):
        m.append(i, prompt)  # 31 full blocks before the last token: all hits
        m.free(i)


def main() -> None:
    out = {
        "benchmark": "kvcache_allocator",
        "allocator_alloc_free_pairs_per_s": rate(alloc_free, 200_000),
        "manager_decode_appends_per_s": rate(decode_appends, 100_000),
        "manager_fork_cow_free_per_s": rate(fork_cow, 20_000),
        "prefix_cached_512_token_prompts_per_s": rate(prefix_hits, 500),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
