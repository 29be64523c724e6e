"""The tiny GPT generating with its weights, activations and KV cache split across a device, a
host and a disk tier, in FlexGen's row-by-row or zig-zag order, with the next layer's weights
prefetched on a background thread.

Sheng et al., *FlexGen* (ICML'23), section 4.1 (the zig-zag block schedule, Algorithm 1: "load
the next layer's weights, cache and activations while computing the current one") and 4.2 (each
tensor kind split across the tiers by percentages). Every tensor is split with
:func:`mlsys_kit.offload.config.split`, as ``cost.py`` splits it: one layer's parameters as one
flat vector, one token's K and V (of one layer) as one vector, one token's hidden state as one
vector; the first part lives on the device, the next on the host, the rest in a memory-mapped
file (:class:`~mlsys_kit.offload.tiers_real.Tiers`). The order of work is
:func:`mlsys_kit.offload.schedule.order`'s, step by step: a step loads what its ``loads`` name,
computes one layer for one batch, and stores what its ``stores`` name.

:func:`run_offloaded` returns the generated tokens next to the plain run's
(``GPT.generate_reference``, full recomputation: they must be identical), the bytes the tiers
really copied on each link next to ``cost.generation``'s prediction (equal, exactly), and the
measured time next to the model's. The embedding and the LM head stay on the device, as in the
cost model.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch
import torch.nn.functional as F

from mlsys_kit import checks
from mlsys_kit.models.gpt import GPT, GPTConfig
from mlsys_kit.offload import cost
from mlsys_kit.offload.config import Hardware, Policy, Workload, from_gpt, hardware, split
from mlsys_kit.offload.schedule import order
from mlsys_kit.offload.search import search
from mlsys_kit.offload.tiers_real import Tiers
from mlsys_kit.offload.train import one_thread


def layer_forward(p: dict[str, torch.Tensor], x: torch.Tensor, past: torch.Tensor | None,
                  cfg: GPTConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """One GPT-2 block on ``x`` [B, T, C] with the cached K|V ``past`` [B, P, 2C] (None at the
    prefill: causal attention over ``x`` alone), the same operations as ``Block.forward``.
    Returns the block's output and the new tokens' K|V [B, T, 2C]."""
    C, H, D, eps = cfg.n_embd, cfg.n_head, cfg.head_dim, cfg.layer_norm_epsilon
    B, T, _ = x.shape
    h = F.layer_norm(x, (C,), p["ln_1.weight"], p["ln_1.bias"], eps)
    q, k, v = F.linear(h, p["attn.c_attn.weight"], p["attn.c_attn.bias"]).split(C, dim=-1)
    new_kv = torch.cat([k, v], dim=-1)
    if past is not None:
        k, v = torch.cat([past[..., :C], k], dim=1), torch.cat([past[..., C:], v], dim=1)
    q, k, v = (t.reshape(B, -1, H, D).transpose(1, 2) for t in (q, k, v))
    y = F.scaled_dot_product_attention(q, k, v, is_causal=past is None)
    x = x + F.linear(y.transpose(1, 2).reshape(B, T, C), p["attn.c_proj.weight"], p["attn.c_proj.bias"])
    h = F.layer_norm(x, (C,), p["ln_2.weight"], p["ln_2.bias"], eps)
    h = F.gelu(F.linear(h, p["mlp.c_fc.weight"], p["mlp.c_fc.bias"]), approximate="tanh")
    return x + F.linear(h, p["mlp.c_proj.weight"], p["mlp.c_proj.bias"]), new_kv


def _check(model: Any, policy: Any, workload: Any, schedule: str, hw: Any) -> None:
    if not isinstance(model, GPT):
        raise ValueError(f"model must be a mlsys_kit.models.gpt.GPT: got {type(model).__name__}")
    if not isinstance(policy, Policy) or policy.compress:
        raise ValueError("policy must be a Policy without compress (the real run keeps float32 tensors)")
    if not isinstance(workload, Workload):
        raise ValueError(f"workload must be a Workload: got {type(workload).__name__}")
    if not isinstance(hw, Hardware):
        raise ValueError(f"hw must be a Hardware (see config.HARDWARE): got {type(hw).__name__}")
    checks.one_of("schedule", schedule, cost.SCHEDULES)
    n = workload.prompt_len + workload.gen_len
    if n > model.config.n_positions:
        raise ValueError(f"prompt_len + gen_len must be at most n_positions={model.config.n_positions}: got {n}")


class _Run:
    """The state of one offloaded generation: the tiers and every tensor's parts in them."""

    def __init__(self, model: GPT, policy: Policy, workload: Workload, tiers: Tiers) -> None:
        self.cfg, self.policy, self.wl, self.tiers = model.config, policy, workload, tiers
        cfg, dev, pl = model.config, tiers.device, policy.placement
        self.b, self.k = policy.batch_size, policy.num_batches
        n, ctx = self.b * self.k, workload.prompt_len + workload.gen_len - 1
        self.wte, self.wpe = model.wte.weight.detach().to(dev), model.wpe.weight.detach().to(dev)
        self.ln_f = (model.ln_f.weight.detach().to(dev), model.ln_f.bias.detach().to(dev))
        self.shapes = [(name, p.shape) for name, p in model.h[0].named_parameters()]
        self.w, self.wparts = [], split(sum(p.numel() for p in model.h[0].parameters()), pl.weights)
        wd, wh, _ = self.wparts
        for layer, block in enumerate(model.h):
            flat = torch.cat([p.detach().reshape(-1) for p in block.parameters()])
            self.w.append((tiers.hold(("weights", layer), flat[:wd].to(dev, copy=True)),
                           tiers.on_host(flat[wd:wd + wh]), tiers.on_disk((flat.numel() - wd - wh,), flat[wd + wh:])))
        self.kparts, self.aparts = split(2 * cfg.n_embd, pl.kv_cache), split(cfg.n_embd, pl.activations)
        kd, kh, kk = self.kparts
        self.kv_host = [tiers.on_host(torch.zeros(n, ctx, kh)) for _ in range(cfg.n_layer)]
        self.kv_disk = [tiers.on_disk((n, ctx, kk)) for _ in range(cfg.n_layer)]
        self.kv_dev: dict[tuple[int, int], torch.Tensor] = {}
        ad, ah, ak = self.aparts
        s = workload.prompt_len
        self.act_host = [tiers.on_host(torch.zeros(self.b, s, ah)) for _ in range(self.k)]
        self.act_disk = [tiers.on_disk((self.b, s, ak)) for _ in range(self.k)]
        self.act_dev: dict[int, torch.Tensor] = {}

    def load_weights(self, layer: int, key: object) -> dict[str, torch.Tensor]:
        """The layer's offloaded parts onto the device (held under ``key``), joined to its device part."""
        dev_part, host_part, disk_part = self.w[layer]
        loaded = self.tiers.load(host_part, disk_part)
        if loaded:
            self.tiers.hold(key, torch.cat(loaded))
        flat, out, at = torch.cat([dev_part, *loaded]), {}, 0
        for name, shape in self.shapes:
            out[name], at = flat[at:at + shape.numel()].view(shape), at + shape.numel()
        return out

    def rows(self, batch: int) -> slice:
        return slice(batch * self.b, (batch + 1) * self.b)

    def step(self, token: int, layer: int, batch: int, p: dict[str, torch.Tensor], ids: torch.Tensor) -> torch.Tensor | None:
        """One layer of one token step for one batch; returns the next tokens after the last layer."""
        cfg, tiers, s = self.cfg, self.tiers, self.wl.prompt_len
        new, pos = (s, 0) if token == 0 else (1, s + token - 1)
        if layer == 0:  # the embedding's output is on the device
            x = self.wte[ids] + self.wpe[torch.arange(pos, pos + new, device=tiers.device)]
        else:
            ah = self.act_host[batch][:, :new]
            x = torch.cat([self.act_dev.pop(batch), *tiers.load(ah, self.act_disk[batch][:, :new])], dim=-1)
            tiers.release(("activations", batch))
        rows, kd, kh = self.rows(batch), self.kparts[0], self.kparts[1]
        if token == 0:
            self.kv_dev[batch, layer] = tiers.hold(("kv", batch, layer), torch.zeros(
                self.b, s + self.wl.gen_len - 1, kd, device=tiers.device))
        past = None
        if token > 0:
            loaded = tiers.load(self.kv_host[layer][rows, :pos], self.kv_disk[layer][rows, :pos])
            if loaded:
                tiers.hold("kv load", torch.cat(loaded, dim=-1))
            past = torch.cat([self.kv_dev[batch, layer][:, :pos], *loaded], dim=-1)
        y, new_kv = layer_forward(p, x, past, cfg)
        tiers.release("kv load")
        self.kv_dev[batch, layer][:, pos:pos + new] = new_kv[..., :kd]
        tiers.store(new_kv[..., kd:kd + kh], self.kv_host[layer][rows, pos:pos + new], new_kv[..., kd + kh:],
                    self.kv_disk[layer][rows, pos:pos + new])
        if token == self.wl.gen_len - 1:
            tiers.release(("kv", batch, layer))
            del self.kv_dev[batch, layer]
        if layer < cfg.n_layer - 1:
            ad, ah = self.aparts[0], self.aparts[1]
            self.act_dev[batch] = tiers.hold(("activations", batch), y[..., :ad].clone())
            tiers.store(y[..., ad:ad + ah], self.act_host[batch][:, :new], y[..., ad + ah:],
                        self.act_disk[batch][:, :new])
            return None
        h = F.layer_norm(y[:, -1], (cfg.n_embd,), *self.ln_f, cfg.layer_norm_epsilon)
        return (h @ self.wte.t()).argmax(dim=-1)


@torch.no_grad()
def run_offloaded(model: GPT, policy: Policy, workload: Workload = Workload(32, 8), schedule: str = "zigzag",
                  hw: Hardware | None = None, device: str = "cpu", seed: int = 0,
                  check_reference: bool = True) -> dict[str, Any]:
    """Generate ``policy.block_size`` random prompts of ``workload.prompt_len`` tokens greedily
    for ``workload.gen_len`` tokens each, offloaded under ``policy`` on ``hw``'s device budget
    (default ``cpu-tiny``), in ``schedule`` order. See the module docstring for what it returns."""
    hw = hardware("cpu-tiny") if hw is None else hw
    _check(model, policy, workload, schedule, hw)
    checks.nonneg_int("seed", seed)
    cfg, b, k = model.config, policy.batch_size, policy.num_batches
    gen = torch.Generator().manual_seed(seed)
    prompts = torch.randint(0, cfg.vocab_size, (b * k, workload.prompt_len), generator=gen)
    steps = order(schedule, cfg.n_layer, workload.gen_len, k)
    with Tiers(hw.device.capacity_bytes, device) as tiers, ThreadPoolExecutor(1) as pool, one_thread():
        run = _Run(model, policy, workload, tiers)
        ids = [prompts[run.rows(j)].to(tiers.device) for j in range(k)]
        out: list[list[torch.Tensor]] = [[] for _ in range(k)]
        wsteps = [i for i, st in enumerate(steps) if "weights" in st.loads]
        futures: dict[int, Any] = {}
        weights: dict[str, torch.Tensor] = {}
        held: object = None  # the device key of the weights in use
        trace: list[dict[str, int]] = []
        t0 = time.perf_counter()
        for i, st in enumerate(steps):
            if "weights" in st.loads:
                tiers.release(held)  # the last layer's loaded weights leave the device
                w = futures.pop(i, None)
                weights = w.result() if w is not None else run.load_weights(st.layer, ("weights load", i))
                held = ("weights load", i)
                nxt = next((j for j in wsteps if j > i), None)
                if nxt is not None and policy.overlap:  # prefetch the next layer while this one computes
                    futures[nxt] = pool.submit(run.load_weights, steps[nxt].layer, ("weights load", nxt))
            tok = run.step(st.token, st.layer, st.batch, weights, ids[st.batch])
            if tok is not None:
                out[st.batch].append(tok)
                ids[st.batch] = tok[:, None]
            # bytes moved so far, after each step (a prefetch is counted as it happens)
            trace.append({"token": st.token, "layer": st.layer, "batch": st.batch, **tiers.snapshot()})
        elapsed = time.perf_counter() - t0
        measured, peak = tiers.snapshot(), tiers.peak
    outputs = [row for j in range(k) for row in torch.stack(out[j], dim=1).tolist()]
    pred = cost.generation(from_gpt(cfg), hw, policy, workload, schedule)
    res = {
        "outputs": outputs, "schedule": schedule, "device": str(tiers.device),
        "bytes_moved_measured": measured, "bytes_moved_predicted": {k_: int(v) for k_, v in pred["bytes"].items()},
        "time_s_measured": elapsed, "time_s_predicted": pred["time_s"],
        "tokens_per_s_measured": b * k * workload.gen_len / elapsed, "tokens_per_s_predicted": pred["tokens_per_s"],
        "device_peak_bytes": peak, "device_capacity_bytes": hw.device.capacity_bytes,
        "resident_predicted": pred["resident"], "weight_loads": len(wsteps),
        "batch_size": b, "num_batches": k, "prompt_len": workload.prompt_len, "gen_len": workload.gen_len,
        "placement": policy.placement.as_dict(), "overlap": policy.overlap, "trace": trace,
    }
    res["bytes_match"] = res["bytes_moved_measured"] == res["bytes_moved_predicted"]
    if check_reference:
        ref = [model.generate_reference(p, workload.gen_len) for p in prompts.tolist()]
        res["reference_outputs"] = ref
        res["outputs_match_reference"] = ref == outputs
    return res


def real_policy(model: GPT, workload: Workload = Workload(32, 8), schedule: str = "zigzag",
                hw: Hardware | None = None) -> Policy:
    """The policy FlexGen's search picks for the tiny GPT on ``hw`` (default ``cpu-tiny``), over
    batch sizes 1, 2, 4 and 1 to 4 batches per block (small enough for the plain reference run)."""
    hw = hardware("cpu-tiny") if hw is None else hw
    _check(model, Policy(1), workload, schedule, hw)
    return search(from_gpt(model.config), hw, workload, schedule, batch_sizes=(1, 2, 4), num_batches=(1, 2, 3, 4))["policy"]
