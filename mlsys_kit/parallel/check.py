"""The real check of tensor and sequence parallelism: one training step of the tiny GPT split
over the ranks (:mod:`.runtime`) against the same step in one process, on the same batch: the
loss, every gradient reassembled from the shards, the bytes the collectives sent against
:func:`mlsys_kit.parallel.model.tp_step_elements`, and both step times. Every rank of an
initialised process group calls :func:`compare_with_single_process` (:mod:`.launch` starts them).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F

from mlsys_kit.models.gpt import GPT, GPTConfig
from mlsys_kit.parallel.model import tp_step_elements
from mlsys_kit.parallel.runtime import Comm, ParallelGPT


def loss_fn(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def full_gradients(pmodel: ParallelGPT) -> dict[str, torch.Tensor]:
    """The model's gradients reassembled from every rank's shards, named as in :class:`GPT`
    (an all-gather outside the count: it is the check, not the training step)."""
    t, out = pmodel.comm.t, {}

    def gather(x: torch.Tensor) -> list[torch.Tensor]:
        parts = [torch.empty_like(x) for _ in range(t)]
        dist.all_gather(parts, x.contiguous())
        return parts

    for name in ("wte.weight", "wpe.weight", "ln_f.weight", "ln_f.bias"):
        out[name] = pmodel.get_parameter(name).grad
    for i, b in enumerate(pmodel.h):
        pre = f"h.{i}."
        for ln in ("ln_1", "ln_2"):
            for w in ("weight", "bias"):
                out[pre + f"{ln}.{w}"] = getattr(getattr(b, ln), w).grad
        for name, lin in (("attn.c_attn", b.c_attn), ("mlp.c_fc", b.c_fc)):
            for w in ("weight", "bias"):  # column: rank r's rows of each of the `pieces` parts
                parts = [p.chunk(lin.pieces, 0) for p in gather(getattr(lin, w).grad)]
                out[pre + f"{name}.{w}"] = torch.cat([torch.cat([parts[r][k] for r in range(t)])
                                                      for k in range(lin.pieces)])
        for name, lin in (("attn.c_proj", b.attn_proj), ("mlp.c_proj", b.mlp_proj)):
            out[pre + f"{name}.weight"] = torch.cat(gather(lin.weight.grad), dim=1)
            out[pre + f"{name}.bias"] = lin.bias.grad
    return out


def _data(cfg: GPTConfig, batch: int, seq: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed + 1)
    ids = torch.randint(0, cfg.vocab_size, (batch, seq + 1), generator=gen)
    return ids[:, :-1], ids[:, 1:]


def compare_with_single_process(cfg: dict) -> dict[str, Any]:
    """On an initialised process group (every rank calls it): the single-process GPT and the
    parallel one on the same batch; loss, every gradient, counted bytes and step times."""
    torch.manual_seed(0)
    gcfg = GPTConfig(**cfg["model"])
    model = GPT(gcfg, seed=cfg["seed"]).train()
    idx, tgt = _data(gcfg, cfg["batch"], cfg["seq"], cfg["seed"])
    ref_loss = loss_fn(model(idx), tgt)
    ref_loss.backward()
    ref_grads = {n: p.grad for n, p in model.named_parameters()}
    comm = Comm()
    pmodel = ParallelGPT(model, comm, sp=cfg["sequence_parallel"], recompute=cfg["recompute"])
    loss = loss_fn(pmodel(idx), tgt)
    loss.backward()
    pmodel.sync_sp_grads()
    measured = comm.sent
    grads = full_gradients(pmodel)
    diff = max(float((grads[n] - g).abs().max()) for n, g in ref_grads.items())
    diff = max(diff, abs(loss.item() - ref_loss.item()))
    t_diff = torch.tensor([diff], dtype=torch.float64)
    dist.all_reduce(t_diff, op=dist.ReduceOp.MAX)
    diff = float(t_diff)
    same_names = sorted(grads) == sorted(ref_grads)
    predicted = tp_step_elements(gcfg.n_layer, cfg["batch"] * cfg["seq"], gcfg.n_embd, comm.t,
                                 cfg["sequence_parallel"], cfg["recompute"],
                                 sp_replicated_params=sum(p.numel() for p in pmodel.sp_replicated())) * 4

    def timed(fn) -> float:
        times = []
        for _ in range(cfg["repeats"]):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    def parallel_step() -> None:
        pmodel.zero_grad(set_to_none=True)
        loss_fn(pmodel(idx), tgt).backward()
        pmodel.sync_sp_grads()

    step = timed(parallel_step)
    t_step = torch.tensor([step], dtype=torch.float64)
    dist.all_reduce(t_step, op=dist.ReduceOp.MAX)

    def single_step() -> None:
        model.zero_grad(set_to_none=True)
        loss_fn(model(idx), tgt).backward()

    single = timed(single_step)
    return {
        "tensor": comm.t, "sequence_parallel": cfg["sequence_parallel"], "recompute": cfg["recompute"],
        "backend": dist.get_backend(), "model": cfg["model"], "batch": cfg["batch"], "seq": cfg["seq"],
        "loss": loss.item(), "loss_single_process": ref_loss.item(), "max_abs_diff": diff, "atol": cfg["atol"],
        "gradients_compared": len(ref_grads) if same_names else 0,
        "matches_single_process": bool(same_names and diff <= cfg["atol"]),
        "bytes_sent_measured": measured, "bytes_sent_predicted": predicted,
        "step_time_s": float(t_step), "single_process_step_time_s": single,
    }
