"""A scripted serving timeline for pictures: requests arrive, decode, fork and finish.

PagedAttention (Kwon et al., SOSP'23), Figures 6-8 step through exactly these events: two
requests filling blocks (Fig. 7), parallel sampling sharing a prompt and copying on write
(Fig. 8), and a shared prefix (section 4.4). :func:`replay` runs the first ``steps`` events
on the real :class:`BlockManager`, so the lecture notebook and ``mlsys-kit kvcache blocks``
show the true state of the pool for any block size.
"""

from __future__ import annotations

import random

from mlsys_kit.checks import nonneg_int, positive_int
from mlsys_kit.kvcache.allocator import BlockAllocator, OutOfBlocks
from mlsys_kit.kvcache.block_table import BlockManager
from mlsys_kit.kvcache.config import KVCacheConfig

# (event, arguments); token counts do not depend on the block size
EVENTS: list[tuple] = [
    ("arrive", 0, 21, None),  # seq 0: 21-token prompt
    ("arrive", 1, 9, None),
    ("decode", (0, 1), 6),
    ("fork", 0, 2),  # parallel sampling: seq 2 shares every block of seq 0
    ("fork", 0, 3),
    ("decode", (0, 2, 3), 1),  # first write into the shared last block: copy-on-write
    ("decode", (0, 1, 2, 3), 8),
    ("arrive", 4, 30, 0),  # seq 4 starts with seq 0's first 16 prompt tokens: prefix cache
    ("finish", 1),
    ("decode", (0, 2, 3, 4), 6),
    ("finish", 3),
    ("arrive", 5, 12, None),
    ("decode", (0, 2, 4, 5), 10),
    ("finish", 0),
    ("finish", 2),
    ("decode", (4, 5), 6),
]
SHARED_PREFIX = 16


def describe(event: tuple) -> str:
    kind = event[0]
    if kind == "arrive":
        extra = f", first {SHARED_PREFIX} tokens as seq {event[3]}" if event[3] is not None else ""
        return f"seq {event[1]} arrives with a {event[2]}-token prompt{extra}"
    if kind == "decode":
        return f"decode {event[2]} token(s) for seqs {', '.join(map(str, event[1]))}"
    if kind == "fork":
        return f"fork seq {event[1]} into seq {event[2]} (shares all blocks)"
    return f"seq {event[1]} finishes"


def replay(steps: int, block_size: int = KVCacheConfig.grid_block_size, total_slots: int = 256, enable_prefix_cache: bool = True,
           seed: int = 0) -> tuple[BlockManager, list[str]]:
    """Run the first ``steps`` events; returns the manager and one log line per event.

    The pool holds ``total_slots // block_size`` blocks; an event that does not fit is
    logged as waiting (OutOfBlocks) and skipped, as a scheduler would delay it.
    """
    nonneg_int("steps", steps)
    positive_int("block_size", block_size)
    if total_slots < block_size:
        raise ValueError(f"total_slots must be at least block_size={block_size}: got {total_slots}")
    rng = random.Random(seed)
    mgr = BlockManager(BlockAllocator(total_slots // block_size, block_size), enable_prefix_cache)
    prompts: dict[int, list[int]] = {}
    log = []
    for event in EVENTS[:steps]:
        kind = event[0]
        msg = describe(event)
        try:
            if kind == "arrive":
                _, sid, n, like = event
                toks = [rng.randrange(1000) for _ in range(n)]
                if like is not None:
                    toks[:SHARED_PREFIX] = prompts[like][:SHARED_PREFIX]
                prompts[sid] = toks
                mgr.append(sid, toks)
                if mgr.prefix_cache is not None and mgr.last_append_hits(sid):
                    msg += f": {mgr.last_append_hits(sid)} tokens from the prefix cache"
            elif kind == "decode":
                _, sids, n = event
                copies = []
                for _ in range(n):
                    for sid in sids:
                        if sid in mgr:
                            copies += mgr.append(sid, [rng.randrange(1000)])
                if copies:
                    msg += f": copy-on-write {', '.join(f'{s}->{d}' for s, d in copies)}"
            elif kind == "fork":
                if event[1] in mgr:
                    mgr.fork(event[1], event[2])
            elif event[1] in mgr:
                mgr.free(event[1])
        except OutOfBlocks:
            msg += ": waits, out of blocks"
        log.append(msg)
    return mgr, log
