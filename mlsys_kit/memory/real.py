"""The real check: the tiny GPT of :mod:`mlsys_kit.models.gpt` trained one step under a plan,
with torch doing the work, measured against the chain model.

* K blocks run as usual; a segment C R ... R runs under ``torch.utils.checkpoint`` (non-
  reentrant: it keeps the segment's input and recomputes the blocks in the backward pass);
  S blocks run under ``torch.autograd.graph.saved_tensors_hooks`` that copy every saved
  tensor to host memory (pinned on CUDA) and back when the backward pass unpacks it.
* An outer ``saved_tensors_hooks`` counts the bytes autograd saves (unique storages; the
  parameters excluded); the offload hooks count what they move; a forward pre-hook on every
  block counts how often it runs (n forwards + the recomputations).
* The same step without any policy is the plain step; loss and every gradient are compared.

The prediction is :func:`.chain.gpt_chain` (per-block bytes as torch's CPU kernels save them)
plus :func:`outside_saved_bytes` (embeddings, final LayerNorm, LM head, loss), and the
plan's saved bytes from :func:`.lifetimes.simulate`. :func:`real_plan` is the plan a policy
gives the tiny GPT's chain (``mlsys-kit memory run``, the demo).
"""

from __future__ import annotations

import copy
import time
from typing import Any

from mlsys_kit import checks
from mlsys_kit.memory.chain import gpt_chain
from mlsys_kit.memory.config import MEMORY
from mlsys_kit.memory.lifetimes import check_plan, simulate, units
from mlsys_kit.memory.policies import plan as policy_plan


def outside_saved_bytes(cfg: Any, batch: int, seq: int) -> int:
    """What autograd saves outside the blocks (fp32, int64 ids): the token ids (embedding) and
    the positions, the final LayerNorm's input, mean and rstd, the LM head's input, the
    log-softmax of the logits and the targets (cross entropy) and its 4-byte total weight."""
    n = batch * seq
    return 8 * n + 8 * seq + 4 * (2 * n * cfg.n_embd + 2 * n) + 4 * n * cfg.vocab_size + 8 * n + 4


def real_plan(policy: str, preset: str, batch: int, seq: int, k: int | None, budget_mb: float | None,
              link_gbps: float) -> tuple[str, float | None]:
    """The plan ``policy`` gives the tiny GPT's chain (the budget defaults to 60% of keep-all)."""
    from mlsys_kit.models.gpt import preset as gpt_preset

    chain = gpt_chain(gpt_preset(preset), batch, seq)
    budget = budget_mb * 1e6 if budget_mb else None
    if budget is None and policy in ("optimal", "hybrid"):
        budget = 0.6 * simulate(chain, "K" * chain.n, keep_timeline=False).peak_bytes
    return policy_plan(policy, chain, budget, link_gbps * 1e9, k).step.plan, budget


class _Offload:
    """saved_tensors_hooks that move each saved storage to the host once and back once.

    Within one block's forward the device storages are held (so that no address is reused
    while the block runs and a storage's views share one host copy); :meth:`end_block` drops
    them, which is when the device memory is released."""

    def __init__(self, params: set[int], device: Any) -> None:
        import torch

        self.torch, self.params, self.device = torch, params, device
        self.live: dict[int, tuple[int, Any]] = {}  # data_ptr -> (uid, device storage), this block
        self.host: dict[int, Any] = {}
        self.back: dict[int, Any] = {}
        self.bytes_moved = 0
        self.pin = device.type == "cuda"

    def pack(self, t):
        s = t.untyped_storage()
        if s.data_ptr() in self.params:
            return ("param", t)
        if s.data_ptr() not in self.live:
            uid = len(self.host)
            flat = self.torch.empty(0, dtype=t.dtype, device=t.device).set_(s)
            host = self.torch.empty(flat.shape, dtype=t.dtype, device="cpu", pin_memory=self.pin)
            host.copy_(flat, non_blocking=self.pin)
            self.host[uid] = host
            self.live[s.data_ptr()] = (uid, s)
            self.bytes_moved += s.nbytes()
        return ("host", self.live[s.data_ptr()][0], t.size(), t.stride(), t.storage_offset())

    def end_block(self) -> None:
        self.live.clear()

    def unpack(self, packed):
        if packed[0] == "param":
            return packed[1]
        _, uid, size, stride, offset = packed
        if uid not in self.back:
            self.back[uid] = self.host[uid].to(self.device, non_blocking=self.pin)
        return self.back[uid].as_strided(size, stride, offset)


def run_plan(plan: str, preset: str = MEMORY.run_preset, batch: int = MEMORY.run_batch, seq: int = MEMORY.run_seq,
             seed: int = MEMORY.seed,
             device: str = "cpu") -> dict[str, Any]:
    """One training step of the tiny GPT under ``plan`` (K/C/R/S per block), checked against
    the plain step and the chain model. Returns plain data (JSON-ready)."""
    import torch
    import torch.nn.functional as F
    from torch.utils.checkpoint import checkpoint

    from mlsys_kit.models.gpt import GPT, preset as gpt_preset

    cfg = gpt_preset(preset)
    checks.positive_int("batch", batch)
    checks.positive_int("seq", seq)
    if seq > cfg.n_positions:
        raise ValueError(f"seq must be at most n_positions={cfg.n_positions}: got {seq}")
    chain = gpt_chain(cfg, batch, seq)
    check_plan(chain, plan)
    checks.one_of("device", device, ("cpu", "cuda"))
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' asked for but torch.cuda.is_available() is False")
    dev = torch.device(device)
    torch.manual_seed(seed)
    model = GPT(cfg, seed=seed).to(dev).train()
    plain_model = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(seed + 1)
    idx = torch.randint(0, cfg.vocab_size, (batch, seq), generator=gen).to(dev)
    tgt = torch.randint(0, cfg.vocab_size, (batch, seq), generator=gen).to(dev)

    def head_loss(m, x):
        return F.cross_entropy(m.lm_head(x).view(-1, cfg.vocab_size), tgt.view(-1))

    # the plain step
    t0 = time.perf_counter()
    x = plain_model.wte(idx) + plain_model.wpe(torch.arange(seq, device=dev))
    for block in plain_model.h:
        x = block(x)
    plain_loss = head_loss(plain_model, x)
    plain_loss.backward()
    plain_time = time.perf_counter() - t0

    # the step under the plan, measured
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    runs = [0]
    hooks = [b.register_forward_pre_hook(lambda *_: runs.__setitem__(0, runs[0] + 1)) for b in model.h]
    saved: dict[int, int] = {}

    def count(t):
        s = t.untyped_storage()
        if s.data_ptr() not in params:
            saved[s.data_ptr()] = s.nbytes()
        return t

    offload = _Offload(params, dev)

    def segment(blocks):
        def run(x):
            for b in blocks:
                x = b(x)
            return x
        return run

    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    with torch.autograd.graph.saved_tensors_hooks(count, lambda t: t):
        x = model.wte(idx) + model.wpe(torch.arange(seq, device=dev))
        for l, r in units(plan):
            kind = plan[l - 1]
            if kind == "K":
                x = model.h[l - 1](x)
            elif kind == "S":
                with torch.autograd.graph.saved_tensors_hooks(offload.pack, offload.unpack):
                    x = model.h[l - 1](x)
                offload.end_block()
            else:
                x = checkpoint(segment(model.h[l - 1:r]), x, use_reentrant=False)
        loss = head_loss(model, x)
    loss.backward()
    step_time = time.perf_counter() - t0
    peak_cuda = torch.cuda.max_memory_allocated() if device == "cuda" else None
    for h in hooks:
        h.remove()

    diffs = [float((p.grad - q.grad).abs().max()) for p, q in zip(model.parameters(), plain_model.parameters())]
    bitwise = bool(torch.equal(loss, plain_loss)) and all(
        torch.equal(p.grad, q.grad) for p, q in zip(model.parameters(), plain_model.parameters()))
    sim = simulate(chain, plan, link_bytes_per_s=1e9 if "S" in plan else None, keep_timeline=False)
    outside = outside_saved_bytes(cfg, batch, seq)
    measured = sum(saved.values()) + offload.bytes_moved
    predicted = outside + sim.saved_bytes
    out = {
        "plan": plan, "preset": preset, "batch": batch, "seq": seq, "device": device,
        "loss": loss.item(), "plain_loss": plain_loss.item(),
        "max_abs_grad_diff": max(diffs), "bitwise_equal": bitwise,
        "matches_plain_step": bool(max(diffs) <= 1e-6 and abs(loss.item() - plain_loss.item()) <= 1e-6),
        "saved_bytes_measured": measured, "saved_bytes_predicted": predicted,
        "saved_bytes_outside_blocks": outside,
        "offloaded_bytes_measured": offload.bytes_moved, "offloaded_bytes_predicted": sim.offloaded_bytes,
        "recompute_count_measured": runs[0] - cfg.n_layer, "recompute_count_predicted": sim.recompute_count,
        "step_time_s": step_time, "plain_step_time_s": plain_time,
    }
    if peak_cuda is not None:
        out["cuda_max_memory_allocated"] = peak_cuda
    return out
