"""Readers for the public cluster traces, so a user can drop in the real thing.

* **Philly** (Jeon et al., ATC'19; github.com/msr-fiddle/philly-traces, ``cluster_job_log``): a JSON
  list of jobs, each with ``jobid``, ``status``, ``submitted_time`` and ``attempts`` (each with
  ``start_time``, ``end_time`` and ``detail``: the machines and their ``gpus``), times as
  ``"YYYY-MM-DD HH:MM:SS"`` or ``"None"``. A job's GPUs are the most any attempt held; its run
  time the sum of its attempts'; its arrival its submission.
* **Alibaba PAI** (Weng et al., NSDI'22; github.com/alibaba/clusterdata, ``cluster-trace-gpu-v2020``,
  ``pai_task_table.csv``): CSV rows ``job_name, task_name, inst_num, status, start_time, end_time,
  plan_cpu, plan_mem, plan_gpu, gpu_type`` (no header line in the release; one is accepted),
  ``plan_gpu`` in percent of a GPU per instance, times in seconds. A job's GPUs are the sum over
  its tasks of ``inst_num x ceil(plan_gpu / 100)``; it arrives at its first task's start and runs
  until its last task's end.
* **Plain CSV** (the layout of the Tiresias and Gavel simulators' traces): a header naming at least
  ``job_id, num_gpu, submit_time, duration`` (seconds).

Each reader returns :class:`~mlsys_kit.cluster.core.Job` objects with ``iterations = run time``
and throughput 1 iteration/s on every GPU type in ``gpu_types`` (a trace records no per-type
speed); jobs without a run time or without GPUs are skipped, and the first arrival is time 0.
"""

from __future__ import annotations

import csv
import json
import math
from datetime import datetime
from pathlib import Path
from typing import Sequence

from mlsys_kit.cluster.core import Job

PAI_COLUMNS = ("job_name", "task_name", "inst_num", "status", "start_time", "end_time", "plan_cpu", "plan_mem",
               "plan_gpu", "gpu_type")


def _jobs(rows: list[tuple[float, int, float]], gpu_types: Sequence[str]) -> list[Job]:
    """(arrival, gpus, run time) rows -> jobs with ids in arrival order, the first arriving at 0."""
    if not rows:
        raise ValueError("the trace holds no job with GPUs and a positive run time")
    rows.sort(key=lambda r: r[0])
    t0 = rows[0][0]
    return [Job(i, a - t0, g, d, {t: 1.0 for t in gpu_types}) for i, (a, g, d) in enumerate(rows)]


def _time(text: object) -> float | None:
    if not isinstance(text, str) or text in ("", "None"):
        return None
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").timestamp()


def read_philly(path: str | Path, gpu_types: Sequence[str] = ("v100",)) -> list[Job]:
    """Jobs from a Philly ``cluster_job_log`` JSON file."""
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not a Philly cluster_job_log (JSON list of jobs): {exc}") from None
    if not isinstance(data, list):
        raise ValueError(f"{path}: a Philly cluster_job_log is a JSON list of jobs, got {type(data).__name__}")
    rows = []
    for job in data:
        sub = _time(job.get("submitted_time"))
        run, gpus = 0.0, 0
        for att in job.get("attempts") or []:
            s, e = _time(att.get("start_time")), _time(att.get("end_time"))
            if s is not None and e is not None and e > s:
                run += e - s
            gpus = max(gpus, sum(len(d.get("gpus") or []) for d in att.get("detail") or []))
        if sub is not None and run > 0 and gpus > 0:
            rows.append((sub, gpus, run))
    return _jobs(rows, gpu_types)


def read_pai(path: str | Path, gpu_types: Sequence[str] = ("v100",)) -> list[Job]:
    """Jobs from PAI's ``pai_task_table.csv`` (with or without a header line)."""
    jobs: dict[str, list[float]] = {}  # name -> [first start, last end, gpus]
    with open(path, newline="") as f:
        for n, row in enumerate(csv.reader(f)):
            if n == 0 and row[:2] == ["job_name", "task_name"]:
                continue
            if len(row) != len(PAI_COLUMNS):
                raise ValueError(f"{path}:{n + 1}: a PAI task row has {len(PAI_COLUMNS)} columns "
                                 f"({', '.join(PAI_COLUMNS)}): got {len(row)}")
            r = dict(zip(PAI_COLUMNS, row))
            try:
                start, end = float(r["start_time"]), float(r["end_time"])
                gpus = int(float(r["inst_num"] or 0)) * math.ceil(float(r["plan_gpu"] or 0) / 100)
            except ValueError:
                continue  # a task that never started or ended has empty times
            if not (math.isfinite(start) and math.isfinite(end)):
                continue
            cur = jobs.setdefault(r["job_name"], [start, end, 0])
            cur[0], cur[1], cur[2] = min(cur[0], start), max(cur[1], end), cur[2] + gpus
    rows = [(s, int(g), e - s) for s, e, g in jobs.values() if g > 0 and e > s]
    return _jobs(rows, gpu_types)


def read_csv(path: str | Path, gpu_types: Sequence[str] = ("v100",)) -> list[Job]:
    """Jobs from a CSV with a header naming ``job_id, num_gpu, submit_time, duration``."""
    rows = []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        need = {"job_id", "num_gpu", "submit_time", "duration"}
        if not need <= set(reader.fieldnames or ()):
            raise ValueError(f"{path}: a plain trace CSV needs the columns {sorted(need)}: got {reader.fieldnames}")
        for n, r in enumerate(reader):
            try:
                rows.append((float(r["submit_time"]), int(r["num_gpu"]), float(r["duration"])))
            except ValueError:
                raise ValueError(f"{path}:{n + 2}: num_gpu must be an integer and submit_time, duration "
                                 f"numbers: got {r}") from None
    return _jobs([r for r in rows if r[1] > 0 and r[2] > 0], gpu_types)


def read_trace(path: str | Path, fmt: str = "auto", gpu_types: Sequence[str] = ("v100",)) -> list[Job]:
    """Jobs from ``path`` in format ``philly``, ``pai`` or ``csv``; ``auto`` tells them apart by
    content (a JSON list, a header with ``num_gpu``, else PAI's ten columns)."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"trace file not found: {path}")
    if fmt == "auto":
        head = p.read_text()[:4096].lstrip()
        if not head:
            raise ValueError(f"trace file is empty: {path}")
        fmt = "philly" if head.startswith("[") else "csv" if "num_gpu" in head.splitlines()[0] else "pai"
    readers = {"philly": read_philly, "pai": read_pai, "csv": read_csv}
    if fmt not in readers:
        raise ValueError(f"fmt must be one of auto, {', '.join(readers)}: got {fmt!r}")
    return readers[fmt](p, gpu_types)
