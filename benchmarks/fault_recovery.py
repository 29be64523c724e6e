"""The real fault runs on gloo (tiny Megatron MLP, 2-core CPU machine): recovery of a SIGKILLed
rank from a peer's memory and from storage (bytes read, time from the kill to the finished
restarted run), and a universal checkpoint resharded and resumed under another layout (the
conversion to the per-parameter form, and the whole run). Prints one JSON object.

    python benchmarks/fault_recovery.py
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> dict:
    import time

    from mlsys_kit.fault.recover import run_with_failure
    from mlsys_kit.fault.reshard_real import reshard_run

    out: dict = {}
    for name, lose in (("peer_memory", []), ("storage", [0])):  # losing rank 0 too: no copy left in memory
        r = run_with_failure(kill_at=4, layout="t1,d2,zero1", steps=6, failed=lose)
        out[f"recovery_{name}"] = {"recovered_from": r["recovered_from"], "restart_step": r["restart_step"],
                                   "lost_steps": r["lost_steps"], "recovery_bytes": r["recovery_bytes"],
                                   "recovery_s": round(r["recovery_s"], 3), "failed_run_s": round(r["failed_run_s"], 3),
                                   "matches_uninterrupted": r["matches_uninterrupted"]}
    t0 = time.perf_counter()
    rs = reshard_run("t2,d2,zero1", "t1,d4,zero3", save_at=3, steps=6)
    out["reshard_t2d2z1_to_t1d4z3"] = {"checkpoint_bytes": rs["checkpoint_bytes"], "universal_bytes": rs["universal_bytes"],
                                       "convert_s": round(rs["convert_s"], 4), "train_s": round(rs["train_s"], 3),
                                       "total_s": round(time.perf_counter() - t0, 3),
                                       "max_abs_loss_diff": rs["max_abs_loss_diff"],
                                       "matches_uninterrupted": rs["matches_uninterrupted"]}
    out["load_average_1min"] = round(os.getloadavg()[0], 2)
    return out


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
