"""Process trees on Linux: a grading worker and everything under it (its sandbox, whatever student
code forked), found through /proc and killed whole (stopped first, so nothing forks on)."""

from __future__ import annotations

import os
import signal


def _proc_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, start time) of every process we can see."""
    table: dict[int, tuple[int, int]] = {}
    if not os.path.isdir("/proc"):  # not Linux: no tree to find; kill_tree still kills the worker itself
        return table
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        table[int(d)] = (int(fields[1]), int(fields[19]))
    return table


def descendants(pid: int) -> dict[int, int]:
    """{pid: start time} of every process below ``pid``."""
    table = _proc_table()
    kids: dict[int, list[int]] = {}
    for p, (ppid, _) in table.items():
        kids.setdefault(ppid, []).append(p)
    out, stack = {}, [pid]
    while stack:
        for c in kids.get(stack.pop(), []):
            if c not in out:
                out[c] = table[c][1]
                stack.append(c)
    return out


def kill_tree(pid: int, known: dict[int, int] | None = None) -> int:
    """Stop ``pid`` and everything below it (repeating until no new process appears, so a fork
    bomb cannot outrun it), then kill them all. ``known``: {pid: start time} of processes seen
    below it earlier (they may have been orphaned since); killed only if still the same process.
    Returns how many processes were killed."""
    table = _proc_table()
    victims = {p: t for p, t in (known or {}).items() if table.get(p, (None, None))[1] == t}
    victims[pid] = table.get(pid, (0, -1))[1]
    for _ in range(50):
        new = {}
        for p in list(victims):
            new.update({c: t for c, t in descendants(p).items() if c not in victims})
        for p in [*victims, *new]:
            try:
                os.kill(p, signal.SIGSTOP)
            except (ProcessLookupError, PermissionError):
                pass
        if not new:
            break
        victims.update(new)
    for p in victims:
        try:
            os.kill(p, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return len(victims)


# ---- a worker, seen from the parent --------------------------------------------------------------
