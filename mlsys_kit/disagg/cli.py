"""``mlsys-kit serve disagg|place``: disaggregated serving from the command line.

* ``serve disagg --prefill N --decode M --rate R --ttft-slo S --tpot-slo T [--link-gbps B]``:
  simulate N prefill and M decode instances (OPT-13B roofline on A100 by default) and print
  ``goodput`` (DistServe's: the highest rate per device with >= 90 % attainment),
  ``attainment`` at the rate, ``ttft_p50/p99``, ``tpot_p50/p99``, ``kv_bytes_moved``;
* ``serve disagg --real``: the prefill/decode process pair on gloo (``outputs_match_reference``,
  ``kv_bytes_moved_measured``, ``kv_bytes_moved_predicted``);
* ``serve place --devices N``: the exhaustive placement search, with colocated serving on the
  same devices beside it.

Every default comes from :data:`~mlsys_kit.disagg.config.DISAGG` (simulated) and
:data:`~mlsys_kit.disagg.config.REAL_PAIR` (``--real``).
"""

from __future__ import annotations

import argparse
from typing import Any

from mlsys_kit.checks import arg, nonneg_int, nonneg_number, positive_int, positive_number
from mlsys_kit.common import emit_json
from mlsys_kit.disagg.config import DISAGG, REAL_PAIR
from mlsys_kit.disagg.placement import chatbot_workload, disagg_goodput, roofline_hardware, search_placement
from mlsys_kit.disagg.simulate import Link, Pool, simulate_disagg, summarize_disagg
from mlsys_kit.models.costs import DEVICES, PRESETS
from mlsys_kit.serving.config import SCHEDULER_NAMES


def _hw(args: argparse.Namespace):
    return roofline_hardware(args.model, args.device)


def _link(args: argparse.Namespace):
    return Link(args.link_gbps, args.link_latency)


def _workload(args: argparse.Namespace):
    return lambda rate: chatbot_workload(args.requests, rate, args.seed)


def _disagg(args: argparse.Namespace) -> int:
    if args.real:
        return _real(args)

    hw, link = _hw(args), _link(args)
    prefill = Pool(args.prefill, args.prefill_tp, args.prefill_scheduler)
    decode = Pool(args.decode, args.decode_tp, args.decode_scheduler)
    for name, tp in (("prefill", args.prefill_tp), ("decode", args.decode_tp)):
        if hw.blocks_at(tp) < 1:
            raise ValueError(f"--{name}-tp {tp}: one {args.model} instance does not fit on {tp} {args.device} device(s)")
    res = simulate_disagg(_workload(args)(args.rate), prefill, decode, link, hw)
    d = summarize_disagg(res, args.ttft_slo, args.tpot_slo)
    d.update(rate=args.rate, prefill=args.prefill, decode=args.decode, prefill_tp=args.prefill_tp,
             decode_tp=args.decode_tp, link_gbps=args.link_gbps, ttft_slo=args.ttft_slo, tpot_slo=args.tpot_slo,
             model=args.model, device=args.device,
             goodput=disagg_goodput(prefill, decode, hw, link, args.ttft_slo, args.tpot_slo, _workload(args)))
    if args.plot:
        from mlsys_kit.viz.figure import save_figure
        from mlsys_kit.disagg.viz import plot_disagg_run

        save_figure(plot_disagg_run(res, args.ttft_slo, args.tpot_slo,
                                    f"{args.prefill} prefill + {args.decode} decode, {args.rate:g} req/s"), args.plot)
    if args.json:
        emit_json(d)
    else:
        for k in ("goodput", "attainment", "ttft_p50", "ttft_p99", "tpot_p50", "tpot_p99", "kv_bytes_moved", "devices"):
            v = d[k]
            print(f"{k:<16} {v:.4g}" if isinstance(v, float) else f"{k:<16} {v}")
    return 0


def _real(args: argparse.Namespace) -> int:
    from mlsys_kit.disagg.real import run_pair

    d = run_pair(args.requests if args.requests_given else REAL_PAIR.requests,
                 args.rate if args.rate_given else REAL_PAIR.rate, args.prompt_len, args.output_len, args.preset, args.seed)
    if args.plot:
        from mlsys_kit.viz.figure import save_figure
        from mlsys_kit.disagg.viz import plot_real_pair

        save_figure(plot_real_pair(d), args.plot)
    if args.json:
        emit_json(d)
    else:
        for k in ("outputs_match_reference", "kv_bytes_moved_measured", "kv_bytes_moved_predicted", "ttft_p50",
                  "tpot_p50", "transfer_gbps"):
            v = d[k]
            print(f"{k:<26} {v:.4g}" if isinstance(v, float) else f"{k:<26} {v}")
    return 0


def _place(args: argparse.Namespace) -> int:
    out = search_placement(args.devices, _hw(args), _link(args), args.ttft_slo, args.tpot_slo, _workload(args),
                           tuple(args.tps))
    out.update(ttft_slo=args.ttft_slo, tpot_slo=args.tpot_slo, link_gbps=args.link_gbps, model=args.model,
               device=args.device, requests=args.requests)
    if args.plot:
        from mlsys_kit.viz.figure import save_figure
        from mlsys_kit.disagg.viz import plot_placements

        save_figure(plot_placements(out), args.plot)
    if args.json:
        emit_json(out)
    else:
        b, c = out["best"], out["colocated"]
        print(f"best: {b['prefill']} prefill x tp{b['prefill_tp']} + {b['decode']} decode x tp{b['decode_tp']}: "
              f"{b['goodput_per_device']:.3g} req/s per device")
        if c:
            print(f"colocated {c['scheduler']} ({c['instances']} x tp{c['tp']}): {c['goodput_per_device']:.3g} req/s per device")
    return 0


class _Given(argparse.Action):
    """Store the value and remember that the user gave it (``--real`` has its own defaults)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        setattr(namespace, f"{self.dest}_given", True)


def _common(p: argparse.ArgumentParser, requests: int) -> None:
    c = DISAGG
    p.add_argument("--ttft-slo", type=arg(positive_number, float, "--ttft-slo"), default=c.ttft_slo,
                   help=f"seconds (default {c.ttft_slo:g}, DistServe's chatbot on OPT-13B)")
    p.add_argument("--tpot-slo", type=arg(positive_number, float, "--tpot-slo"), default=c.tpot_slo,
                   help=f"seconds per token (default {c.tpot_slo:g})")
    p.add_argument("--link-gbps", type=arg(positive_number, float, "--link-gbps"), default=c.link_gbps,
                   help=f"KV link bandwidth, Gbit/s (default {c.link_gbps:g})")
    p.add_argument("--link-latency", type=arg(nonneg_number, float, "--link-latency"), default=c.link_latency,
                   help=f"seconds per transfer (default {c.link_latency:g})")
    p.add_argument("--model", default=c.model, choices=list(PRESETS),
                   help=f"cost-model preset: {', '.join(PRESETS)} (default {c.model})")
    p.add_argument("--device", default=c.device, choices=list(DEVICES),
                   help=f"{', '.join(DEVICES)} (default {c.device})")
    p.add_argument("--requests", type=arg(positive_int, int, "--requests"), default=requests, action=_Given,
                   help=f"requests per simulated run (default {requests})")
    p.add_argument("--seed", type=arg(nonneg_int, int, "--seed"), default=c.seed)
    p.add_argument("--plot", help="write the figure (PNG/SVG/PDF)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def register(sub: Any) -> None:
    """Add ``disagg`` and ``place`` to the ``serve`` subcommands (``sub``)."""
    c, r = DISAGG, REAL_PAIR
    p = sub.add_parser("disagg", help="disaggregated prefill/decode serving (DistServe): simulate, or --real on gloo")
    p.add_argument("--prefill", type=arg(positive_int, int, "--prefill"), default=c.prefill,
                   help=f"prefill instances (default {c.prefill})")
    p.add_argument("--decode", type=arg(positive_int, int, "--decode"), default=c.decode,
                   help=f"decode instances (default {c.decode})")
    p.add_argument("--prefill-tp", type=arg(positive_int, int, "--prefill-tp"), default=c.prefill_tp)
    p.add_argument("--decode-tp", type=arg(positive_int, int, "--decode-tp"), default=c.decode_tp)
    p.add_argument("--prefill-scheduler", choices=list(SCHEDULER_NAMES), default=c.prefill_scheduler)
    p.add_argument("--decode-scheduler", choices=list(SCHEDULER_NAMES), default=c.decode_scheduler)
    p.add_argument("--rate", type=arg(positive_number, float, "--rate"), default=c.rate, action=_Given,
                   help=f"requests/s (default {c.rate:g}; --real: {r.rate:g})")
    p.add_argument("--real", action="store_true",
                   help="run a prefill process and a decode process on gloo with the tiny GPT instead")
    p.add_argument("--preset", default=r.preset, help=f"--real: model preset (default {r.preset})")
    p.add_argument("--prompt-len", type=arg(positive_int, int, "--prompt-len"), default=r.prompt_len,
                   help=f"--real: longest prompt (default {r.prompt_len})")
    p.add_argument("--output-len", type=arg(positive_int, int, "--output-len"), default=r.output_len,
                   help=f"--real: longest output (default {r.output_len})")
    _common(p, c.requests)
    p.set_defaults(func=_disagg, requests_given=False, rate_given=False)

    p = sub.add_parser("place", help="exhaustive prefill/decode placement search for N devices (DistServe section 4)")
    p.add_argument("--devices", type=arg(positive_int, int, "--devices"), required=True)
    p.add_argument("--tps", nargs="+", type=arg(positive_int, int, "--tps"), default=list(c.search_tps),
                   help=f"tensor-parallel degrees to try (default {' '.join(map(str, c.search_tps))})")
    _common(p, c.search_requests)
    p.set_defaults(func=_place)
