"""The real prefill/decode pair (2 gloo processes, tiny GPT): K/V transfer throughput and the
checks, for a few prompt lengths. Prints one JSON object."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> dict:
    from mlsys_kit.disagg.real import run_pair

    p = argparse.ArgumentParser()
    p.add_argument("--requests", type=int, default=6)
    p.add_argument("--prompts", type=int, nargs="+", default=[128, 1024])
    args = p.parse_args(argv)
    out = {}
    for plen in args.prompts:
        d = run_pair(requests=args.requests, rate=1000.0, prompt_len=plen, output_len=8, preset="tiny")
        d.pop("per_request")
        out[f"prompt_{plen}"] = {k: d[k] for k in ("outputs_match_reference", "kv_bytes_moved_measured",
                                                   "kv_bytes_moved_predicted", "kv_bytes_per_token", "transfer_seconds",
                                                   "transfer_gbps", "ttft_p50", "tpot_p50", "wall_seconds")}
        out[f"prompt_{plen}"]["transfer_mb_per_s"] = (d["kv_bytes_moved_measured"] / d["transfer_seconds"] / 1e6
                                                      if d["transfer_seconds"] else None)
    return out


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
