"""Analytic memory and communication model of ZeRO-DP.

Follows Rajbhandari et al., "ZeRO: Memory Optimizations Toward Training Trillion Parameter
Models" (SC'20): section 5 (memory of the model states under each stage, Figure 1 and
Table 1) and section 7 (communication volume per training step).

Vocabulary (the paper's): Ψ parameters, N_d data-parallel ranks, K bytes of optimizer state
per parameter. With mixed-precision Adam the model states are fp16 parameters (2 bytes each),
fp16 gradients (2 bytes each) and K = 12 bytes of optimizer state (fp32 master parameters,
fp32 momentum, fp32 variance). The stages partition, across the N_d ranks:

====== ========== ======================= ==============================
stage  paper      partitioned             bytes per device
====== ========== ======================= ==============================
0      baseline   nothing                 (2 + 2 + K) Ψ
1      P_os       optimizer states        (2 + 2) Ψ + K Ψ / N_d
2      P_os+g     + gradients             2 Ψ + (2 + K) Ψ / N_d
3      P_os+g+p   + parameters            (2 + 2 + K) Ψ / N_d
====== ========== ======================= ==============================

Communication (section 7), in units of Ψ elements sent per rank and step: plain data
parallelism all-reduces the gradients (2Ψ: reduce-scatter then all-gather); stages 1 and 2
reduce-scatter the gradients (Ψ) and all-gather the updated parameters (Ψ), also 2Ψ;
stage 3 all-gathers the parameters once for the forward and once for the backward pass and
reduce-scatters the gradients, 3Ψ. The paper's numbers are the large-N limit of the ring
algorithm; :func:`comm_bytes_per_rank` gives the exact ring figure, (N_d - 1) chunks of
ceil(Ψ / N_d) elements per collective.

How DeepSpeed's estimators differ (``estimate_zero2_model_states_mem_needs`` and
``estimate_zero3_model_states_mem_needs`` in DeepSpeed, without offload): they count
``4Ψ + 16Ψ/N`` for ZeRO-2 and ``18Ψ/N + 4·largest_layer`` for ZeRO-3, report GiB (2^30)
where the paper writes GB (10^9), and (with offload) a CPU figure times a 1.5 buffer factor.
The differences are implementation facts the paper's model leaves out: DeepSpeed upcasts the
reduced gradient partition to an fp32 buffer for the optimizer step (4 more bytes per
partitioned parameter: 16 = 12 + 4, not 12 + 2), ZeRO-2 keeps full-size fp16 gradient
buckets while the backward pass is running (the second 2Ψ), and ZeRO-3 must materialise the
fp16 parameters and gradients of the largest layer while it runs (4 bytes per parameter of
that layer). :func:`deepspeed_estimate_bytes` reproduces those formulas for comparison.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from mlsys_kit.checks import nonneg_int, one_of, positive_int, positive_number
from mlsys_kit.common import ceil_div
from mlsys_kit.zero.config import ZERO

STAGES = (0, 1, 2, 3)
PAPER_NAMES = {0: "baseline", 1: "P_os", 2: "P_os+g", 3: "P_os+g+p"}
# Elements each rank sends per step, in units of Ψ, in the large-N limit (section 7).
COMM_VOLUME_PSI = {0: 2, 1: 2, 2: 2, 3: 3}
# How many Ψ-sized collectives each stage runs per step, as (name, count) pairs.
COLLECTIVES = {
    0: (("all_reduce", 1),),
    1: (("reduce_scatter", 1), ("all_gather", 1)),
    2: (("reduce_scatter", 1), ("all_gather", 1)),
    3: (("all_gather", 2), ("reduce_scatter", 1)),
}


@dataclass(frozen=True)
class StageMemory:
    """Per-device bytes of the model states under one ZeRO stage (paper section 5)."""

    stage: int
    params_bytes: float
    grads_bytes: float
    optimizer_bytes: float
    total_bytes: float
    comm_volume_psi: int

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["paper_name"] = PAPER_NAMES[self.stage]
        return d


def _check(stage: int, params: int, ranks: int, k: float) -> None:
    one_of("stage", stage, STAGES)
    positive_int("params (Ψ)", params)
    positive_int("ranks (N_d)", ranks)
    if isinstance(k, bool) or not isinstance(k, (int, float)) or not k > 0 or k == float("inf"):
        raise ValueError(f"k (optimizer bytes per parameter) must be a positive number, e.g. 12 "
                         f"for mixed-precision Adam: got {k!r}")


def shard_elements(params: int, ranks: int) -> int:
    """Elements of one rank's partition of a flat buffer of ``params`` elements: ceil(Ψ/N_d).

    The buffer is padded to ``ranks * shard_elements`` so that every rank's partition has
    the same size (the last one holds the padding).
    """
    positive_int("params (Ψ)", params)
    positive_int("ranks (N_d)", ranks)
    return ceil_div(params, ranks)


def memory_per_device(params: int, ranks: int, stage: int, k: float = ZERO.k, *,
                      param_bytes: float = 2, grad_bytes: float = 2,
                      padded: bool = False) -> StageMemory:
    """Bytes of parameters, gradients and optimizer states one rank holds (section 5).

    ``param_bytes``/``grad_bytes`` are bytes per element (2 for fp16, the paper's setting;
    4 for an fp32 run, with ``k=8`` for Adam's two fp32 moments). With ``padded=True`` the
    states live in one flat buffer padded to ``N_d·ceil(Ψ/N_d)`` elements, which is what an
    implementation holds: a partitioned state takes ``ceil(Ψ/N_d)`` elements per rank and a
    replicated one the whole padded buffer; otherwise the paper's Ψ/N_d and Ψ.
    """
    _check(stage, params, ranks, k)
    positive_number("param_bytes", param_bytes)
    positive_number("grad_bytes", grad_bytes)
    part = shard_elements(params, ranks) if padded else params / ranks
    full = part * ranks if padded else params
    p = (part if stage >= 3 else full) * param_bytes
    g = (part if stage >= 2 else full) * grad_bytes
    o = (part if stage >= 1 else full) * k
    return StageMemory(stage, p, g, o, p + g + o, COMM_VOLUME_PSI[stage])


def all_stages(params: int, ranks: int, k: float = ZERO.k, **kw: Any) -> list[StageMemory]:
    """:func:`memory_per_device` for stages 0, 1, 2 and 3."""
    return [memory_per_device(params, ranks, s, k, **kw) for s in STAGES]


def bytes_per_param(ranks: int, stage: int, k: float = ZERO.k, *,
                    param_bytes: float = 2, grad_bytes: float = 2) -> float:
    """Bytes each device needs per model parameter under ``stage`` (Ψ = 1 in section 5)."""
    _check(stage, 1, ranks, k)
    m = memory_per_device(1, ranks, stage, k, param_bytes=param_bytes, grad_bytes=grad_bytes)
    return m.total_bytes


def max_params(device_bytes: float, ranks: int, stage: int, k: float = ZERO.k, **kw: Any) -> int:
    """The largest Ψ whose model states fit in ``device_bytes`` per device (Table 2, left).

    Activations, buffers and fragmentation are not counted, as in the paper.
    """
    positive_number("device memory (bytes)", device_bytes)
    return int(math.floor(device_bytes / bytes_per_param(ranks, stage, k, **kw) * (1 + 1e-12)))


def check_fits(params: int, ranks: int, stage: int, device_bytes: float, k: float = ZERO.k) -> StageMemory:
    """Return the stage's memory if it fits in ``device_bytes``; else a ValueError that says
    by how much it does not, the largest model that fits, and the stages that would fit."""
    m = memory_per_device(params, ranks, stage, k)
    positive_number("device memory (bytes)", device_bytes)
    if m.total_bytes > device_bytes:
        fits = [s for s in STAGES if memory_per_device(params, ranks, s, k).total_bytes <= device_bytes]
        hint = f"stage {fits[0]} would fit" if fits else "no stage fits at this N_d: add ranks"
        raise ValueError(
            f"a model of {params:,} parameters needs {m.total_bytes / 1e9:.3g} GB per device under "
            f"ZeRO stage {stage} with N_d={ranks}, K={k:g}, but the device has {device_bytes / 1e9:.3g} GB; "
            f"the largest that fits is {max_params(device_bytes, ranks, stage, k):,} parameters ({hint})")
    return m


def comm_elements_per_rank(params: int, ranks: int, stage: int) -> int:
    """Elements each rank sends (and receives) per step with ring collectives.

    A ring reduce-scatter or all-gather over a buffer padded to N_d·ceil(Ψ/N_d) elements moves
    (N_d - 1) chunks of ceil(Ψ/N_d) elements through every rank; an all-reduce is a
    reduce-scatter followed by an all-gather. Tends to ``COMM_VOLUME_PSI[stage] · Ψ``.
    """
    _check(stage, params, ranks, 1)
    per_collective = (ranks - 1) * shard_elements(params, ranks)
    weight = {"all_reduce": 2, "reduce_scatter": 1, "all_gather": 1}
    return per_collective * sum(weight[name] * n for name, n in COLLECTIVES[stage])


def comm_bytes_per_rank(params: int, ranks: int, stage: int, element_bytes: int = 2) -> int:
    """:func:`comm_elements_per_rank` times the bytes of one element (2 for fp16)."""
    positive_int("element_bytes", element_bytes)
    return comm_elements_per_rank(params, ranks, stage) * element_bytes


def deepspeed_estimate_bytes(params: int, ranks: int, stage: int, largest_layer_params: int = 0) -> int:
    """GPU bytes per device as DeepSpeed's estimators compute them (no offload, ZeRO-2/3).

    Stage 2: ``4Ψ + 16Ψ/N``; stage 3: ``18Ψ/N + 4·largest_layer``. See the module docstring
    for why they exceed :func:`memory_per_device`.
    """
    one_of("stage (DeepSpeed estimators exist for)", stage, (2, 3))
    _check(stage, params, ranks, 12)
    nonneg_int("largest_layer_params", largest_layer_params)
    if largest_layer_params > params:
        raise ValueError(f"largest_layer_params ({largest_layer_params}) cannot exceed params ({params})")
    if stage == 2:
        return 4 * params + int(16 * params / ranks)
    return 4 * largest_layer_params + int(18 * params / ranks)
