"""A request's life inside the engine: its tokens, how many have K/V in the cache, its times.

Orca (Yu et al., OSDI'22), section 3: a request is scheduled at the granularity of one
*iteration*. An iteration feeds a sequence some new tokens: its whole prompt or a chunk of it
(prefill; Sarathi-Serve, OSDI'24, section 4.1 splits prompts into chunks), or the one token it
generated last (decode). ``num_computed`` counts the tokens whose K/V are already in the cache;
when an iteration brings it up to ``length`` the model samples one new token. Preemption by
recompute (vLLM, SOSP'23, section 4.5) drops the cache and sets ``num_computed`` back to 0:
the prompt *and* the tokens generated so far are prefilled again when the sequence resumes.
"""

from __future__ import annotations

from enum import StrEnum

from mlsys_kit.serving.workload import Request


class SeqStatus(StrEnum):
    """Where a request is. A ``str`` enum: ``SeqStatus.WAITING == "waiting"``, so code (lab 3's)
    that writes or compares the plain strings works unchanged."""

    WAITING = "waiting"  # queued: arrived, or preempted by recompute (first in line again)
    RUNNING = "running"  # admitted: its K/V are in the cache, it is in the batch each iteration
    SWAPPED = "swapped"  # preempted by swap: its K/V wait in host memory (vLLM section 4.5)
    FINISHED = "finished"
    REJECTED = "rejected"  # turned away at arrival, never scheduled (Mooncake section 7, early rejection)


WAITING, RUNNING, SWAPPED, FINISHED, REJECTED = SeqStatus  # short names for the schedulers


class Seq:
    """Engine-side state of one :class:`Request`."""

    __slots__ = ("req", "rid", "arrival", "prompt_len", "output_len", "tokens", "num_generated",
                 "num_computed", "status", "first_token_time", "finish_time", "last_token_time", "max_gap", "num_preemptions",
                 "events", "order")

    def __init__(self, req: Request, order: int = 0, with_tokens: bool = True) -> None:
        self.req = req
        self.rid = req.rid
        self.arrival = req.arrival
        self.prompt_len = req.prompt_len
        self.output_len = req.output_len
        # token ids are tracked only where a model produces them (the real engine)
        self.tokens: list[int] | None = list(req.prompt) if with_tokens and req.prompt is not None else None
        self.num_generated = 0
        self.num_computed = 0
        self.status: SeqStatus | str = WAITING
        self.first_token_time: float | None = None
        self.finish_time: float | None = None
        self.last_token_time = 0.0
        self.max_gap = 0.0  # longest wait between two consecutive output tokens (Sarathi's TBT)
        self.num_preemptions = 0
        self.order = order  # admission order key (FCFS): arrival order
        # (time, state) whenever the state changes: queued, prefill, decode, preempted, finished
        self.events: list[tuple[float, str]] = [(req.arrival, "queued")]

    @property
    def length(self) -> int:
        """Tokens the sequence holds: prompt plus generated so far."""
        return self.prompt_len + self.num_generated

    @property
    def num_uncomputed(self) -> int:
        """Tokens still to feed before the next sample (1 while decoding)."""
        return self.prompt_len + self.num_generated - self.num_computed

    @property
    def is_decoding(self) -> bool:
        return self.prompt_len + self.num_generated - self.num_computed == 1 and self.num_generated > 0

    @property
    def outputs(self) -> list[int]:
        """The generated token ids (real engine only)."""
        return self.tokens[self.prompt_len:] if self.tokens is not None else []

    def __repr__(self) -> str:
        return (f"Seq(rid={self.rid}, {self.status}, prompt={self.prompt_len}, "
                f"generated={self.num_generated}/{self.output_len}, computed={self.num_computed})")
