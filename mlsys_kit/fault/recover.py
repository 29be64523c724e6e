"""Kill a rank for real and recover from the newest checkpoint (GEMINI, SOSP'23, sections 3-5).

The job (:mod:`mlsys_kit.fault.layout_run` on gloo, one rank per "machine") checkpoints every
step into CPU memory, GEMINI-style: each rank's shard is kept in its own machine's memory and in
its ring peer's (machine ``r+1 mod N``), and every ``storage_every`` steps also in remote
storage. Here a machine's CPU memory is a folder of its own (it outlives the training process,
as GEMINI's checkpoint agent does; a failed machine's folder is wiped); storage is another.

Once rank ``kill_rank`` has computed step ``kill_at`` (before it saves it) it is sent SIGKILL; torch.multiprocessing sees it die and
stops the others. The machines in ``failed`` lose their memory. Recovery takes, for the newest
step whose every shard survives in some machine's memory, those shards ("peer-memory"); if a
shard's every in-memory copy is gone, the newest storage checkpoint ("storage"). The job restarts
on fresh processes from there and finishes; its final state must equal the run that never failed,
bit for bit (same layout, same data per step).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from torch.multiprocessing import ProcessExitedException

from mlsys_kit.checks import positive_int
from mlsys_kit.fault.layout_run import read_universal, shard_bytes, spawn
from mlsys_kit.fault.reshard_math import Layout, parse_layout


def _newest(folders: list[Path], world: int, ranks_needed: range) -> tuple[int, dict[int, Path]] | None:
    """The newest step with a copy of every rank's shard in ``folders`` (folder/step<k>/rank<r>.pt)."""
    steps = sorted({int(p.name[4:]) for f in folders if f.exists() for p in f.glob("step*")}, reverse=True)
    for step in steps:
        where = {}
        for r in ranks_needed:
            src = next((f / f"step{step}" / f"rank{r}.pt" for f in folders if (f / f"step{step}" / f"rank{r}.pt").exists()), None)
            if src is None:
                break
            where[r] = src
        if len(where) == world:
            return step, where
    return None


def run_with_failure(kill_at: int = 4, layout: Layout | str = "t1,d2,zero1", steps: int = 6, kill_rank: int = 1,
                     failed: list[int] | None = None, storage_every: int = 2, seed: int = 0) -> dict[str, Any]:
    """A run killed at ``kill_at`` and recovered, against the run that never failed: keys
    ``matches_uninterrupted``, ``recovered_from`` ("peer-memory" or "storage"), ``restart_step``,
    ``lost_steps``, ``recovery_bytes``, ``recovery_s``."""
    layout = parse_layout(layout) if isinstance(layout, str) else layout
    world = layout.world
    positive_int("steps", steps)
    positive_int("storage_every", storage_every)
    if world < 2 or world > 8:
        raise ValueError(f"recovery needs 2 to 8 ranks (a peer to hold a copy): layout {layout} has {world}")
    if not (isinstance(kill_at, int) and 0 < kill_at < steps):
        raise ValueError(f"kill_at must be a step inside the run, in [1, {steps}): got {kill_at!r}")
    if not (isinstance(kill_rank, int) and 0 <= kill_rank < world):
        raise ValueError(f"kill_rank must be a rank of {layout}, in [0, {world}): got {kill_rank!r}")
    failed = sorted({kill_rank, *(failed or [])})
    if any(not isinstance(m, int) or not 0 <= m < world for m in failed):
        raise ValueError(f"failed machines must be ranks in [0, {world}): got {failed}")
    lay = [layout.t, layout.d, layout.zero]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        memory = [root / f"machine{m}" for m in range(world)]
        storage = root / "storage"
        save: dict[str, list[str]] = {}
        for s in range(1, steps + 1):  # rank r: own machine, its ring peer's, and storage now and then
            save[str(s)] = [str(root / "machine{rank}" / f"step{s}"), str(root / "machine{peer}" / f"step{s}")]
            if s % storage_every == 0:
                save[str(s)].append(str(storage / f"step{s}"))
        (clean,) = spawn({"seed": seed, "jobs": [{"layout": lay, "stop": steps,
                                                   "save": {str(steps): [str(root / "clean")]}}]}, world)
        t0 = time.perf_counter()
        try:
            spawn({"seed": seed, "jobs": [{"layout": lay, "stop": steps, "save": save,
                                           "kill_rank": kill_rank, "kill_at": kill_at}]}, world)
            raise RuntimeError("the rank that was to be killed finished its run")
        except ProcessExitedException as exc:
            died = {"rank": exc.error_index, "signal": getattr(exc, "signal_name", None)}
        t_failed = time.perf_counter() - t0
        for m in failed:  # the failed machines' CPU memory is gone
            shutil.rmtree(memory[m], ignore_errors=True)
        t0 = time.perf_counter()
        found = _newest([memory[m] for m in range(world) if m not in failed], world, range(world))
        source = "peer-memory"
        if found is None:
            found, source = _newest([storage], world, range(world)), "storage"
        if found is None:
            source, restart, restart_dir = "scratch", 0, None
        else:
            restart, where = found
            restart_dir = root / "restart"
            restart_dir.mkdir()
            for r, src in where.items():
                shutil.copy(src, restart_dir / f"rank{r}.pt")
        job = {"layout": lay, "stop": steps, "save": {str(steps): [str(root / "recovered")]}}
        if restart_dir is not None:
            job["from_shards"] = str(restart_dir)
        (after,) = spawn({"seed": seed, "jobs": [job]}, world)
        recovery_s = time.perf_counter() - t0
        same = read_universal(root / "clean", layout) == read_universal(root / "recovered", layout)
    return {
        "layout": str(layout), "steps": steps, "kill_at": kill_at, "killed": died, "failed_machines": failed,
        "recovered_from": source, "restart_step": restart, "lost_steps": kill_at - restart,
        "matches_uninterrupted": same and after["losses"] == clean["losses"][restart:],
        "recovery_bytes": 0 if source == "scratch" else shard_bytes(layout) * world,
        "recovery_s": recovery_s, "failed_run_s": t_failed,
        "losses_uninterrupted": clean["losses"], "losses_after_restart": after["losses"],
    }
