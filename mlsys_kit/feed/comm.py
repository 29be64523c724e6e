"""Gradient communication scheduling for data-parallel training, as a timeline: FIFO all-reduce
per layer, DDP-style buckets, and ByteScheduler's priority scheduling with tensor partitioning and
credit-based preemption (Peng et al., "A Generic Communication Scheduler for Distributed DNN
Training Acceleration", SOSP'19, sections 2-4).

The step (section 2, Figure 1): backward runs last layer first, so layer ``L-1``'s gradient is ready
first; the *next* iteration's forward needs layer 0's all-reduced gradient first. Sending in the
order gradients appear (FIFO) makes layer 0 wait behind every other layer: the forward cannot start
until the whole model's communication is done. ByteScheduler (section 3) sends the layer the forward
needs soonest first (priority = layer index, lower is sooner), cuts tensors into chunks of
``partition`` bytes so a higher-priority gradient can overtake a big one between chunks (section
4.1), and keeps at most ``credit`` bytes handed to the network at once (section 4.2: enough to keep
the link busy, few enough that a new higher-priority chunk is not stuck behind many committed ones).

The network (alpha-beta): an all-reduce of ``b`` bytes over a ring of ``n`` workers occupies the
link for ``2(n-1)/n * b / bandwidth`` seconds and cannot start before ``latency`` seconds after it
was handed to the network (the per-message start-up). Messages cross the link one at a time in the
order they were handed over (one ring uses every link). FIFO and bucketing hand every message over
as soon as it is ready (unlimited credit); ByteScheduler hands over the most urgent ready chunk
while the bytes in flight stay within ``credit``.

Times are seconds, sizes bytes. ``iteration_time(layers, network, policy, **params)`` returns a
:class:`Timeline`; ``priority_order(grad_bytes, partition)`` is ByteScheduler's send order of
chunks when every gradient is ready.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Sequence

from mlsys_kit.checks import nonneg_number, one_of, positive_int, positive_number

POLICIES = ("fifo", "bucket", "bytescheduler")


@dataclass(frozen=True)
class Layer:
    """One layer of the model: forward and backward seconds, gradient bytes (0: no parameters)."""

    forward: float
    backward: float
    grad_bytes: int

    def __post_init__(self) -> None:
        nonneg_number("forward", self.forward)
        nonneg_number("backward", self.backward)
        if isinstance(self.grad_bytes, bool) or not isinstance(self.grad_bytes, int) or self.grad_bytes < 0:
            raise ValueError(f"grad_bytes must be a non-negative integer: got {self.grad_bytes!r}")


@dataclass(frozen=True)
class Network:
    """A ring all-reduce over ``workers`` machines: ``bandwidth`` bytes/s per link, ``latency``
    seconds of start-up per message (the alpha of the alpha-beta model)."""

    bandwidth: float
    latency: float = 0.0
    workers: int = 2

    def __post_init__(self) -> None:
        positive_number("bandwidth", self.bandwidth)
        nonneg_number("latency", self.latency)
        if positive_int("workers", self.workers) < 2:
            raise ValueError(f"workers must be at least 2 for an all-reduce: got {self.workers}")

    def transfer_time(self, nbytes: int) -> float:
        """Seconds the link is busy for a ring all-reduce of ``nbytes``: 2(n-1)/n * bytes / bandwidth."""
        return 2 * (self.workers - 1) / self.workers * nbytes / self.bandwidth

    def allreduce_time(self, nbytes: int) -> float:
        """An all-reduce of ``nbytes`` alone on an idle network: latency + transfer."""
        return self.latency + self.transfer_time(nbytes)


@dataclass(frozen=True)
class Message:
    """One all-reduce: the (layer, chunk) pieces it carries, handed to the network at
    ``dispatch``, on the link from ``start`` to ``end``."""

    pieces: tuple[tuple[int, int, int], ...]  # (layer, chunk index, bytes)
    dispatch: float
    start: float
    end: float

    @property
    def nbytes(self) -> int:
        return sum(b for _, _, b in self.pieces)


@dataclass
class Timeline:
    """One iteration, from the start of backward to the end of the next forward."""

    policy: str
    params: dict[str, Any]
    iteration_time: float
    compute_time: float
    comm_time: float  # seconds the link is busy
    overlap_fraction: float  # share of the link's busy time hidden under compute
    backward: list[tuple[float, float]]  # per layer (start, end)
    forward: list[tuple[float, float]]  # per layer, the next iteration's forward
    grad_ready: list[float]
    comm_done: list[float]  # per layer: its last byte all-reduced (grad_ready when it has none)
    comm_intervals: list[list[tuple[float, float]]]  # per layer: link intervals of its messages
    messages: list[Message] = field(default_factory=list)

    @property
    def forward_start(self) -> list[float]:
        return [s for s, _ in self.forward]

    def to_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "params": dict(self.params), "iteration_time": self.iteration_time,
                "compute_time": self.compute_time, "comm_time": self.comm_time,
                "overlap_fraction": self.overlap_fraction, "forward_start": self.forward_start,
                "comm_done": self.comm_done, "messages": len(self.messages)}


def partition_chunks(grad_bytes: int, partition: int) -> list[int]:
    """Sizes of the chunks a tensor of ``grad_bytes`` is cut into (section 4.1): full chunks of
    ``partition`` bytes and a smaller last one; no chunk for an empty tensor."""
    positive_int("partition", partition)
    full, rest = divmod(grad_bytes, partition)
    return [partition] * full + ([rest] if rest else [])


def priority_order(grad_bytes: Sequence[int], partition: int) -> list[tuple[int, int, int]]:
    """ByteScheduler's send order when every gradient is ready: ``(layer, chunk, bytes)``, lower
    layer first (the next forward needs it first), chunks of a layer in order."""
    return [(i, c, b) for i, g in enumerate(grad_bytes) for c, b in enumerate(partition_chunks(g, partition))]


def _check_layers(layers: Sequence[Layer]) -> list[Layer]:
    layers = list(layers)
    if not layers:
        raise ValueError("layers must hold at least one Layer: got none")
    for i, layer in enumerate(layers):
        if not isinstance(layer, Layer):
            raise ValueError(f"layers[{i}] must be a Layer(forward, backward, grad_bytes): got {layer!r}")
    return layers


def _send_in_ready_order(groups: list[tuple[float, tuple[tuple[int, int, int], ...]]], net: Network) -> list[Message]:
    """FIFO and buckets: each message handed over when ready, crossing the link in that order."""
    out, free = [], 0.0
    for ready, pieces in sorted(groups, key=lambda g: (g[0], -g[1][0][0])):
        start = max(ready + net.latency, free)
        free = start + net.transfer_time(sum(b for _, _, b in pieces))
        out.append(Message(pieces, ready, start, free))
    return out


def _bytescheduler(ready: list[float], layers: list[Layer], net: Network, partition: int, credit: int) -> list[Message]:
    """Priority queue of ready chunks; hand over the most urgent while in-flight bytes <= credit."""
    arrivals = sorted((ready[i], i, c, b) for i, c, b in priority_order([x.grad_bytes for x in layers], partition))
    queue: list[tuple[int, int, int]] = []
    in_flight: deque[Message] = deque()  # handed over, not yet finished, in link order
    out: list[Message] = []
    t, a, free, flying = 0.0, 0, 0.0, 0
    while a < len(arrivals) or queue or in_flight:
        while in_flight and in_flight[0].end <= t:
            flying -= in_flight.popleft().pieces[0][2]
        while a < len(arrivals) and arrivals[a][0] <= t:
            heapq.heappush(queue, arrivals[a][1:])
            a += 1
        while queue and (not in_flight or flying + queue[0][2] <= credit):
            piece = heapq.heappop(queue)
            start = max(t + net.latency, free)
            free = start + net.transfer_time(piece[2])
            msg = Message((piece,), t, start, free)
            in_flight.append(msg)
            out.append(msg)
            flying += piece[2]
        nxt = min(in_flight[0].end if in_flight else float("inf"), arrivals[a][0] if a < len(arrivals) else float("inf"))
        if nxt == float("inf"):
            break
        t = max(t, nxt)
    return out


def _messages(policy: str, ready: list[float], layers: list[Layer], net: Network, params: dict) -> list[Message]:
    g = [x.grad_bytes for x in layers]
    if policy == "fifo":
        return _send_in_ready_order([(ready[i], ((i, 0, g[i]),)) for i in range(len(g)) if g[i]], net)
    if policy == "bucket":
        cap = positive_int("bucket_bytes", params["bucket_bytes"])
        groups, cur = [], []
        for i in reversed(range(len(g))):  # DDP: fill in reverse order, close once >= cap
            if g[i]:
                cur.append((i, 0, g[i]))
                if sum(b for _, _, b in cur) >= cap:
                    groups.append(cur)
                    cur = []
        groups += [cur] if cur else []
        return _send_in_ready_order([(ready[p[-1][0]], tuple(p)) for p in groups], net)
    partition = positive_int("partition", params["partition"])
    credit = positive_int("credit", params["credit"])
    if credit < partition:
        raise ValueError(f"credit must be at least one partition ({partition} bytes): got {credit}")
    return _bytescheduler(ready, layers, net, partition, credit)


def _overlap(intervals: list[tuple[float, float]], busy: list[tuple[float, float]]) -> float:
    """Total length of ``intervals`` (disjoint) covered by ``busy`` (disjoint), by a sweep of both."""
    a, b = sorted(intervals), sorted(busy)
    total, j = 0.0, 0
    for s, e in a:
        while j < len(b) and b[j][1] <= s:
            j += 1
        k = j
        while k < len(b) and b[k][0] < e:
            total += min(e, b[k][1]) - max(s, b[k][0])
            k += 1
    return total


DEFAULTS = {"bucket": {"bucket_bytes": 25 * 2**20}, "bytescheduler": {"partition": 4 * 2**20, "credit": 16 * 2**20}}


def iteration_time(layers: Sequence[Layer], network: Network, policy: str, **params: Any) -> Timeline:
    """The timeline of one data-parallel step under ``policy`` (``fifo``; ``bucket`` with
    ``bucket_bytes``; ``bytescheduler`` with ``partition`` and ``credit`` bytes; defaults in
    ``DEFAULTS``): backward from t=0, all-reduces, then the next forward, layer ``i`` starting
    when layer ``i-1``'s forward is done and its own gradient is all-reduced."""
    layers = _check_layers(layers)
    one_of("policy", policy, POLICIES)
    if not isinstance(network, Network):
        raise ValueError(f"network must be a Network(bandwidth, latency, workers): got {network!r}")
    allowed = DEFAULTS.get(policy, {})
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(f"policy {policy} takes {', '.join(allowed) or 'no parameters'}: got {', '.join(unknown)}")
    params = {**allowed, **params}
    n = len(layers)
    backward, t = [(0.0, 0.0)] * n, 0.0
    for i in reversed(range(n)):
        backward[i] = (t, t + layers[i].backward)
        t += layers[i].backward
    ready = [e for _, e in backward]
    messages = _messages(policy, ready, layers, network, params)
    intervals: list[list[tuple[float, float]]] = [[] for _ in range(n)]
    for m in messages:
        for layer, _, _ in m.pieces:  # every layer of a bucket waits for the whole bucket
            intervals[layer].append((m.start, m.end))
    done = [max([ready[i]] + [e for _, e in intervals[i]]) for i in range(n)]
    forward: list[tuple[float, float]] = []
    for i in range(n):
        start = max(t, done[i])
        forward.append((start, start + layers[i].forward))
        t = start + layers[i].forward
    busy = [(0.0, backward[0][1])] + forward
    link = [(m.start, m.end) for m in messages]
    comm = sum(e - s for s, e in link)
    return Timeline(policy, params, t, sum(x.forward + x.backward for x in layers), comm,
                    _overlap(link, busy) / comm if comm > 0 else 1.0, backward, forward, ready, done,
                    intervals, messages)


# Example models (fp32 gradients; compute from FLOPs at ``flops`` per second, backward = 2 x forward).
_VGG16 = [  # (parameters, multiply-adds per 224x224 image): 13 convolutions, 3 fully connected layers
    (1_792, 86.7e6), (36_928, 1.85e9), (73_856, 0.925e9), (147_584, 1.85e9), (295_168, 0.925e9),
    (590_080, 1.85e9), (590_080, 1.85e9), (1_180_160, 0.925e9), (2_359_808, 1.85e9), (2_359_808, 1.85e9),
    (2_359_808, 0.462e9), (2_359_808, 0.462e9), (2_359_808, 0.462e9), (102_764_544, 102.8e6),
    (16_781_312, 16.8e6), (4_097_000, 4.1e6)]
MODELS = ("vgg16", "gpt2")


def model_layers(name: str, batch: int = 32, flops: float = 50e12) -> list[Layer]:
    """Layers of an example model: ``vgg16`` (per image, as ByteScheduler's evaluation, section 6)
    or ``gpt2`` (GPT-2 small: token embedding, 12 blocks, sequences of 1024 tokens); forward time
    2 * multiply-adds * batch / ``flops``, backward twice that, 4 bytes per gradient element."""
    one_of("model", name, MODELS)
    positive_int("batch", batch)
    positive_number("flops", flops)
    if name == "vgg16":
        spec = _VGG16
    else:
        d, tokens, vocab = 768, 1024, 50257
        block = 12 * d * d + 13 * d  # attention (4 d^2) + MLP (8 d^2), biases and layer norms
        spec = [(vocab * d + tokens * d, 0.0)] + [(block, block + 2 * tokens * d)] * 12  # + attention scores
        spec = [(p, m * tokens) for p, m in spec]
    return [Layer(2 * m * batch / flops, 4 * m * batch / flops, 4 * p) for p, m in spec]
