"""Per-layer communication, memory and time of one training step under 3D parallelism.

One plan is (t, p, d, microbatch b, interleaving v, ZeRO stage, recomputation, sequence
parallelism) on a described :class:`Cluster`. The model follows

* Narayanan et al., *Efficient Large-Scale Language Model Training on GPU Clusters Using
  Megatron-LM* (SC'21): section 3 (the analysis of t, p, d and b), section 2.2 (the pipeline
  bubble of 1F1B, ``(p-1)/m``, and of the interleaved schedule, ``(p-1)/(v m)``), section 4.1
  (the scatter/gather of point-to-point sends over the t ranks);
* Korthikanti et al., *Reducing Activation Recomputation in Large Transformer Models*
  (MLSys'23), section 4 and table 2: activation bytes per layer, ``s b h (34 + 5 a s / h)``
  without parallelism, ``s b h (10 + 24/t + 5 a s/(h t))`` with tensor parallelism,
  ``s b h/t (34 + 5 a s/h)`` with sequence parallelism, ``2 s b h`` with full recomputation
  (``/t`` with sequence parallelism), and selective recomputation (drop the ``5 a s / h``);
* Rajbhandari et al., *ZeRO* (SC'20): model states and data-parallel traffic come from
  :mod:`mlsys_kit.zero.model` (the same functions ``mlsys-kit zero`` uses);
* the pipeline: the bubble, its sensitivity to the point-to-point latency and the microbatches
  in flight come from the event simulator :func:`mlsys_kit.pipeline.simulate` run on the real
  1F1B / interleaved schedule (not from a formula), cached per (p, m, v); see
  :func:`pipeline_shape`.

The activation formula is written per term so that it holds for GQA (K and V of ``kv_heads``)
and SwiGLU MLPs: the 34 of GPT-3 is 10 replicated bytes (LayerNorm inputs 4, the inputs of QKV
and of the MLP's first linear 4, two dropout masks 2) and 24 split over t (Q, K, V 6, the output
projection's input 2, the MLP's inner activations 16 = 4 f/h for a GeLU MLP, 8 f/h for SwiGLU).

What the model leaves out, on purpose (say it where it matters): overlap of data-parallel
traffic with the backward pass (counted as exposed), the optimizer step, kernel launch costs,
memory fragmentation and framework buffers; every stage costs as much as the last one (which
holds the LM head), a pessimistic balance.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from mlsys_kit.checks import fraction, nonneg_number, one_of, positive_int, positive_number
from mlsys_kit.common import ceil_div
from mlsys_kit.models.costs import (DEVICES, PRESETS, Device, TransformerConfig, forward_flops_per_token, param_count,
                                    training_flops_per_token)
from mlsys_kit.pipeline.generators import make_schedule
from mlsys_kit.pipeline.simulate import simulate
from mlsys_kit.zero.model import comm_bytes_per_rank, memory_per_device, shard_elements

RECOMPUTE = ("none", "selective", "full")


@dataclass(frozen=True)
class Cluster:
    """``devices`` accelerators, ``devices_per_node`` to a node. Bandwidths are bytes/s one
    device can send (NVLink inside a node, the network between nodes); ``compute_efficiency``
    is the share of peak FLOP/s the big matrix multiplies reach (an assumption, 0.6 by default;
    Megatron-LM reports 163 of 312 TFLOP/s end to end for its largest runs)."""

    devices: int
    devices_per_node: int = 8
    device: str = "a100-80gb"
    intra_bandwidth: float = 300e9  # A100 NVLink3: 600 GB/s bidirectional, 300 GB/s each way
    inter_bandwidth: float = 25e9  # one 200 Gb/s HDR InfiniBand NIC per GPU (Selene, DGX A100)
    intra_latency: float = 5e-6
    inter_latency: float = 10e-6
    compute_efficiency: float = 0.6

    def __post_init__(self) -> None:
        positive_int("devices", self.devices)
        positive_int("devices_per_node", self.devices_per_node)
        one_of("device", self.device, DEVICES)
        for f in ("intra_bandwidth", "inter_bandwidth"):
            positive_number(f, getattr(self, f))
        for f in ("intra_latency", "inter_latency"):
            nonneg_number(f, getattr(self, f))
        fraction("compute_efficiency", self.compute_efficiency)
        if self.devices > self.devices_per_node and self.devices % self.devices_per_node:
            raise ValueError(f"devices ({self.devices}) must be a multiple of devices_per_node "
                             f"({self.devices_per_node}) when it spans several nodes")

    @property
    def spec(self) -> Device:
        return DEVICES[self.device]

    def link(self, group_span: int) -> tuple[float, float]:
        """(bandwidth, latency) of a collective over ``group_span`` consecutive ranks."""
        if group_span <= self.devices_per_node:
            return self.intra_bandwidth, self.intra_latency
        return self.inter_bandwidth, self.inter_latency


@dataclass(frozen=True)
class Plan:
    tensor: int
    pipeline: int
    data: int
    microbatch: int
    interleave: int = 1
    zero_stage: int = 0
    recompute: str = "none"
    sequence_parallel: bool = False


# -- communication -----------------------------------------------------------------------

def tp_step_elements(layers: int, tokens: int, hidden: int, t: int, sequence_parallel: bool = False,
                     recompute: bool = False, sp_replicated_params: int = 0) -> int:
    """Elements one tensor-parallel rank sends in one step of ``layers`` layers over ``tokens``
    tokens, as :mod:`mlsys_kit.parallel.runtime` runs it: each layer's
    :func:`~mlsys_kit.parallel.tensor.layer_comm_elements`; under sequence parallelism also
    the all-gather leaving the sequence-parallel region before the LM head and the one of its
    gradient entering it (one ``u`` each), and one all-reduce of the gradients of the
    replicated parameters that saw only a shard (LayerNorms, row-parallel biases)."""
    from mlsys_kit.parallel.tensor import layer_comm_elements  # its module holds the torch operators: loaded at
    # the first plan, not by the CLI's start (the counts are arithmetic; lab 7 grades them from that module)

    positive_int("layers", layers)
    total = layers * layer_comm_elements(tokens, hidden, t, sequence_parallel, recompute)["total"]
    if sequence_parallel and t > 1:
        total += 2 * (t - 1) * tokens * hidden // t
        if sp_replicated_params:
            total += 2 * (t - 1) * ceil_div(sp_replicated_params, t)
    return total


# -- memory ------------------------------------------------------------------------------

def activation_bytes_per_layer(cfg: TransformerConfig, microbatch: int, t: int = 1, sequence_parallel: bool = False,
                               recompute: str = "none") -> float:
    """Bytes one layer keeps for the backward pass of one microbatch (Korthikanti et al.,
    table 2, per term; 16-bit activations, 1-byte dropout masks)."""
    one_of("recompute", recompute, RECOMPUTE)
    s, b, h, a = cfg.seq_len, positive_int("microbatch", microbatch), cfg.hidden, cfg.heads
    sbh = s * b * h
    if recompute == "full":  # only the layer's input survives
        return 2 * sbh / (t if sequence_parallel else 1)
    kvr = cfg.n_kv_heads / cfg.heads
    inner = (4 if cfg.mlp == "gelu" else 8) * cfg.ffn / h
    replicated = 10.0
    split = 2 + 4 * kvr + 2 + inner  # Q, K, V, output-projection input, MLP inner activations
    scores = 0.0 if recompute == "selective" else 5 * a * s / h
    if sequence_parallel:
        return sbh * (replicated + split + scores) / t
    return sbh * (replicated + (split + scores) / t)


def stage_params(cfg: TransformerConfig, t: int, p: int) -> float:
    """Parameters one device holds: its 1/t of the layers of one stage, plus the embedding
    (or LM head) split over t on the end stages (the bigger end is counted)."""
    per_layer = (param_count(cfg) - _embedding_params(cfg) - _final_norm(cfg)) / cfg.layers
    # the first stage holds the token (and position) embedding; the last the LM head (a copy of
    # the embedding when tied, as Megatron-LM keeps it): the bigger end is the first
    ends = _embedding_params(cfg) if p == 1 else (cfg.vocab + cfg.learned_positions) * cfg.hidden
    return (cfg.layers / p * per_layer + ends + _final_norm(cfg)) / t


def _embedding_params(cfg: TransformerConfig) -> int:
    head = 0 if cfg.tied_embeddings else cfg.vocab * cfg.hidden
    return cfg.vocab * cfg.hidden + cfg.learned_positions * cfg.hidden + head


def _final_norm(cfg: TransformerConfig) -> int:
    return 2 * cfg.hidden if cfg.norm == "layernorm" else cfg.hidden


# -- the pipeline, from the simulator ------------------------------------------------------

@functools.lru_cache(maxsize=4096)
def _simulated(p: int, m: int, v: int) -> tuple[float, float, float]:
    """(idle per rank in units of one microbatch's forward, extra makespan per unit of
    point-to-point latency, peak microbatches in flight on rank 0) from the event simulator at
    uniform costs t_f = 1, t_b = 2 (one microbatch through a rank's share of the layers)."""
    sched = make_schedule("interleaved-1f1b" if v > 1 else "1f1b", p, m, v)
    r0 = simulate(sched, 1.0, 2.0, 0.0, latency=0.0, check=False, costs_per_rank=True)
    eps = 1e-3
    r1 = simulate(sched, 1.0, 2.0, 0.0, latency=eps, check=False, costs_per_rank=True)
    return r0.makespan - 3.0 * m, (r1.makespan - r0.makespan) / eps, r0.peak_activations[0]


def pipeline_shape(p: int, m: int, v: int = 1, exact: bool = False) -> dict[str, float]:
    """What the event simulator says about a p-stage pipeline of m microbatches (1F1B, or
    interleaved 1F1B with v chunks per rank): ``bubble`` (idle / busy, Megatron-LM's bubble
    fraction), ``latency_factor`` (seconds of makespan each second of point-to-point latency
    adds) and ``in_flight`` (peak microbatches whose activations rank 0 holds, in units of one
    microbatch through the rank's share of the layers).

    Long pipelines are simulated at ``m0 = p + m mod p`` (``2p + m mod p`` interleaved) and
    ``m0 + p`` microbatches and extended to m: past the warm-up every further round of p
    microbatches adds busy time but no idle time, and the same latency (the tests check the
    extension against ``exact=True``, a direct simulation)."""
    positive_int("p", p)
    positive_int("m", m)
    positive_int("v", v)
    if p == 1:
        return {"bubble": 0.0, "latency_factor": 0.0, "in_flight": 1.0}
    m0 = (2 * p if v > 1 else p) + m % p  # so that m - m0 is a whole number of rounds of p microbatches
    if exact or m <= m0 + p:
        idle, lat, peak = _simulated(p, m, v)
    else:
        idle, lat0, _ = _simulated(p, m0, v)
        _, lat1, peak = _simulated(p, m0 + p, v)
        lat = lat0 + (m - m0) * (lat1 - lat0) / p
    return {"bubble": idle / (3.0 * m), "latency_factor": lat, "in_flight": peak}


def check_plan(cfg: TransformerConfig, cluster: Cluster, plan: Plan, global_batch: int) -> None:
    """Raise ValueError saying why ``plan`` cannot run at all (not: why it does not fit)."""
    t, p, d, b, v = plan.tensor, plan.pipeline, plan.data, plan.microbatch, plan.interleave
    for name, x in (("tensor", t), ("pipeline", p), ("data", d), ("microbatch", b), ("interleave", v)):
        positive_int(name, x)
    one_of("zero_stage", plan.zero_stage, (0, 1, 2, 3))
    one_of("recompute", plan.recompute, RECOMPUTE)
    if t * p * d != cluster.devices:
        raise ValueError(f"tensor x pipeline x data must equal the devices: {t} x {p} x {d} != {cluster.devices}")
    if cfg.heads % t or (cfg.n_kv_heads % t and t % cfg.n_kv_heads):
        raise ValueError(f"tensor={t} must divide the {cfg.heads} attention heads (and divide or be a multiple "
                         f"of the {cfg.n_kv_heads} KV heads)")
    if cfg.layers % (p * v):
        raise ValueError(f"pipeline x interleave = {p * v} must divide the {cfg.layers} layers")
    if v > 1 and p == 1:
        raise ValueError("interleave > 1 needs pipeline > 1")
    if global_batch % (d * b):
        raise ValueError(f"the global batch {global_batch} must be a multiple of data x microbatch = {d * b}")
    m = global_batch // (d * b)
    if p > 1 and (m < p or (v > 1 and m % p)):
        raise ValueError(f"{m} microbatches per pipeline: 1F1B needs at least p={p}"
                         + (", and the interleaved schedule a multiple of p" if v > 1 else ""))
    if plan.zero_stage >= 2 and p > 1:
        raise ValueError("ZeRO stage 2 and 3 partition what every microbatch's backward (stage 2) or forward "
                         "(stage 3) needs: with pipeline parallelism only stages 0 and 1 (as in DeepSpeed)")
    if plan.sequence_parallel and (t == 1 or cfg.seq_len % t):
        raise ValueError("sequence parallelism needs tensor > 1 and seq_len a multiple of tensor")


def evaluate(cfg: TransformerConfig, cluster: Cluster, plan: Plan, global_batch: int, check: bool = True) -> dict[str, Any]:
    """Memory per device and step time of ``plan`` (raises ValueError for an impossible plan).

    Returns the plan's fields plus ``memory`` and ``time`` breakdowns (bytes, seconds),
    ``memory_bytes``, ``fits``, ``step_time``, ``mfu`` (model FLOPs of the kit's
    :func:`~mlsys_kit.models.costs.training_flops_per_token`, no recomputation) and ``hfu``
    (FLOPs the hardware runs, recomputation included).
    """
    from mlsys_kit.parallel.tensor import layer_comm_elements  # see tp_step_elements

    if check:  # the planner checked every candidate already
        positive_int("global_batch", global_batch)
        check_plan(cfg, cluster, plan, global_batch)
    t, p, d, b, v = plan.tensor, plan.pipeline, plan.data, plan.microbatch, plan.interleave
    m = global_batch // (d * b)
    dev, db = cluster.spec, cfg.dtype_bytes
    shape = pipeline_shape(p, m, v)
    tokens = b * cfg.seq_len

    # memory
    psi = stage_params(cfg, t, p)
    states = memory_per_device(max(1, round(psi)), d, plan.zero_stage, 12)
    layers_here = cfg.layers // p
    per_layer = activation_bytes_per_layer(cfg, b, t, plan.sequence_parallel, plan.recompute)
    acts = shape["in_flight"] * layers_here * per_layer
    if plan.recompute == "full":  # one layer's activations live again while it is recomputed
        acts += activation_bytes_per_layer(cfg, b, t, plan.sequence_parallel, "none")
    logits = 4 * tokens * cfg.vocab / t  # fp32 logits of the last stage's microbatch
    memory = {"weights": states.params_bytes, "gradients": states.grads_bytes, "optimizer": states.optimizer_bytes,
              "activations": acts, "logits": logits}
    total_mem = sum(memory.values())

    # time of one microbatch through one stage: compute and tensor-parallel traffic
    flops_layer = (forward_flops_per_token(cfg, max(1, cfg.seq_len // 2)) - 2 * cfg.vocab * cfg.hidden) / cfg.layers
    speed = dev.peak_flops * cluster.compute_efficiency
    f_layer = tokens * flops_layer / t / speed
    head = 2 * tokens * cfg.vocab * cfg.hidden / t / speed
    recompute_f = {"none": 0.0, "full": f_layer,
                   "selective": tokens * 2 * cfg.seq_len * cfg.hidden / t / speed}[plan.recompute]
    bw, lat = cluster.link(t)
    comm = layer_comm_elements(tokens, cfg.hidden, t, plan.sequence_parallel, plan.recompute == "full")
    steps = 4 * (t - 1)  # ring steps of one layer's forward collectives, each paying the latency
    tp_f = comm["forward"] * db / bw + steps * lat if t > 1 else 0.0
    tp_b = comm["backward"] * db / bw + steps * lat * (2 if plan.recompute == "full" else 1) if t > 1 else 0.0
    t_f = layers_here * (f_layer + tp_f) + head
    t_b = layers_here * (2 * f_layer + recompute_f + tp_b) + 2 * head
    p_bw, p_lat = cluster.link(t * d * p)
    p2p = (tokens * cfg.hidden * db / t) / p_bw + p_lat if p > 1 else 0.0
    busy = m * (t_f + t_b)
    pipe = busy * (1 + shape["bubble"]) + shape["latency_factor"] * p2p

    # data parallelism (ZeRO stages: the same ring volumes as mlsys-kit zero)
    dp = 0.0
    if d > 1:
        n = max(1, round(psi))
        d_bw, d_lat = cluster.link(t * d)
        volume = comm_bytes_per_rank(n, d, plan.zero_stage, db)
        ag = (d - 1) * shard_elements(n, d) * db
        if plan.zero_stage == 2:  # each microbatch's gradient is reduce-scattered at once
            volume += (m - 1) * ag
        if plan.zero_stage == 3:  # parameters gathered for every microbatch's forward and backward
            volume += (m - 1) * 2 * ag
        dp = volume / d_bw + 2 * (d - 1) * d_lat
    step = pipe + dp
    compute = m * layers_here * (3 * f_layer + recompute_f) + 3 * m * head
    tp_time = m * layers_here * (tp_f + tp_b)
    time = {"compute": compute, "tensor_comm": tp_time, "bubble": pipe - busy - shape["latency_factor"] * p2p,
            "pipeline_p2p": shape["latency_factor"] * p2p, "data_comm": dp}
    model_flops = training_flops_per_token(cfg) * global_batch * cfg.seq_len
    extra = {"none": 0.0, "full": 1 / 3, "selective": 0.0}[plan.recompute]
    out = dict(plan.__dict__)
    out.update(microbatches=m, step_time=step, memory_bytes=total_mem, fits=total_mem <= dev.memory_bytes,
               device_memory_bytes=dev.memory_bytes, memory=memory, time=time, bubble_fraction=shape["bubble"],
               mfu=model_flops / (step * cluster.devices * dev.peak_flops),
               hfu=model_flops * (1 + extra) / (step * cluster.devices * dev.peak_flops),
               tokens_per_second=global_batch * cfg.seq_len / step)
    return out


# Models of the papers whose numbers docs/parallel.md reproduces (Megatron-LM SC'21, table 1).
PAPER_MODELS: dict[str, TransformerConfig] = {
    # 1,008 B parameters: 128 layers, hidden 25,600, 160 heads, vocab 51,200, sequence 2,048
    "megatron-1t": TransformerConfig(name="megatron-1t", layers=128, hidden=25600, heads=160, vocab=51200,
                                     seq_len=2048),
    # GPT-3 175B as Megatron-LM trains it: 96 layers, hidden 12,288, 96 heads
    "gpt3-175b": TransformerConfig(name="gpt3-175b", layers=96, hidden=12288, heads=96, vocab=51200, seq_len=2048),
}


def model_config(name: str) -> TransformerConfig:
    """A :data:`mlsys_kit.models.costs.PRESETS` preset or one of :data:`PAPER_MODELS`."""
    known = {**PRESETS, **PAPER_MODELS}
    return known[one_of("preset", name, known)]
