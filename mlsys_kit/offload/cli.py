"""``mlsys-kit offload plan|run|prefetch``: inference beyond device memory from the command line.

* ``offload plan --model opt-175b --device t4-16gb --host-gb 208 --disk-gb 1500 [--schedule
  {zigzag,row}]``: FlexGen's policy search (an LP per batch shape, ``search.search``):
  ``tokens_per_s``, ``batch`` (effective), ``batch_size``, ``num_batches``, ``placement``
  (percentages per kind and tier), ``bytes`` per link, ``resident`` bytes per tier;
* ``offload run``: the tiny GPT generating across a device, a host and a disk tier
  (``real.run_offloaded``): ``outputs_match_reference``, ``bytes_moved_measured``,
  ``bytes_moved_predicted``, measured and predicted time; the policy is the search's for the
  ``cpu-tiny`` budget unless ``--weights/--activations/--kv`` give one;
* ``offload prefetch --fraction F``: InfiniGen's speculative KV prefetch on the tiny GPT trained
  on the shipped text (``infinigen.prefetch_eval``): ``attention_mass``, ``max_abs_error``,
  ``bytes_fetched`` (and ``bytes_fetched_measured`` by the decode loop of ``prefetch_real``).

Each takes ``--json`` (one object, stable keys) and ``--plot FILE``.
"""

from __future__ import annotations

import argparse
from typing import Any

from mlsys_kit.checks import arg, fraction, nonneg_int, nonneg_number, positive_int
from mlsys_kit.common import emit_json
from mlsys_kit.offload.config import COLUMNS, HARDWARE, MODELS, Placement, Policy, Workload, hardware, model
from mlsys_kit.offload.cost import SCHEDULES
from mlsys_kit.offload.search import search

# The handlers import what loads torch when they run: the command starts without it (tests/test_architecture.py).


def _triple(name: str):
    def parse(text: str) -> tuple[float, float, float]:
        try:
            vals = tuple(float(v) for v in text.split(","))
            Placement(**{"weights": vals})
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{name} must be three percentages device,host,disk summing to 100 "
                                             f"(e.g. 20,50,30): got {text!r} ({exc})") from None
        return vals  # type: ignore[return-value]

    parse.__name__ = name
    return parse


def _plot_file(text: str) -> str:
    """``--plot``: checked before any work is done (a search takes seconds)."""
    if not text.lower().endswith((".png", ".svg", ".pdf", ".jpg", ".jpeg")):
        raise argparse.ArgumentTypeError(f"plot file must end in .png, .svg, .pdf or .jpg: got {text!r}")
    return text


def _show(d: dict[str, Any], keys: tuple[str, ...]) -> None:
    for k in keys:
        v = d[k]
        print(f"{k:<24} {v:.4g}" if isinstance(v, float) else f"{k:<24} {v}")


def _plan(args: argparse.Namespace) -> int:
    cfg, hw = model(args.model), hardware(args.device, args.host_gb, args.disk_gb)
    res = search(cfg, hw, Workload(args.prompt_len, args.gen_len), args.schedule, overlap=not args.no_overlap,
                 compress=args.compress)
    p = res.pop("policy")
    res.update(model=args.model, device=args.device, host_gb=hw.host.capacity_bytes / 1e9,
               disk_gb=hw.disk.capacity_bytes / 1e9, prompt_len=args.prompt_len, gen_len=args.gen_len,
               overlap=p.overlap, compress=p.compress)
    if args.plot:
        from mlsys_kit.offload.viz import plot_plan
        from mlsys_kit.viz.figure import save_figure

        save_figure(plot_plan({args.schedule: res}, f"{args.model} on {args.device}, {args.schedule}"), args.plot)
    if args.json:
        emit_json(res)
    else:
        _show(res, ("tokens_per_s", "batch", "batch_size", "num_batches", "time_s", "fits"))
        for kind, tiers in res["placement"].items():
            print(f"{kind:<24} " + "  ".join(f"{t} {v:.1f}%" for t, v in tiers.items()))
    return 0


def _run(args: argparse.Namespace) -> int:
    import torch

    from mlsys_kit.models.gpt import GPT
    from mlsys_kit.offload.real import real_policy, run_offloaded

    gpt = GPT(args.preset, seed=args.seed)
    hw = hardware("cpu-tiny")
    if args.device_mb is not None:
        hw = hw.with_capacity("device", args.device_mb * 1e6)
    wl = Workload(args.prompt_len, args.gen_len)
    given = [args.weights, args.activations, args.kv]
    if any(given):
        pl = Placement(*(g or (100.0, 0.0, 0.0) for g in given))
        policy = Policy(args.batch_size or 2, args.num_batches or 3, pl, overlap=not args.no_overlap)
    else:
        policy = real_policy(gpt, wl, args.schedule, hw)
        policy = Policy(args.batch_size or policy.batch_size, args.num_batches or policy.num_batches,
                        policy.placement, overlap=not args.no_overlap)
    device = args.torch_device or ("cuda" if torch.cuda.is_available() else "cpu")
    res = run_offloaded(gpt, policy, wl, args.schedule, hw, device, args.seed)
    res.update(preset=args.preset, device_tier=device)
    if args.plot:
        from mlsys_kit.offload.viz import plot_run
        from mlsys_kit.viz.figure import save_figure

        save_figure(plot_run([res]), args.plot)
    if args.json:
        emit_json(res)
    else:
        _show(res, ("outputs_match_reference", "bytes_match", "time_s_measured", "time_s_predicted",
                    "device_peak_bytes", "weight_loads"))
        for k in ("bytes_moved_measured", "bytes_moved_predicted"):
            print(f"{k:<24} {res[k]}")
    return 0


def _prefetch(args: argparse.Namespace) -> int:
    from mlsys_kit.offload.infinigen import fraction_sweep, prefetch_eval, random_columns, skew
    from mlsys_kit.offload.prefetch_real import decode_with_prefetch
    from mlsys_kit.offload.train import calibration_ids, eval_ids, trained_gpt

    if args.prompt_len >= args.length:
        raise ValueError(f"--prompt-len must be below --length: got {args.prompt_len} >= {args.length}")
    gpt = trained_gpt()
    ids = eval_ids(args.length)
    part = skew(gpt, calibration_ids(), args.partial) if args.columns != "random" \
        else random_columns(gpt, args.partial, args.seed)
    res = prefetch_eval(gpt, ids, args.prompt_len, args.fraction, part, args.columns)
    if args.columns != "oracle":  # the same prefetch as a decode loop, K/V gathered from host tensors
        loop = decode_with_prefetch(gpt, ids, args.prompt_len, args.fraction, part)
        res["bytes_fetched_measured"] = loop["bytes_fetched"]
        res["decode_loop_max_abs_diff"] = float((loop["logits"] - res["logits"][args.prompt_len:]).abs().max())
    res.pop("logits"), res.pop("full_logits")
    res["partial"] = args.partial
    if args.plot:
        from mlsys_kit.offload.viz import plot_prefetch
        from mlsys_kit.viz.figure import save_figure

        sweep = fraction_sweep(gpt, ids, args.prompt_len, skew(gpt, calibration_ids(), args.partial))
        save_figure(plot_prefetch(sweep, args.fraction), args.plot)
    if args.json:
        emit_json(res)
    else:
        _show(res, ("fraction", "columns", "attention_mass", "max_abs_error", "top1_agreement", "bytes_fetched",
                    "bytes_full"))
    return 0


def register(sub: Any) -> Any:
    """Add ``offload plan|run|prefetch`` to the top-level subcommands."""
    top = sub.add_parser("offload", help="inference beyond device memory: FlexGen's policy search, a real "
                                         "offloaded run, InfiniGen's KV prefetch")
    cmds = top.add_subparsers(dest="offload_command", metavar="{plan,run,prefetch}", required=True)

    p = cmds.add_parser("plan", help="FlexGen's policy search (LP over placements, batch shapes enumerated)")
    p.add_argument("--model", default="opt-175b", choices=list(MODELS), help="default opt-175b")
    p.add_argument("--device", default="t4-16gb", choices=list(HARDWARE), help="hardware preset (default t4-16gb)")
    p.add_argument("--host-gb", type=arg(nonneg_number, float, "--host-gb"), default=None,
                   help="host memory in GB (default: the preset's, 208 for t4-16gb)")
    p.add_argument("--disk-gb", type=arg(nonneg_number, float, "--disk-gb"), default=None,
                   help="disk in GB (default: the preset's, 1500 for t4-16gb)")
    p.add_argument("--schedule", choices=list(SCHEDULES), default="zigzag")
    p.add_argument("--prompt-len", type=arg(positive_int, int, "--prompt-len"), default=512)
    p.add_argument("--gen-len", type=arg(positive_int, int, "--gen-len"), default=32)
    p.add_argument("--no-overlap", action="store_true", help="load, compute and store one after another")
    p.add_argument("--compress", action="store_true", help="4-bit weights and KV cache (FlexGen section 5)")
    p.set_defaults(func=_plan)

    r = cmds.add_parser("run", help="the tiny GPT across device/host/disk tiers, checked against the plain run")
    r.add_argument("--schedule", choices=list(SCHEDULES), default="zigzag")
    r.add_argument("--preset", default="tiny", choices=["tiny", "micro"], help="model preset (default tiny)")
    r.add_argument("--prompt-len", type=arg(positive_int, int, "--prompt-len"), default=32)
    r.add_argument("--gen-len", type=arg(positive_int, int, "--gen-len"), default=8)
    r.add_argument("--batch-size", type=arg(positive_int, int, "--batch-size"), default=None)
    r.add_argument("--num-batches", type=arg(positive_int, int, "--num-batches"), default=None)
    for kind in ("weights", "activations", "kv"):
        r.add_argument(f"--{kind}", type=_triple(f"--{kind}"), default=None,
                       help="percentages device,host,disk (default: the policy search's for cpu-tiny)")
    r.add_argument("--device-mb", type=arg(nonneg_number, float, "--device-mb"), default=None,
                   help="device tier budget in MB (default: cpu-tiny's 2 MB)")
    r.add_argument("--torch-device", choices=["cpu", "cuda"], default=None,
                   help="where the device tier lives (default: cuda when present, else cpu)")
    r.add_argument("--no-overlap", action="store_true", help="no prefetch: load, compute, store in turn")
    r.add_argument("--seed", type=arg(nonneg_int, int, "--seed"), default=0)
    r.set_defaults(func=_run)

    f = cmds.add_parser("prefetch", help="InfiniGen's speculative KV prefetch on the trained tiny GPT")
    f.add_argument("--fraction", type=arg(fraction, float, "--fraction"), default=0.2,
                   help="share of the cached tokens fetched, in (0, 1] (default 0.2)")
    f.add_argument("--partial", type=arg(fraction, float, "--partial"), default=0.25,
                   help="share of each head's query/key columns the speculation uses (default 0.25)")
    f.add_argument("--columns", choices=list(COLUMNS), default="skewed")
    f.add_argument("--length", type=arg(positive_int, int, "--length"), default=192,
                   help="held-out tokens evaluated (default 192, at most 256)")
    f.add_argument("--prompt-len", type=arg(positive_int, int, "--prompt-len"), default=64)
    f.add_argument("--seed", type=arg(nonneg_int, int, "--seed"), default=0, help="--columns random: the draw")
    f.set_defaults(func=_prefetch)
    for q in (p, r, f):
        q.add_argument("--plot", type=_plot_file, help="write the figure (PNG/SVG/PDF)")
        q.add_argument("--json", action="store_true", help="print one JSON object")
    return cmds
