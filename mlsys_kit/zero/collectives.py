"""N simulated ranks in one process, with ring collectives that count every byte.

The collectives of ZeRO (SC'20 section 7) run here as the ring algorithm really runs them,
step by step: a rank only ever sends one chunk to its right neighbour ``(r + 1) % N`` per
step, and every send is counted (``sent[r]``, ``received[r]``, in bytes). The counts are
therefore a property of the algorithm, not a formula, and the tests compare them with the
analytic volume of :mod:`mlsys_kit.zero.model`.

Accounting, per rank, for a buffer of ``n`` elements padded to a multiple of N
(chunk = n / N):

* ``reduce_scatter`` (ring): N - 1 steps, each sends one chunk: (N - 1)·chunk elements;
* ``all_gather`` (ring): the same, (N - 1)·chunk;
* ``all_reduce`` (ring): reduce-scatter then all-gather, 2·(N - 1)·chunk;
* ``broadcast`` (pipelined chain root -> root+1 -> ...): every rank but the last in the chain
  sends n elements, every rank but the root receives n.

Tensors are never shared between ranks: each rank's result is its own tensor.
"""

from __future__ import annotations

from typing import Sequence

import torch

from mlsys_kit.checks import nonneg_int, positive_int
from mlsys_kit.common import ceil_div


class SimWorld:
    """``n`` ranks in one process; ``sent[r]``/``received[r]`` count bytes per rank."""

    def __init__(self, n: int) -> None:
        self.n = positive_int("world size n", n)
        self.sent = [0] * self.n
        self.received = [0] * self.n
        self.calls: dict[str, int] = {}

    def reset_counters(self) -> None:
        self.sent = [0] * self.n
        self.received = [0] * self.n
        self.calls = {}

    def _send(self, src: int, dst: int, t: torch.Tensor) -> torch.Tensor:
        nbytes = t.numel() * t.element_size()
        self.sent[src] += nbytes
        self.received[dst] += nbytes
        return t.clone()  # what arrives is a copy: ranks share no memory

    def _check(self, tensors: Sequence[torch.Tensor], what: str, divisible: bool) -> None:
        if len(tensors) != self.n:
            raise ValueError(f"{what} needs one tensor per rank: got {len(tensors)} for {self.n} ranks")
        shape, dtype = tensors[0].shape, tensors[0].dtype
        for r, t in enumerate(tensors):
            if t.dim() != 1:
                raise ValueError(f"{what} works on flat (1-D) buffers: rank {r} passed shape {tuple(t.shape)}")
            if t.shape != shape or t.dtype != dtype:
                raise ValueError(f"{what}: every rank must pass the same shape and dtype: rank 0 has "
                                 f"{tuple(shape)} {dtype}, rank {r} has {tuple(t.shape)} {t.dtype}")
        if divisible and shape[0] % self.n:
            raise ValueError(f"{what}: buffer of {shape[0]} elements is not a multiple of {self.n} ranks; "
                             f"pad it to {ceil_div(shape[0], self.n) * self.n} first")
        self.calls[what] = self.calls.get(what, 0) + 1

    def reduce_scatter(self, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Rank r gets the sum over ranks of chunk r of the inputs (ring, N - 1 steps)."""
        self._check(inputs, "reduce_scatter", divisible=True)
        n = self.n
        chunks = [list(t.clone().chunk(n)) for t in inputs]  # chunks[rank][c]
        for s in range(n - 1):
            # every rank sends at once: rank r sends its partial sum of chunk (r - s - 1) % N
            msgs = [(r, (r - s - 1) % n, self._send(r, (r + 1) % n, chunks[r][(r - s - 1) % n]))
                    for r in range(n)]
            for r, c, payload in msgs:
                chunks[(r + 1) % n][c] = chunks[(r + 1) % n][c] + payload
        return [chunks[r][r] for r in range(n)]

    def all_gather(self, shards: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Every rank gets the concatenation of all ranks' shards (ring, N - 1 steps)."""
        self._check(shards, "all_gather", divisible=False)
        n = self.n
        have = [{r: shards[r].clone()} for r in range(n)]
        for s in range(n - 1):
            msgs = [(r, (r - s) % n, self._send(r, (r + 1) % n, have[r][(r - s) % n])) for r in range(n)]
            for r, c, payload in msgs:
                have[(r + 1) % n][c] = payload
        return [torch.cat([have[r][c] for c in range(n)]) for r in range(n)]

    def all_reduce(self, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Every rank gets the elementwise sum: ring reduce-scatter, then ring all-gather."""
        self._check(inputs, "all_reduce", divisible=True)
        return self.all_gather(self.reduce_scatter(inputs))

    def broadcast(self, tensor: torch.Tensor, root: int = 0) -> list[torch.Tensor]:
        """Every rank gets a copy of ``tensor`` held by ``root`` (pipelined chain)."""
        nonneg_int("root", root)
        if root >= self.n:
            raise ValueError(f"root must be a rank 0..{self.n - 1}: got {root}")
        self.calls["broadcast"] = self.calls.get("broadcast", 0) + 1
        out: list[torch.Tensor | None] = [None] * self.n
        out[root] = tensor.clone()
        for i in range(self.n - 1):
            src, dst = (root + i) % self.n, (root + i + 1) % self.n
            out[dst] = self._send(src, dst, out[src])
        return out  # type: ignore[return-value]
