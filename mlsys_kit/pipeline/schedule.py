"""The schedule IR: per pipeline rank, an ordered list of actions.

Vocabulary (Zero Bubble Pipeline Parallelism, Qi et al., ICLR'24, section 2):

* ``F``  forward of one microbatch through one stage;
* ``B``  backward for the stage's *inputs* only (the activation gradient the previous stage waits for);
* ``W``  backward for the stage's *weights* only (nobody waits for it, so it can fill bubbles);
* ``BW`` ``B`` and ``W`` fused: the ordinary backward of GPipe and 1F1B.

``torch.distributed.pipelining`` uses other letters for the same things: its ``"B"``
(FULL_BACKWARD) is our ``BW`` and its ``"I"`` (BACKWARD_INPUT) is our ``B``; ``F`` and ``W``
agree. :data:`TORCH_KIND` and :data:`FROM_TORCH_KIND` spell the mapping out.

A model is cut into ``num_stages`` consecutive *stages* (``stage`` in an :class:`Action` is the
global stage index, 0 is the one that sees the input). The placement ``stage -> rank`` is part
of the schedule: ``stage = rank`` for GPipe/1F1B, looped (``stage = chunk * p + rank``) for
interleaved 1F1B (Megatron-LM, Narayanan et al., SC'21, section 2.2), V-shaped for ZB-V.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

from mlsys_kit.checks import nonneg_int, one_of, positive_int

KINDS = ("F", "B", "W", "BW")
TORCH_KIND = {"F": "F", "B": "I", "W": "W", "BW": "B"}  # ours -> torch's _ComputationType value
FROM_TORCH_KIND = {v: k for k, v in TORCH_KIND.items()}  # torch's -> ours


@dataclass(frozen=True, order=True)
class Action:
    """One unit of work: ``kind`` (F, B, W or BW) of ``microbatch`` on global ``stage``."""

    kind: str
    microbatch: int
    stage: int

    def __post_init__(self) -> None:
        one_of("action kind", self.kind, KINDS)
        nonneg_int("action microbatch", self.microbatch)
        nonneg_int("action stage", self.stage)

    def __str__(self) -> str:  # e.g. "BW3@s1"
        return f"{self.kind}{self.microbatch}@s{self.stage}"

    @classmethod
    def parse(cls, text: str) -> "Action":
        """Inverse of ``str``: ``"BW3@s1"`` -> ``Action("BW", 3, 1)``."""
        body, sep, stage = text.strip().partition("@s")
        kind = body.rstrip("0123456789")
        mb = body[len(kind):]
        if not sep or not mb.isdigit() or not stage.isdigit():
            raise ValueError(f"action must look like F3@s1 (kind, microbatch, @s, stage): got {text!r}")
        return cls(kind, int(mb), int(stage))


@dataclass
class Schedule:
    """Per-rank action lists plus the stage -> rank placement.

    ``placement[s]`` is the rank that holds stage ``s``; ``ranks[r]`` is the order in which
    rank ``r`` runs its actions. Build one by hand or with :mod:`mlsys_kit.pipeline.generators`;
    check it with :func:`mlsys_kit.pipeline.validate.validate`.
    """

    ranks: list[list[Action]]
    placement: tuple[int, ...]
    num_microbatches: int
    name: str = "custom"
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.ranks, (list, tuple)) or not self.ranks:
            raise ValueError(f"ranks must be a non-empty list of per-rank action lists: got {self.ranks!r}")
        self.ranks = [list(r) for r in self.ranks]
        for r, acts in enumerate(self.ranks):
            for i, a in enumerate(acts):
                if not isinstance(a, Action):
                    raise ValueError(f"rank {r} step {i}: every entry must be an Action: got {a!r}")
        self.placement = tuple(self.placement)
        if not self.placement:
            raise ValueError("placement must list the rank of every stage: got an empty placement")
        for s, r in enumerate(self.placement):
            if isinstance(r, bool) or not isinstance(r, int) or not 0 <= r < len(self.ranks):
                raise ValueError(f"placement[{s}] must be a rank in 0..{len(self.ranks) - 1}: got {r!r}")
        positive_int("num_microbatches", self.num_microbatches)

    @property
    def num_ranks(self) -> int:
        return len(self.ranks)

    @property
    def num_stages(self) -> int:
        return len(self.placement)

    @property
    def chunks(self) -> int:
        """Stages per rank (v): 1 for GPipe/1F1B, v for interleaved, 2 for ZB-V."""
        return max(self.placement.count(r) for r in range(self.num_ranks))

    def stages_of(self, rank: int) -> list[int]:
        return [s for s, r in enumerate(self.placement) if r == rank]

    def actions(self) -> Iterable[tuple[int, int, Action]]:
        """Every (rank, step, action) in rank order."""
        for r, acts in enumerate(self.ranks):
            for i, a in enumerate(acts):
                yield r, i, a

    def to_text(self) -> str:
        """One line per rank, e.g. ``rank 0: F0@s0 F1@s0 BW0@s0 ...``."""
        return "\n".join(f"rank {r}: " + " ".join(map(str, acts)) for r, acts in enumerate(self.ranks))

    @classmethod
    def from_text(cls, text: str, placement: Sequence[int], num_microbatches: int, name: str = "custom") -> "Schedule":
        """Parse the format :meth:`to_text` writes (the ``rank r:`` prefixes are optional)."""
        ranks = []
        for line in text.strip().splitlines():
            line = line.split(":", 1)[1] if ":" in line else line
            ranks.append([Action.parse(tok) for tok in line.split()])
        return cls(ranks, tuple(placement), num_microbatches, name)


def loop_placement(p: int, v: int) -> tuple[int, ...]:
    """Looped placement (Megatron interleaving): stage ``s`` lives on rank ``s % p``."""
    positive_int("p (ranks)", p)
    positive_int("v (chunks per rank)", v)
    return tuple(s % p for s in range(p * v))


def v_placement(p: int) -> tuple[int, ...]:
    """V-shaped placement (ZB-V): stages 0..p-1 go down ranks 0..p-1, stages p..2p-1 come back up."""
    positive_int("p (ranks)", p)
    return tuple(list(range(p)) + list(range(p - 1, -1, -1)))
