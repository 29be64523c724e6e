"""Fresh processes for a real distributed run on this machine, the way ``torchrun`` starts them.

The topics' real runs (ZeRO against DDP, tensor parallelism against one process, the
communication schedulers against DDP, a prefill/decode pair, a recovery after a killed rank)
start their ranks here: :func:`run_ranks` spawns ``world`` processes, each joins one process
group over a free local port, runs ``fn(cfg)`` on one thread (as ``torchrun`` sets it when
nothing else is asked for: measured times then do not depend on the caller's environment) and
hands back what it returned (JSON). torch.distributed with gloo on CPU; NCCL only where a caller
asks for it. The pipeline runtime keeps its own spawn (its ranks hand back schedules' events
through a queue) and takes :func:`free_port` from here.

A rank leaves without interpreter finalisation (:func:`exit_now`): gloo's worker threads can
abort a process while C++ statics are destroyed ("terminate called without an active
exception", seen here about once in 20 runs, after all the work was done), which would turn a
finished run into a failed one. A rank that dies makes ``torch.multiprocessing`` raise
``ProcessExitedException`` in the caller (the other ranks are stopped).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for a process group's rendezvous)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def exit_now(code: int) -> None:
    """Leave at once, output flushed, without finalisation (see the module docstring)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _rank(rank: int, world: int, port: int, fn: Callable[[Any], Any], cfg: Any, out: str, backend: str,
          every_rank: bool) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)  # one thread per rank
    dist.init_process_group(backend, rank=rank, world_size=world)
    try:
        result = fn(cfg)
        if every_rank or rank == 0:
            Path(out, f"rank{rank}.json").write_text(json.dumps(result))
        dist.barrier()  # nobody tears the group down while a peer still talks to it
    finally:
        dist.destroy_process_group()
    exit_now(0)


def run_ranks(fn: Callable[[Any], Any], cfg: Any, world: int, backend: str = "gloo",
              every_rank: bool = False) -> Any:
    """``fn(cfg)`` on ``world`` fresh processes in one process group (``backend``); rank 0's
    result, or with ``every_rank`` the list of every rank's. ``fn`` must be a module-level
    function and ``cfg`` picklable (both are sent to the processes), the results JSON."""
    import torch.multiprocessing as mp

    if not callable(fn) or "<" in getattr(fn, "__qualname__", "<"):  # a lambda or a local function cannot be sent
        raise ValueError(f"fn must be a module-level function (it is pickled to the processes): got {fn!r}")
    if isinstance(world, bool) or not isinstance(world, int) or world < 1:
        raise ValueError(f"world must be a positive number of processes: got {world!r}")
    if backend not in ("gloo", "nccl"):
        raise ValueError(f"backend must be 'gloo' or 'nccl': got {backend!r}")
    with tempfile.TemporaryDirectory() as tmp:
        mp.spawn(_rank, args=(world, free_port(), fn, cfg, tmp, backend, every_rank), nprocs=world, join=True)
        results = [json.loads(Path(tmp, f"rank{r}.json").read_text()) for r in (range(world) if every_rank else [0])]
    return results if every_rank else results[0]
