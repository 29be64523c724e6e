"""The fault-tolerance section of ``mlsys-kit demo``: the checkpoint plan of a 1,024-device job
(Young 1974 / Daly 2006 against the failure simulator; remote storage vs GEMINI's in-memory
copies, SOSP'23 sections 4-5), GEMINI's headline comparison, Oobleck's reconfigure-vs-restart
(SOSP'23 section 7), and the real gloo runs: a universal checkpoint resumed under another layout
(Universal Checkpointing, ATC'25 section 3), a SIGKILLed rank recovered from a peer's memory,
and TrainCheck's invariants (OSDI'25) catching three injected silent bugs."""

from __future__ import annotations

from typing import Callable

from mlsys_kit.common import Figure, Section
from mlsys_kit.fault.gemini import headline
from mlsys_kit.fault.oobleck import compare
from mlsys_kit.fault.plan import plan

PLAN = {"devices": 1024, "mtbf_hours": 10_000.0, "checkpoint_gb": 1000.0}
RUN = {"kill_at": 3, "steps": 5}
RESHARD = {"src": "t2,d1,zero0", "dst": "t1,d2,zero3", "save_at": 2, "steps": 4}  # 2 ranks: a 2-core machine
BUG_CASES = [("none", 2), ("skip-allreduce", 2), ("double-scale", 3), ("stale-shard", 4)]
CHECK_STEPS = 6


def section(progress: Callable[[str], None]) -> Section:
    from mlsys_kit.fault.recover import run_with_failure
    from mlsys_kit.fault.reshard_real import reshard_run
    from mlsys_kit.fault.traincheck import run_checks
    from mlsys_kit.fault.viz import plot_check, plot_plan, plot_recovery, plot_reshard
    from mlsys_kit.viz.figure import figure_png

    progress(f"checkpoint plan: {PLAN['devices']} devices, MTBF {PLAN['mtbf_hours']:g} h each, "
             f"{PLAN['checkpoint_gb']:g} GB checkpoint (failure simulator vs Young/Daly)")
    p = plan(PLAN["devices"], PLAN["mtbf_hours"], PLAN["checkpoint_gb"])
    remote, mem = p["strategies"]["remote"], p["strategies"]["in-memory"]
    progress("GEMINI headline (GPT-2 100B on 16 machines) and Oobleck (16 nodes, 4 failures in a day)")
    gem = headline()
    oob = compare()
    progress(f"real: universal checkpoint {RESHARD['src']} -> {RESHARD['dst']} on gloo")
    rs = reshard_run(RESHARD["src"], RESHARD["dst"], RESHARD["save_at"], RESHARD["steps"])
    progress(f"real: rank 1 SIGKILLed at step {RUN['kill_at']}, recovered")
    rec = run_with_failure(RUN["kill_at"], "t1,d2,zero1", RUN["steps"])
    progress("real: TrainCheck invariants, no bug and three silent bugs (one process group)")
    checks = run_checks(BUG_CASES, steps=CHECK_STEPS)
    rows = [
        ("plan 1,024 devices: job MTBF (h)", p["job_mtbf_s"] / 3600),
        ("plan remote storage: checkpoint cost (s)", remote["checkpoint_s"]),
        ("plan remote storage: simulator's best interval (s)", remote["interval_s"]),
        ("plan remote storage: Young/Daly interval (s)", remote["young_daly_s"]),
        ("plan remote storage: wasted fraction (simulated)", remote["waste_fraction"]),
        ("plan remote storage: wasted fraction (Daly exact)", remote["waste_exact"]),
        ("plan in-memory (GEMINI): simulator's best interval (s)", mem["interval_s"]),
        ("plan in-memory (GEMINI): Young/Daly interval (s)", mem["young_daly_s"]),
        ("plan in-memory (GEMINI): wasted fraction (simulated)", mem["waste_fraction"]),
        ("GEMINI 100B/16 machines: retrieval remote (s)", gem["remote"]["retrieval_s"]),
        ("GEMINI 100B/16 machines: retrieval from peer memory (s)", gem["gemini"]["retrieval_s"]),
        ("GEMINI 100B/16 machines: recovery speedup", gem["recovery_speedup"]),
        ("GEMINI 100B/16 machines: wasted time per failure, remote / GEMINI", gem["wasted_time_ratio"]),
        ("Oobleck 16 nodes, 4 failures/day: samples vs restart-from-checkpoint", oob["speedup"]),
        ("real reshard: losses equal the uninterrupted run", rs["matches_uninterrupted"]),
        ("real reshard: same layout bitwise", rs["same_layout_bitwise"]),
        ("real reshard: checkpoint bytes (measured)", rs["checkpoint_bytes"]),
        ("real reshard: checkpoint bytes equal the ZeRO model", rs["bytes_equal_model"]),
        ("real recovery: recovered from", rec["recovered_from"]),
        ("real recovery: final state equals the uninterrupted run", rec["matches_uninterrupted"]),
        ("real recovery: bytes read", rec["recovery_bytes"]),
        ("real recovery: time (s)", rec["recovery_s"]),
        *((f"TrainCheck {c['inject']}: injected at / detected at step",
           f"{c['injected_at_step']} / {c['detected_at_step']}") for c in checks),
    ]
    bugs = [c for c in checks if c["inject"] != "none"]
    figures = [
        Figure(f"Wasted time against the checkpoint interval, {PLAN['devices']} devices: simulated (dots), "
               "Young/Daly (dashed), the simulator's best (star), remote storage vs in-memory copies",
               figure_png(plot_plan(p)),
               f"mlsys-kit fault plan --devices {PLAN['devices']} --mtbf-hours {PLAN['mtbf_hours']:g} "
               f"--checkpoint-gb {PLAN['checkpoint_gb']:g} --plot plan.png"),
        Figure(f"Universal checkpoint: saved as {RESHARD['src']}, resumed as {RESHARD['dst']}; losses against the "
               "run never interrupted", figure_png(plot_reshard(rs)),
               f"mlsys-kit fault reshard --from {RESHARD['src']} --to {RESHARD['dst']} --save-at {RESHARD['save_at']} "
               f"--steps {RESHARD['steps']} --plot reshard.png"),
        Figure(f"Rank 1 SIGKILLed at step {RUN['kill_at']} and recovered from {rec['recovered_from']}",
               figure_png(plot_recovery(rec)),
               f"mlsys-kit fault run --kill-at {RUN['kill_at']} --steps {RUN['steps']} --plot run.png"),
        *(Figure(f"TrainCheck invariants broken per step, {c['inject']} injected at step {c['injected_at_step']}",
                 figure_png(plot_check(c)),
                 f"mlsys-kit fault check --inject {c['inject']} --at-step {c['injected_at_step']} "
                 f"--steps {CHECK_STEPS} --plot check-{c['inject']}.png") for c in bugs),
    ]
    for c in checks:
        c.pop("per_step")
    for s in p["strategies"].values():
        s.pop("curve")
    return Section("fault", "Failures and checkpoints (Young/Daly, GEMINI, UCP, Oobleck, TrainCheck)",
                   "The checkpoint interval that wastes least for a job's failure rate, in-memory checkpoints on "
                   "peer machines against remote storage, reconfiguring around failed nodes, and real gloo runs: "
                   "a checkpoint resharded to another layout, a killed rank recovered, silent bugs caught.",
                   rows, figures, {"plan": p, "gemini": gem, "oobleck": oob, "reshard": rs, "recovery": rec,
                                   "checks": checks})
