"""Every default of the ZeRO topic, in one place (as nano-vllm's ``config.py``).

``mlsys-kit zero memory|run``, the demo section, the lecture widget, the analytic model's
functions, the launcher and the benchmarks read their defaults from :data:`ZERO`; nothing
else restates them. Three groups:

* the analytic model (Rajbhandari et al., SC'20, section 5): K bytes of optimizer state per
  parameter (12 for mixed-precision Adam, section 3.1) and the paper's worked example of
  Figure 1 (Ψ = 7.5B parameters on N_d = 64 devices of 32 GB, the V100s of section 10);
* the real runtime (``zero run``, :func:`mlsys_kit.zero.launch.run_stages`): the MLP, the batch
  per rank, the Adam steps and the tolerance against DDP + Adam;
* the demo's N-rank simulation and its short real run on 2 gloo ranks.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from mlsys_kit.checks import nonneg_int, positive_int, positive_number


@dataclass(frozen=True)
class ZeroConfig:
    """The topic's knobs; every field is validated (a ``ValueError`` says what is allowed)."""

    # the analytic model (`zero memory`, the widget, the demo's Figure 1)
    k: float = 12  # optimizer bytes per parameter: fp32 params, momentum, variance (section 3.1);
    # an int, so that padded byte counts stay ints (the CLI parses --k as a float)
    example_params: int = 7_500_000_000  # Ψ of the paper's Figure 1
    example_ranks: int = 64  # N_d of Figure 1
    example_device_gb: float = 32.0  # V100 32 GB (section 10)
    # the real runtime (`zero run`, run_stages, torchrun)
    run_steps: int = 5
    run_sizes: tuple[int, ...] = (32, 64, 64, 16)  # widths of the MLP
    run_per_rank_batch: int = 8
    lr: float = 1e-3
    seed: int = 0
    atol: float = 1e-6  # largest |ZeRO - DDP| parameter difference called a match
    # the demo: the simulation on N ranks, then a short real run
    sim_ranks: int = 6
    sim_steps: int = 5
    sim_sizes: tuple[int, ...] = (10, 33, 5)  # 33: Ψ not a multiple of N_d, so padding shows
    demo_run_ranks: int = 2
    demo_run_steps: int = 3

    def __post_init__(self) -> None:
        positive_number("k", self.k)
        positive_number("example_device_gb", self.example_device_gb)
        positive_number("lr", self.lr)
        positive_number("atol", self.atol)
        for name in ("example_params", "example_ranks", "run_steps", "run_per_rank_batch", "sim_ranks",
                     "sim_steps", "demo_run_ranks", "demo_run_steps"):
            positive_int(name, getattr(self, name))
        nonneg_int("seed", self.seed)
        for name in ("run_sizes", "sim_sizes"):
            sizes = getattr(self, name)
            if not isinstance(sizes, tuple) or len(sizes) < 2:
                raise ValueError(f"{name} must be a tuple of at least two layer widths (input ... output): "
                                 f"got {sizes!r}")
            for width in sizes:
                positive_int(f"every layer width in {name}", width)

    def replace(self, **changes) -> "ZeroConfig":
        return replace(self, **changes)


ZERO = ZeroConfig()
