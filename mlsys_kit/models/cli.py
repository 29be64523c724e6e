"""``mlsys-kit model costs``: the transformer cost model from the command line."""

from __future__ import annotations

import argparse

from mlsys_kit import checks
from mlsys_kit.common import emit_json
from mlsys_kit.models import costs


def register(sub: argparse._SubParsersAction) -> None:
    model = sub.add_parser("model", help="transformer cost model (parameters, FLOPs, KV cache, roofline)")
    msub = model.add_subparsers(dest="model_command", metavar="SUBCOMMAND", required=True)
    p = msub.add_parser(
        "costs", help="parameters, FLOPs/token, KV bytes/token, training-state bytes, roofline",
        description="Give --preset, or --layers/--hidden/--heads (flags given with a preset override it).")
    p.add_argument("--preset", choices=sorted(costs.PRESETS), help="start from a public model's config")
    pos = lambda name: checks.arg(checks.positive_int, int, name)  # noqa: E731
    p.add_argument("--layers", type=pos("--layers"))
    p.add_argument("--hidden", type=pos("--hidden"))
    p.add_argument("--heads", type=pos("--heads"))
    p.add_argument("--kv-heads", type=pos("--kv-heads"), help="KV heads (grouped-query attention); default: heads")
    p.add_argument("--vocab", type=pos("--vocab"))
    p.add_argument("--ffn-hidden", type=pos("--ffn-hidden"), help="MLP width; default 4 x hidden")
    p.add_argument("--seq-len", type=pos("--seq-len"), help="sequence length (attention FLOPs, requests)")
    p.add_argument("--dtype-bytes", type=pos("--dtype-bytes"), help="bytes per value (2 for fp16/bf16)")
    p.add_argument("--device", choices=sorted(costs.DEVICES), help="add roofline verdicts and request capacity")
    p.add_argument("--json", action="store_true", help="print JSON only")
    p.add_argument("--plot", metavar="FILE", help="draw memory bars and the roofline to FILE (.png/.svg/.pdf)")
    p.set_defaults(func=run_costs)


FLAG_FIELDS = {"layers": "layers", "hidden": "hidden", "heads": "heads", "kv_heads": "kv_heads", "vocab": "vocab",
               "ffn_hidden": "ffn_hidden", "seq_len": "seq_len", "dtype_bytes": "dtype_bytes"}


def config_from_args(args: argparse.Namespace) -> costs.TransformerConfig:
    given = {f: getattr(args, a) for a, f in FLAG_FIELDS.items() if getattr(args, a) is not None}
    if args.preset:
        return costs.preset(args.preset).with_(**given)
    missing = [f"--{f}" for f in ("layers", "hidden", "heads") if f not in given]
    if missing:
        raise ValueError(f"give --preset NAME or all of --layers, --hidden, --heads: missing {', '.join(missing)}")
    return costs.TransformerConfig(**given)


def run_costs(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    device = costs.DEVICES[args.device] if args.device else None
    out = costs.summary(cfg, device)
    if args.plot:
        from mlsys_kit.viz.figure import save_figure
        from mlsys_kit.models.viz import costs_figure

        out["plot"] = str(save_figure(costs_figure(cfg, device or costs.DEVICES["a100-40gb"]), args.plot))
    if args.json:
        emit_json(out)
        return 0
    print(f"{cfg.name}: {cfg.layers} layers, hidden {cfg.hidden}, {cfg.heads} heads ({cfg.n_kv_heads} KV), "
          f"vocab {cfg.vocab}, seq {cfg.seq_len}, {cfg.dtype_bytes}-byte values")
    print(f"  parameters              {out['params']:,}")
    print(f"  forward FLOPs/token     {out['flops_per_token']:.3e}  (at context {cfg.seq_len})")
    print(f"  training FLOPs/token    {out['training_flops_per_token']:.3e}")
    print(f"  KV cache bytes/token    {out['kv_bytes_per_token']:,}")
    st = out["state_bytes"]
    print(f"  training states (GB)    weights {st['weights'] / 1e9:.2f} + grads {st['gradients'] / 1e9:.2f}"
          f" + Adam {st['optimizer'] / 1e9:.2f} = {st['total'] / 1e9:.2f}")
    if device:
        print(f"  on {device.name}: decode GEMM {out['decode_gemm']['bound']}-bound, prefill GEMM "
              f"{out['prefill_gemm']['bound']}-bound; {out['max_concurrent_requests']} concurrent "
              f"{cfg.seq_len}-token requests fit beside the weights")
    if args.plot:
        print(f"  wrote {out['plot']}")
    return 0
