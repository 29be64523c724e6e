"""FlexGen's cost model: bytes per tier and the time of a generation under a policy.

Sheng et al., *FlexGen* (ICML'23), section 4.2 and appendix A.2 ("cost model"). A generation is
``prompt_len`` tokens of prefill (token step 0) then ``gen_len - 1`` decode steps; every token
step runs every layer. The work is grouped into **steps**: one (token, layer) of a block of
batches (the zig-zag schedule, section 4.1) or of a single batch (row-by-row). A step

* **loads** onto the device what its layer needs and the device does not hold: the host and disk
  parts of the layer's weights (once per step: the zig-zag block shares them), of each batch's
  KV cache so far (decode only) and of its input activations (not for layer 0: the embedding's
  output is on the device). Disk parts go disk -> host -> device.
* **computes** the layer for every batch: max(FLOPs / FLOP/s, bytes read / memory bandwidth)
  (the roofline), the layer's weights read once per batch;
* **stores** what it produced: the host and disk parts of the new KV entries and of its output
  activations (not for the last layer: the head reads them on the device).

Four links carry the traffic: host -> device and device -> host (PCIe, ``host.read_bw`` and
``host.write_bw``), disk -> host and host -> disk (``disk.read_bw``, ``disk.write_bw``). With
``overlap`` a step takes the max of the four link times and the compute time (appendix A:
T = max(ctog, gtoc, dtoc, ctod, comp) per layer); without, their sum. Weights and KV entries are
split per tensor with :func:`mlsys_kit.offload.config.split` (one layer's weight vector, one
token's K and V vector, one token's hidden state), so the byte counts are exact integers that the
real run (``real.py``) measures equal. Compressed (``compress=True``, FlexGen section 5's 4-bit
group-wise quantisation) weights and KV move and rest at a quarter of the bytes, computed at full
precision; the 2 fp16 values per group of 64 that FlexGen's kernels also keep are ignored, as its
own cost model ignores them.

Left out, as our simplifications: the embedding and the LM head (kept on the device, neither
traffic nor memory here); attention on the CPU for KV kept on the host (FlexGen's "CPU
delegation"): we always move the KV to the device; FlexGen's 0.8 memory-usage factor.
"""

from __future__ import annotations

from typing import Any

from mlsys_kit import checks
from mlsys_kit.models.costs import TransformerConfig, matmul_params, param_count
from mlsys_kit.offload.config import KINDS, Hardware, Placement, Policy, Workload, split

SCHEDULES = ("zigzag", "row")
LINKS = ("host_to_device", "disk_to_host", "device_to_host", "host_to_disk")
COMPRESSED_BITS = 4


def layer_elements(cfg: TransformerConfig) -> dict[str, int]:
    """Elements per layer of each tensor kind: ``weights`` (one layer's parameters),
    ``kv_cache`` (one token's K and V in one layer) and ``activations`` (one token's hidden state)."""
    if not isinstance(cfg, TransformerConfig):
        raise ValueError(f"expected a TransformerConfig (see config.MODELS): got {type(cfg).__name__}")
    weights = param_count(cfg.with_(layers=2)) - param_count(cfg.with_(layers=1))
    return {"weights": weights, "kv_cache": 2 * cfg.n_kv_heads * cfg.head_dim, "activations": cfg.hidden}


def element_bytes(cfg: TransformerConfig, kind: str, compress: bool = False) -> float:
    """Bytes per element of ``kind``: ``dtype_bytes``, or 4 bits for compressed weights and KV."""
    checks.one_of("kind", kind, KINDS)
    if compress and kind != "activations":
        return COMPRESSED_BITS / 8
    return float(cfg.dtype_bytes)


def parts(cfg: TransformerConfig, placement: Placement) -> dict[str, tuple[int, int, int]]:
    """Per kind, the (device, host, disk) elements of one split unit (see ``layer_elements``)."""
    if not isinstance(placement, Placement):
        raise ValueError(f"placement must be a Placement: got {type(placement).__name__}")
    return {k: split(n, placement.of(k)) for k, n in layer_elements(cfg).items()}


def _check(cfg: Any, policy: Any, workload: Any, schedule: str) -> None:
    layer_elements(cfg)
    if not isinstance(policy, Policy):
        raise ValueError(f"policy must be a Policy: got {type(policy).__name__}")
    if not isinstance(workload, Workload):
        raise ValueError(f"workload must be a Workload: got {type(workload).__name__}")
    checks.one_of("schedule", schedule, SCHEDULES)


def step_traffic(cfg: TransformerConfig, policy: Policy, workload: Workload, token: int, layer: int,
                 batches: int, p: dict[str, tuple[float, float, float]] | None = None) -> dict[str, float]:
    """Bytes on each of the four links for one step: layer ``layer`` of token step ``token``
    (0 = the prefill) for ``batches`` batches of ``policy.batch_size`` sequences sharing one load
    of the weights. ``p`` overrides the element split (``parts``), e.g. with fractional parts."""
    s, b = workload.prompt_len, policy.batch_size
    checks.nonneg_int("token", token)
    checks.nonneg_int("layer", layer)
    if token >= workload.gen_len or layer >= cfg.layers:
        raise ValueError(f"token must be < gen_len={workload.gen_len} and layer < layers={cfg.layers}: "
                         f"got token={token}, layer={layer}")
    p = parts(cfg, policy.placement) if p is None else p
    wb, ab, kb = (element_bytes(cfg, k, policy.compress) for k in KINDS)
    (_, wh, wd), (_, ah, ad), (_, kh, kd) = p["weights"], p["activations"], p["kv_cache"]
    seqs = batches * checks.positive_int("batch_size", b)
    new = s if token == 0 else 1  # tokens this step processes (and KV entries it appends)
    cached = 0 if token == 0 else s + token - 1  # KV entries it reads back
    act_in = seqs * new if layer > 0 else 0
    act_out = seqs * new if layer < cfg.layers - 1 else 0
    return {
        "host_to_device": (wh + wd) * wb + seqs * cached * (kh + kd) * kb + act_in * (ah + ad) * ab,
        "disk_to_host": wd * wb + seqs * cached * kd * kb + act_in * ad * ab,
        "device_to_host": seqs * new * (kh + kd) * kb + act_out * (ah + ad) * ab,
        "host_to_disk": seqs * new * kd * kb + act_out * ad * ab,
    }


def step_compute(cfg: TransformerConfig, hw: Hardware, policy: Policy, workload: Workload, token: int,
                 batches: int) -> float:
    """Seconds of device compute for one layer of token step ``token`` over ``batches`` batches:
    per batch, max(FLOPs / ``hw.flops``, bytes read / ``hw.mem_bw``). FLOPs: 2 per weight per
    token, plus 4 x hidden per (query, key) pair of attention (QK^T and the weighted sum of V)."""
    s, b = workload.prompt_len, policy.batch_size
    per_layer_mm = (matmul_params(cfg) - cfg.vocab * cfg.hidden) // cfg.layers
    if token == 0:
        tokens, pairs, kv_read = s, s * (s + 1) // 2, s
    else:
        tokens, pairs, kv_read = 1, s + token, s + token
    flops = b * (2 * per_layer_mm * tokens + 4 * cfg.hidden * pairs)
    n = layer_elements(cfg)
    compress = policy.compress
    read = (n["weights"] * element_bytes(cfg, "weights", compress)
            + b * kv_read * n["kv_cache"] * element_bytes(cfg, "kv_cache", compress))
    return batches * max(flops / hw.flops, read / hw.mem_bw)


def link_times(hw: Hardware, traffic: dict[str, float]) -> dict[str, float]:
    """Seconds each link needs for ``traffic`` (bytes per link, see ``LINKS``)."""
    bw = {"host_to_device": hw.host.read_bw, "disk_to_host": hw.disk.read_bw,
          "device_to_host": hw.host.write_bw, "host_to_disk": hw.disk.write_bw}
    return {link: traffic[link] / bw[link] for link in LINKS}


def step_time(cfg: TransformerConfig, hw: Hardware, policy: Policy, workload: Workload, token: int,
              layer: int, batches: int, p: dict[str, tuple[float, float, float]] | None = None) -> dict[str, float]:
    """One step's times: each link's, ``compute``, ``load`` (host->device and disk->host),
    ``store`` (device->host and host->disk) and ``total``: the max of all when ``policy.overlap``
    (the links and the device run at once), else their sum (each waits for the one before)."""
    t = link_times(hw, step_traffic(cfg, policy, workload, token, layer, batches, p))
    t["compute"] = step_compute(cfg, hw, policy, workload, token, batches)
    agg = max if policy.overlap else (lambda *xs: sum(xs))
    t["load"] = agg(t["host_to_device"], t["disk_to_host"])
    t["store"] = agg(t["device_to_host"], t["host_to_disk"])
    t["total"] = agg(t["load"], t["compute"], t["store"])
    return t


def resident_bytes(cfg: TransformerConfig, policy: Policy, workload: Workload, schedule: str = "zigzag",
                   p: dict[str, tuple[float, float, float]] | None = None) -> dict[str, float]:
    """Peak bytes each tier holds. Resident: every layer's share of the weights; the share of
    the KV cache of every live sequence at its final length (prompt + gen_len - 1 entries); the
    share of the live sequences' hidden states between two layers at the prefill (prompt_len
    tokens each). Live sequences: the whole block (zig-zag) or one batch (row-by-row). Working
    buffers: the device holds two layers' offloaded weights (the running one and the prefetched
    one), one batch's offloaded KV of one layer, its offloaded input and output activations and
    its ``compute_buffer``; the host stages two layers' disk weights and one batch's disk KV of
    one layer."""
    _check(cfg, policy, workload, schedule)
    p = parts(cfg, policy.placement) if p is None else p
    compress = policy.compress
    wb, ab, kb = (element_bytes(cfg, k, compress) for k in KINDS)
    b, s, ctx = policy.batch_size, workload.prompt_len, workload.prompt_len + workload.gen_len - 1
    live = policy.block_size if schedule == "zigzag" else b
    L = cfg.layers
    out = {}
    for i, tier in enumerate(("device", "host", "disk")):
        w, a, k = p["weights"][i], p["activations"][i], p["kv_cache"][i]
        out[tier] = L * w * wb + live * ctx * L * k * kb + live * s * a * ab
    (_, wh, wd), (_, ah, ad), (_, kh, kd) = p["weights"], p["activations"], p["kv_cache"]
    out["device"] += 2 * (wh + wd) * wb + b * ctx * (kh + kd) * kb + 2 * b * s * (ah + ad) * ab \
        + compute_buffer(cfg, b, s)
    out["host"] += 2 * wd * wb + b * ctx * kd * kb
    return out


def compute_buffer(cfg: TransformerConfig, batch_size: int, prompt_len: int) -> int:
    """Device bytes one batch's prefill needs while a layer runs, whatever the placement: the
    MLP's hidden activations (s x ffn per sequence) and the attention scores (heads x s x s per
    sequence), at ``dtype_bytes``. It bounds the batch size (the GPU batch); the zig-zag block
    grows the effective batch past it (FlexGen section 4.1)."""
    b, s = checks.positive_int("batch_size", batch_size), checks.positive_int("prompt_len", prompt_len)
    return b * s * (cfg.ffn + cfg.heads * s) * cfg.dtype_bytes


def fits(hw: Hardware, resident: dict[str, float]) -> bool:
    """Whether every tier's peak bytes fit its capacity."""
    return all(resident[t.name] <= t.capacity_bytes for t in hw.tiers)


def generation(cfg: TransformerConfig, hw: Hardware, policy: Policy, workload: Workload = Workload(),
               schedule: str = "zigzag", p: dict[str, tuple[float, float, float]] | None = None) -> dict[str, Any]:
    """The time of a generation of one block (``policy.block_size`` sequences) and its traffic.

    Zig-zag: for each token step and layer, one step over all ``num_batches`` batches (one load
    of the weights). Row-by-row: each batch alone through every token step and layer, one batch
    after another (a load of the weights per batch). Returns ``time_s``, ``tokens_per_s``
    (generated tokens over prefill + decode time, FlexGen's throughput), ``prefill_s``,
    ``decode_s``, ``bytes`` per link, ``resident`` bytes per tier and ``fits``. ``p`` overrides
    the element split (``parts``), e.g. with the fractional parts of an LP's solution."""
    _check(cfg, policy, workload, schedule)
    p = parts(cfg, policy.placement) if p is None else p
    k = policy.num_batches
    groups, per_step = (1, k) if schedule == "zigzag" else (k, 1)
    times = {"prefill": 0.0, "decode": 0.0}
    moved = dict.fromkeys(LINKS, 0.0)
    for token in range(workload.gen_len):
        for layer in range(cfg.layers):
            t = step_time(cfg, hw, policy, workload, token, layer, per_step, p)
            times["prefill" if token == 0 else "decode"] += groups * t["total"]
            traffic = step_traffic(cfg, policy, workload, token, layer, per_step, p)
            for link in LINKS:
                moved[link] += groups * traffic[link]
    total = times["prefill"] + times["decode"]
    resident = resident_bytes(cfg, policy, workload, schedule, p)
    return {
        "schedule": schedule, "time_s": total, "prefill_s": times["prefill"], "decode_s": times["decode"],
        "tokens_per_s": policy.block_size * workload.gen_len / total,
        "bytes": moved, "resident": resident, "fits": fits(hw, resident),
    }
