"""The two orders of offloaded generation: row-by-row against FlexGen's zig-zag block schedule.

Sheng et al., *FlexGen* (ICML'23), section 4.1 and figure 3. Generation is a grid of compute
steps (token, layer, batch): token step 0 is the prefill, each later one a decode step. A step
may run once its layer's previous step on the same batch has run (layer l-1 of token t) and the
same layer of the batch's previous token (layer l of token t-1: its KV entries).

* **Row-by-row** (what DeepSpeed ZeRO-Inference and Hugging Face Accelerate do): one batch at a
  time runs its whole generation, token after token, layer after layer. Every step loads its
  layer's weights: a layer's weights are loaded once per batch per token step.
* **Zig-zag** (FlexGen's block schedule, Algorithm 1): for each token step, for each layer, the
  whole block of batches, one after another, before the next layer. The layer's weights are
  loaded once for the block and reused by every batch; the price is the block's KV cache and
  activations held at once (``cost.resident_bytes``).

Each step carries the loads it needs before it runs and the stores it makes after: ``weights``
(the layer's: every step of row-by-row, the block's first batch in zig-zag), ``kv_cache`` (the
batch's entries so far, decode steps only), ``activations`` in (from layer 1 on) and out (up to
the last layer but one), matching the traffic that ``cost.step_traffic`` prices.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlsys_kit import checks

ORDERS = ("zigzag", "row")


@dataclass(frozen=True)
class Step:
    """One compute step: layer ``layer`` of token step ``token`` on batch ``batch``, the tensors
    it ``loads`` first and those it ``stores`` after (names from ``config.KINDS``)."""

    token: int
    layer: int
    batch: int
    loads: tuple[str, ...]
    stores: tuple[str, ...]


def _check(layers: int, tokens: int, batches: int) -> tuple[int, int, int]:
    return (checks.positive_int("layers", layers), checks.positive_int("tokens", tokens),
            checks.positive_int("batches", batches))


def _step(token: int, layer: int, batch: int, layers: int, load_weights: bool) -> Step:
    loads = (("weights",) if load_weights else ()) + (("kv_cache",) if token > 0 else ()) \
        + (("activations",) if layer > 0 else ())
    stores = ("kv_cache",) + (("activations",) if layer < layers - 1 else ())
    return Step(token, layer, batch, loads, stores)


def row_by_row(layers: int, tokens: int, batches: int) -> list[Step]:
    """Row-by-row order: for each batch, for each token step, for each layer (figure 3a)."""
    layers, tokens, batches = _check(layers, tokens, batches)
    return [_step(t, l, j, layers, True)
            for j in range(batches) for t in range(tokens) for l in range(layers)]


def zigzag(layers: int, tokens: int, batches: int) -> list[Step]:
    """Zig-zag block order: for each token step, for each layer, for each batch of the block
    (figure 3b); the weights are loaded by the block's first batch only."""
    layers, tokens, batches = _check(layers, tokens, batches)
    return [_step(t, l, j, layers, j == 0)
            for t in range(tokens) for l in range(layers) for j in range(batches)]


def order(name: str, layers: int, tokens: int, batches: int) -> list[Step]:
    """The order called ``name`` (``"zigzag"`` or ``"row"``)."""
    fn = {"zigzag": zigzag, "row": row_by_row}[checks.one_of("schedule", name, ORDERS)]
    return fn(layers, tokens, batches)


def check_order(steps: list[Step], layers: int, tokens: int, batches: int) -> None:
    """Raise ValueError unless ``steps`` computes every (token, layer, batch) exactly once, each
    after its dependencies (layer l-1 of the same token, layer l of the previous token)."""
    layers, tokens, batches = _check(layers, tokens, batches)
    done: set[tuple[int, int, int]] = set()
    for s in steps:
        key = (s.token, s.layer, s.batch)
        if not (0 <= s.token < tokens and 0 <= s.layer < layers and 0 <= s.batch < batches):
            raise ValueError(f"step {key} is outside the grid of {tokens} tokens x {layers} layers x {batches} batches")
        if key in done:
            raise ValueError(f"step {key} (token, layer, batch) is computed twice")
        if s.layer > 0 and (s.token, s.layer - 1, s.batch) not in done:
            raise ValueError(f"step {key} runs before layer {s.layer - 1} of the same token")
        if s.token > 0 and (s.token - 1, s.layer, s.batch) not in done:
            raise ValueError(f"step {key} runs before layer {s.layer} of token {s.token - 1}")
        done.add(key)
    if len(done) != layers * tokens * batches:
        raise ValueError(f"{layers * tokens * batches - len(done)} of the {layers * tokens * batches} steps never run")


def weight_loads(steps: list[Step]) -> dict[int, int]:
    """How many times each layer's weights are loaded."""
    counts: dict[int, int] = {}
    for s in steps:
        if "weights" in s.loads:
            counts[s.layer] = counts.get(s.layer, 0) + 1
    return counts
