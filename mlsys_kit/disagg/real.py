"""The real disaggregated pair: a prefill process and a decode process on torch.distributed.

DistServe (Zhong et al., OSDI'24), section 4.3 "Online scheduling" and section 5: a prefill
instance computes a prompt's KV cache and the first token, the KV blocks travel to a decode
instance, which continues generation from them. Here, on the tiny GPT:

* rank 0 (prefill) serves the trace in arrival order with its own
  :class:`~mlsys_kit.kvcache.runner.PagedModelRunner`: one prefill step per request, greedy
  token 1, then it gathers the prompt's K/V of every layer from its paged cache (through the
  block table: slot ``table[t // B] * B + t % B`` of token t) and ``send``s, per request, a
  header (ids, lengths, times), the prompt ids and one K/V tensor ``[n_layer, 2, prompt_len,
  heads, head_dim]``, then frees the blocks;
* rank 1 (decode) posts an ``irecv`` for the next header; when one lands it allocates blocks
  in *its* paged cache (its own block manager), writes the received K/V into them through its
  slot mapping and the request joins its batch; every iteration is one batched decode step
  of all its requests (continuous batching), and finished requests leave at once.

Checks: every output is token-identical to one-process greedy generation
(:meth:`GPT.generate_reference`); the K/V bytes that crossed equal the simulator's
prediction (``prompt_len x kv_bytes_per_token`` per request, :func:`simulate_disagg`'s
``kv_bytes_moved``); the per-request times (TTFT from arrival to the KV landing, TPOT over the
decode side's tokens) go through the serving metrics. gloo on CPU; both processes share the
machine's monotonic clock.
"""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.distributed as dist

from mlsys_kit.common import ceil_div
from mlsys_kit.disagg.config import REAL_PAIR, PairConfig
from mlsys_kit.disagg.simulate import Hardware, Pool, simulate_disagg
from mlsys_kit.kvcache.runner import PagedModelRunner
from mlsys_kit.launch import run_ranks
from mlsys_kit.models.gpt import GPT
from mlsys_kit.serving.metrics import percentile, request_latencies
from mlsys_kit.serving.sequence import Seq
from mlsys_kit.serving.workload import LengthDist, make_workload

STOP = -1


def _trace(cfg: dict, vocab: int) -> list:
    return make_workload(cfg["requests"], cfg["rate"], LengthDist("uniform", cfg["prompt_len"], max(1, cfg["prompt_len"] // 2),
                                                                   cfg["prompt_len"]),
                         LengthDist("uniform", cfg["output_len"], 2, cfg["output_len"]), seed=cfg["seed"],
                         vocab_size=vocab)


def _model(cfg: dict):
    torch.manual_seed(0)
    return GPT(cfg["preset"], seed=cfg["seed"])


def _slots(table: list[int], start: int, stop: int, block: int) -> torch.Tensor:
    return torch.tensor([table[t // block] * block + t % block for t in range(start, stop)], dtype=torch.long)


def _prefill_rank(cfg: dict, t0: float) -> dict:
    model = _model(cfg)
    reqs = _trace(cfg, model.config.vocab_size)
    B = cfg["block_size"]
    runner = PagedModelRunner(model, cfg["blocks"], B)
    sent = 0
    for r in reqs:
        wait = t0 + r.arrival - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        logits = runner.step([(r.rid, list(r.prompt))])
        first = int(logits[r.rid].argmax())
        done = time.monotonic() - t0
        header = torch.tensor([r.rid, r.prompt_len, r.output_len, first], dtype=torch.long)
        times = torch.tensor([r.arrival, done], dtype=torch.float64)
        dist.send(header, 1)
        dist.send(times, 1)
        if r.output_len > 1:  # the decode side continues from the prompt's K/V
            table = runner.manager.block_table(r.rid)
            slots = _slots(table, 0, r.prompt_len, B)
            kv = torch.stack([torch.stack(runner.cache.read(layer, slots)) for layer in range(len(runner.cache.kv))])
            dist.send(torch.tensor(r.prompt, dtype=torch.long), 1)
            dist.send(kv.contiguous(), 1)
            sent += kv.numel() * kv.element_size()
        runner.free(r.rid)
    dist.send(torch.tensor([STOP, 0, 0, 0], dtype=torch.long), 1)
    return {"kv_bytes_sent": sent}


def _decode_rank(cfg: dict, t0: float) -> dict:
    model = _model(cfg)
    c = model.config
    B = cfg["block_size"]
    runner = PagedModelRunner(model, cfg["blocks"], B)
    kv_shape = (c.n_layer, 2)
    active: dict[int, dict] = {}
    done: list[dict] = []
    received, recv_seconds, stopped = 0, 0.0, False
    header = torch.empty(4, dtype=torch.long)
    pending = dist.irecv(header, 0)
    while not stopped or active:
        if not stopped and (not active or pending.is_completed()):
            pending.wait()
            rid, plen, olen, first = (int(x) for x in header)
            if rid == STOP:
                stopped = True
                continue
            times = torch.empty(2, dtype=torch.float64)
            dist.recv(times, 0)
            rec = {"rid": rid, "arrival": float(times[0]), "prefill_end": float(times[1]), "prompt_len": plen,
                   "output_len": olen, "outputs": [first]}
            if olen > 1:
                ids = torch.empty(plen, dtype=torch.long)
                dist.recv(ids, 0)
                kv = torch.empty(*kv_shape, plen, c.n_head, c.head_dim, dtype=runner.cache.kv[0].dtype)
                t = time.monotonic()
                dist.recv(kv, 0)
                recv_seconds += time.monotonic() - t
                received += kv.numel() * kv.element_size()
                runner.manager.append(rid, ids.tolist())  # blocks in this process's own cache
                slots = _slots(runner.manager.block_table(rid), 0, plen, B)
                for layer in range(c.n_layer):
                    runner.cache.write(layer, kv[layer, 0], kv[layer, 1], slots)
            now = time.monotonic() - t0
            rec["first_token_time"] = rec["last_token_time"] = now
            rec["token_times"] = [now]
            (active.__setitem__(rid, rec) if olen > 1 else done.append(rec))
            header = torch.empty(4, dtype=torch.long)
            pending = dist.irecv(header, 0)
            continue
        logits = runner.step([(rid, [rec["outputs"][-1]]) for rid, rec in active.items()])
        now = time.monotonic() - t0
        for rid in list(active):
            rec = active[rid]
            rec["outputs"].append(int(logits[rid].argmax()))
            rec["token_times"].append(now)
            if len(rec["outputs"]) == rec["output_len"]:
                runner.free(rid)
                done.append(active.pop(rid))
    return {"requests": sorted(done, key=lambda d: d["rid"]), "kv_bytes_received": received,
            "kv_recv_seconds": recv_seconds}


def _pair_rank(cfg: dict) -> dict:
    """Rank 0 prefills, rank 1 decodes, from one start time on the shared monotonic clock."""
    t0 = torch.tensor([time.monotonic() + 0.05], dtype=torch.float64)
    dist.broadcast(t0, 0)
    return (_prefill_rank if dist.get_rank() == 0 else _decode_rank)(cfg, float(t0))


def run_pair(requests: int = REAL_PAIR.requests, rate: float = REAL_PAIR.rate, prompt_len: int = REAL_PAIR.prompt_len,
             output_len: int = REAL_PAIR.output_len, preset: str = REAL_PAIR.preset, seed: int = REAL_PAIR.seed,
             block_size: int = REAL_PAIR.block_size) -> dict[str, Any]:
    """Run the prefill/decode pair on 2 gloo processes and check it: ``outputs_match_reference``,
    ``kv_bytes_moved_measured`` (received by the decode process, equal to what the prefill
    process sent), ``kv_bytes_moved_predicted`` (the simulator's), the serving metrics of the
    per-request times and the measured transfer throughput."""
    PairConfig(requests, rate, prompt_len, output_len, preset, seed, block_size)  # checks every argument
    model = _model({"preset": preset, "seed": seed})
    if prompt_len + output_len > model.config.n_positions:
        raise ValueError(f"prompt_len + output_len = {prompt_len + output_len} exceeds the {preset} model's "
                         f"context of {model.config.n_positions}")
    blocks = requests * ceil_div(prompt_len + output_len, block_size)
    cfg = {"requests": requests, "rate": rate, "prompt_len": prompt_len, "output_len": output_len, "preset": preset,
           "seed": seed, "block_size": block_size, "blocks": blocks}
    reqs = _trace(cfg, model.config.vocab_size)
    t_wall = time.perf_counter()
    sent, dec = run_ranks(_pair_rank, cfg, 2, every_rank=True)
    wall = time.perf_counter() - t_wall
    seqs, match = [], True
    for r, d in zip(reqs, dec["requests"]):
        s = Seq(r, r.rid, with_tokens=False)
        s.first_token_time, s.last_token_time = d["first_token_time"], d["token_times"][-1]
        s.finish_time, s.num_generated = s.last_token_time, len(d["outputs"])
        seqs.append(s)
        match &= d["outputs"] == model.generate_reference(list(r.prompt), r.output_len)
    ttft, tpot, _ = request_latencies(seqs)
    kv_token = model.config.kv_bytes_per_token(model.wte.weight.dtype)
    predicted = simulate_disagg(reqs, Pool(), Pool(scheduler="continuous"),
                                hw=Hardware(kv_bytes_per_token=kv_token)).kv_bytes_moved
    measured = dec["kv_bytes_received"]
    return {"outputs_match_reference": bool(match), "kv_bytes_moved_measured": measured,
            "kv_bytes_moved_predicted": predicted, "kv_bytes_sent": sent["kv_bytes_sent"],
            "requests": len(reqs), "preset": preset, "kv_bytes_per_token": kv_token,
            "ttft_p50": percentile(ttft, 50), "ttft_p99": percentile(ttft, 99),
            "tpot_p50": percentile(tpot, 50), "tpot_p99": percentile(tpot, 99),
            "transfer_seconds": dec["kv_recv_seconds"],
            "transfer_gbps": measured * 8 / dec["kv_recv_seconds"] / 1e9 if dec["kv_recv_seconds"] > 0 else None,
            "wall_seconds": wall,
            "per_request": [{"rid": d["rid"], "arrival": d["arrival"], "prefill_end": d["prefill_end"],
                             "first_token_time": d["first_token_time"], "finish_time": d["token_times"][-1],
                             "outputs": d["outputs"]} for d in dec["requests"]]}
