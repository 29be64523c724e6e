"""Every default of the paged KV cache topic, in one place (as nano-vllm's ``config.py``).

``mlsys-kit kvcache waste|blocks|generate``, the demo section, the lecture widget and the
accounting functions read their defaults from :data:`KVCACHE`; nothing else restates them.
Three groups, one per CLI command:

* memory accounting (``waste``; PagedAttention, SOSP'23, sections 3 and 6.1): ShareGPT-like
  requests, the ``max_len`` a static system reserves per request, the block size and the sweep
  of block sizes (section 7.2), fork samples and a shared system prompt (section 4.4);
* the scripted block-pool timeline (``blocks`` and the widget): small blocks so a lecture can
  see every one;
* greedy generation of the tiny GPT through the paged cache (``generate``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from mlsys_kit.checks import nonneg_int, positive_int


@dataclass(frozen=True)
class KVCacheConfig:
    """The topic's knobs; every field is validated (a ``ValueError`` says what is allowed)."""

    # memory accounting (`kvcache waste`)
    block_size: int = 16  # vLLM's default block size (section 7.2)
    requests: int = 1000
    max_len: int = 2048  # tokens a static system reserves per request (prompt + output cap)
    samples: int = 4  # parallel samples per request for the fork-sharing figure
    shared_prefix: int = 64  # tokens of a system prompt every request shares (prefix caching)
    seed: int = 0
    sweep: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256)  # block sizes of the trade-off figure
    # the scripted timeline (`kvcache blocks`, the demo's grid, the widget)
    grid_block_size: int = 4
    grid_steps: int = 8  # events the demo's figure shows (`blocks --steps`: all by default)
    widget_step: int = 5  # where the widget's event slider starts
    widget_block_sizes: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    # greedy generation (`kvcache generate`)
    preset: str = "tiny"
    prompts: int = 4
    prompt_len: int = 16
    max_new_tokens: int = 32
    generate_block_size: int = 16

    def __post_init__(self) -> None:
        for name in ("block_size", "requests", "samples", "grid_block_size", "prompts", "prompt_len",
                     "max_new_tokens", "generate_block_size"):
            positive_int(name, getattr(self, name))
        for name in ("shared_prefix", "seed", "grid_steps", "widget_step"):
            nonneg_int(name, getattr(self, name))
        if positive_int("max_len", self.max_len) < 2:
            raise ValueError(f"max_len must be at least 2 (one prompt and one output token): got {self.max_len}")
        if self.shared_prefix >= self.max_len - 1:
            raise ValueError(f"shared_prefix must be below max_len - 1 = {self.max_len - 1}: got {self.shared_prefix}")
        for name in ("sweep", "widget_block_sizes"):
            sizes = getattr(self, name)
            if not isinstance(sizes, tuple) or not sizes:
                raise ValueError(f"{name} must be a non-empty tuple of positive integers: got {sizes!r}")
            for b in sizes:
                positive_int(f"every block size in {name}", b)
        if self.grid_block_size not in self.widget_block_sizes:
            raise ValueError(f"grid_block_size must be one of widget_block_sizes {self.widget_block_sizes}: "
                             f"got {self.grid_block_size}")
        if not isinstance(self.preset, str) or not self.preset:
            raise ValueError(f"preset must be a model preset name (tiny, micro, gpt2): got {self.preset!r}")
        # (the preset's name and n_positions are checked where the model is built: `kvcache generate`,
        # mlsys_kit.models.gpt.preset; importing the model here would pull torch into the accounting)

    def replace(self, **changes) -> "KVCacheConfig":
        return replace(self, **changes)


KVCACHE = KVCacheConfig()
