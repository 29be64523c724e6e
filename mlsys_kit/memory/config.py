"""Every default of the training-memory topic, in one place (as nano-vllm's ``config.py``).

``mlsys-kit memory plan|run|offload``, the demo section, the lecture widget and
:func:`mlsys_kit.memory.real.run_plan` read their defaults from :data:`MEMORY`; nothing else
restates them. (The demo's paper settings, e.g. vDNN's VGG-16 at batch 256 on a 12 GB Titan X,
are the papers' own experiments and stay beside the numbers they reproduce.)

* ``plan`` and the widget: a layer chain of a model preset at a batch size (Checkmate, MLSys'20;
  Capuchin, ASPLOS'20);
* ``run``: one real training step of the micro GPT under a policy (Chen et al. 2016), and the link
  its offload/hybrid plans assume;
* ``offload``: ZeRO-Offload (ATC'21) on the paper's 32 GB V100 over PCIe 3.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from mlsys_kit.checks import nonneg_int, nonneg_number, positive_int, positive_number

CHAIN_PRESETS = ("gpt2", "opt-13b", "llama2-7b", "llama2-70b", "vgg16")  # models `memory plan` builds a chain of
RUN_PRESETS = ("micro", "tiny")  # GPT presets `memory run` trains for real


@dataclass(frozen=True)
class MemoryConfig:
    """The topic's knobs; every field is validated (a ``ValueError`` says what is allowed)."""

    # `memory plan` and the widget
    plan_preset: str = "gpt2"
    plan_batch: int = 8
    widget_budget_gb: float = 12.0
    widget_link_gbps: float = 16.0  # PCIe 4 x16, about 16 GB/s each way
    # `memory run`: the real step
    run_preset: str = "micro"
    run_batch: int = 2
    run_seq: int = 16
    run_link_gbps: float = 10.0
    seed: int = 0
    # `memory offload`: ZeRO-Offload
    offload_ranks: int = 1
    offload_device_gb: float = 32.0  # the paper's V100
    offload_activations_gb: float = 0.0
    offload_link_gbps: float = 12.0  # PCIe 3 x16

    def __post_init__(self) -> None:
        if self.plan_preset not in CHAIN_PRESETS:
            raise ValueError(f"plan_preset must be one of {', '.join(CHAIN_PRESETS)}: got {self.plan_preset!r}")
        if self.run_preset not in RUN_PRESETS:
            raise ValueError(f"run_preset must be one of {', '.join(RUN_PRESETS)}: got {self.run_preset!r}")
        for name in ("plan_batch", "run_batch", "run_seq", "offload_ranks"):
            positive_int(name, getattr(self, name))
        nonneg_int("seed", self.seed)
        for name in ("widget_budget_gb", "widget_link_gbps", "run_link_gbps", "offload_device_gb", "offload_link_gbps"):
            positive_number(name, getattr(self, name))
        nonneg_number("offload_activations_gb", self.offload_activations_gb)

    def replace(self, **changes) -> "MemoryConfig":
        return replace(self, **changes)


MEMORY = MemoryConfig()
