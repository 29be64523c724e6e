"""Wall time of the planner's full search for LLaMA-2-70B on 1,024 A100-80GB (8 per node) at a
global batch of 1,024 sequences: every (t, p, d, b, v, ZeRO stage, recomputation, SP), cold
(the pipeline simulations run) and warm (they are cached). Also Megatron-LM's 1T configuration
through the model. Prints one JSON object.

    python benchmarks/parallel_planner.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

if __name__ == "__main__":
    from mlsys_kit.parallel.model import Cluster, Plan, evaluate, model_config
    from mlsys_kit.parallel.planner import plan

    cfg = model_config("llama2-70b")
    t0 = time.perf_counter()
    cold = plan(cfg, Cluster(1024), 1024)
    t_cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    plan(cfg, Cluster(1024, inter_bandwidth=50e9), 1024)
    t_warm = time.perf_counter() - t0
    best = cold["plans"][0]
    one_t = {v: evaluate(model_config("megatron-1t"), Cluster(3072), Plan(8, 64, 6, 1, v, 0, "full"), 3072)
             for v in (1, 2)}
    print(json.dumps({
        "planner_70b_1024_devices_s_cold": round(t_cold, 2),
        "planner_70b_1024_devices_s_warm": round(t_warm, 2),
        "plans_searched": cold["searched"], "plans_valid": cold["valid"], "plans_fit": cold["fit"],
        "best_plan": best["plan"], "best_step_time_s": round(best["step_time"], 3), "best_mfu": round(best["mfu"], 3),
        "megatron_1t_hfu_v1": round(one_t[1]["hfu"], 3), "megatron_1t_hfu_v2": round(one_t[2]["hfu"], 3),
        "megatron_1t_interleaving_gain": round(one_t[1]["step_time"] / one_t[2]["step_time"] - 1, 3),
        "megatron_1t_memory_gb": round(one_t[2]["memory_bytes"] / 1e9, 1),
    }, indent=2))
