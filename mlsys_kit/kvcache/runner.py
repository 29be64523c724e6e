"""Model runner: one forward pass of the tiny GPT for a mixed batch over the paged KV cache.

PagedAttention (Kwon et al., SOSP'23), section 4.3 "Decoding with PagedAttention and vLLM"
and section 5 "Implementation": each step, the block manager extends every sequence's block
table (allocating at block boundaries, copying shared blocks on write), the runner turns the
tables into a slot mapping, and the model runs *once* on all new tokens of the batch - prefill
chunks of any length and single decode tokens mixed, as in vLLM's and Orca's iteration-level
batching. The attention of each layer writes the new K/V through the slot mapping and reads
each sequence's whole context through its block table (:func:`~mlsys_kit.kvcache.paged.paged_attention`).

With ``enable_prefix_cache`` the leading full blocks of a prompt that some earlier request
computed are shared, and the runner computes only the tokens after them.
"""

from __future__ import annotations

import time
from array import array
from typing import Hashable, Sequence

import torch

from mlsys_kit.checks import nonneg_int, positive_int
from mlsys_kit.common import ceil_div
from mlsys_kit.kvcache.allocator import BlockAllocator, OutOfBlocks
from mlsys_kit.kvcache.block_table import BlockManager
from mlsys_kit.kvcache.config import KVCacheConfig
from mlsys_kit.kvcache.paged import PagedKVCache
from mlsys_kit.kvcache.paged_decode import AttentionPlan
from mlsys_kit.models.gpt import GPT


class PagedModelRunner:
    """Runs a :class:`GPT` over a paged KV cache of ``num_blocks`` blocks of ``block_size`` tokens."""

    def __init__(self, model: GPT, num_blocks: int, block_size: int, enable_prefix_cache: bool = False) -> None:
        if not isinstance(model, GPT):
            raise ValueError(f"model must be a mlsys_kit.models.GPT: got {type(model).__name__}")
        self.model = model
        cfg = model.config
        self.allocator = BlockAllocator(num_blocks, block_size)
        self.manager = BlockManager(self.allocator, enable_prefix_cache=enable_prefix_cache)
        param = model.wte.weight
        self.cache = PagedKVCache(cfg.n_layer, num_blocks, block_size, cfg.kv_heads, cfg.head_dim,
                                  dtype=param.dtype, device=param.device)
        self.block_size = block_size
        self.tokens_computed = 0  # tokens that went through the model (prefix-cache hits skip it)
        self.padding_rows_computed = 0  # rows that went through the dense layers only (see step)

    def _validate(self, batch: Sequence[tuple[Hashable, list[int]]]) -> None:
        if not isinstance(batch, (list, tuple)) or not batch:
            raise ValueError("batch must be a non-empty list of (seq_id, token_ids)")
        seen = set()
        cfg = self.model.config
        for entry in batch:
            if not isinstance(entry, (list, tuple)) or len(entry) != 2:
                raise ValueError(f"each batch entry must be (seq_id, token_ids): got {entry!r}")
            sid, toks = entry
            if sid in seen:
                raise ValueError(f"sequence {sid!r} appears twice in one batch: give each sequence one entry")
            seen.add(sid)
            if not toks or not all(isinstance(t, int) and 0 <= t < cfg.vocab_size for t in toks):
                raise ValueError(f"token_ids of {sid!r} must be a non-empty list of ints in [0, {cfg.vocab_size})")
            length = self.manager.num_tokens(sid) if sid in self.manager else 0
            if length + len(toks) > cfg.n_positions:
                raise ValueError(f"sequence {sid!r} would hold {length + len(toks)} tokens, more than "
                                 f"n_positions={cfg.n_positions}")

    @torch.no_grad()
    def step(self, batch: Sequence[tuple[Hashable, list[int]]], padding_rows: int = 0) -> dict[Hashable, torch.Tensor]:
        """Append each entry's tokens, run one forward pass, return each entry's last-token logits.

        ``padding_rows`` extra rows go through every dense layer (embeddings, QKV, projections,
        MLP) but neither read nor write the cache: the rows of finished requests that a static
        batch still carries (FasterTransformer computes them in its GEMMs; its attention kernel
        skips finished rows). Raises OutOfBlocks before changing anything if the whole batch
        does not fit.
        """
        nonneg_int("padding_rows", padding_rows)
        self._validate(batch)
        needed = sum(self.manager.blocks_needed_for(sid, toks) for sid, toks in batch)
        if needed > self.allocator.num_free:
            raise OutOfBlocks(f"batch needs {needed} free blocks, {self.allocator.num_free} "
                              f"of {self.allocator.num_blocks} are free")
        device = self.model.wte.weight.device
        B = self.block_size
        # metadata in plain Python lists, turned into tensors once (vLLM's "prepare inputs")
        ids: list[int] = []
        pos: list[int] = []
        slots: list[int] = []
        qseq: list[int] = []
        tables: list[list[int]] = []
        ctx: list[int] = []
        last: list[int] = []
        for i, (sid, toks) in enumerate(batch):
            self.cache.copy_blocks(self.manager.append(sid, toks))
            hits = self.manager.last_append_hits(sid)
            total = self.manager.num_tokens(sid)
            table = self.manager.block_table(sid)
            p = range(total - len(toks) + hits, total)
            ids += toks[hits:]
            pos += p
            slots += [table[t // B] * B + t % B for t in p]
            qseq += [i] * len(p)
            tables.append(table)
            ctx.append(total)
            last.append(len(ids) - 1)
        width = max(len(t) for t in tables)
        padded = array("q")  # the block tables, each padded with block 0 to the longest
        for t in tables:
            padded.fromlist(t)
            padded.fromlist([0] * (width - len(t)))
        block_tables = _long_tensor(padded, device).view(len(tables), width)
        slot_t, qseq_t, pos_t, ctx_t = (_long_tensor(x, device) for x in (slots, qseq, pos, ctx))
        n_done = len(ids)
        plan = AttentionPlan(block_tables, ctx_t, qseq_t, pos_t, B)  # once, for every layer

        def attention(layer: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
            if padding_rows:
                q, k, v = q[:n_done], k[:n_done], v[:n_done]
            self.cache.write(layer, k, v, slot_t)
            out = plan.run(q, self.cache.keys(layer), self.cache.values(layer))
            return torch.cat([out, out.new_zeros(padding_rows, *out.shape[1:])]) if padding_rows else out

        all_pos = torch.cat([pos_t, pos_t.new_zeros(padding_rows)]) if padding_rows else pos_t
        logits = self.model.forward_packed(_long_tensor(ids + [0] * padding_rows, device), all_pos, attention,
                                           logits_index=_long_tensor(last, device))
        self.tokens_computed += n_done
        self.padding_rows_computed += padding_rows
        return dict(zip((sid for sid, _ in batch), logits.unbind(0)))

    def free(self, seq_id: Hashable) -> None:
        """Release a finished sequence's blocks."""
        self.manager.free(seq_id)


def _long_tensor(values: list[int] | array, device: torch.device) -> torch.Tensor:
    """A LongTensor of a non-empty list of ints, through an ``array`` (torch.tensor on a list of
    Python ints costs about 10x more: a decode step's metadata is made every step)."""
    return torch.frombuffer(values if isinstance(values, array) else array("q", values), dtype=torch.long).to(device)


def generate_paged(model: GPT, prompts: Sequence[list[int]], max_new_tokens: int,
                   block_size: int = KVCacheConfig.generate_block_size,
                   num_blocks: int | None = None, enable_prefix_cache: bool = False) -> tuple[list[list[int]], dict]:
    """Greedy generation for all prompts at once with the paged cache: one prefill step for every
    prompt, then one batched decode step per new token. Returns (new tokens per prompt, stats)."""
    nonneg_int("max_new_tokens", max_new_tokens)
    positive_int("block_size", block_size)
    if not prompts:
        raise ValueError("prompts must hold at least one prompt")
    if num_blocks is None:  # exactly enough for every sequence at full length
        num_blocks = sum(ceil_div(len(p) + max_new_tokens, block_size) for p in prompts)
    runner = PagedModelRunner(model, num_blocks, block_size, enable_prefix_cache=enable_prefix_cache)
    outs: list[list[int]] = [[] for _ in prompts]
    t0 = time.perf_counter()
    batch = [(i, list(p)) for i, p in enumerate(prompts)]
    for _ in range(max_new_tokens):
        logits = runner.step(batch)
        for i in range(len(prompts)):
            outs[i].append(int(logits[i].argmax()))
        batch = [(i, [outs[i][-1]]) for i in range(len(prompts))]
    seconds = time.perf_counter() - t0
    stats = {"seconds": seconds, "tokens_per_s": len(prompts) * max_new_tokens / seconds if seconds else 0.0,
             "num_blocks": num_blocks, "blocks_used_peak": runner.allocator.num_used,
             "tokens_computed": runner.tokens_computed,
             "prefix_hits": runner.manager.prefix_cache.hits if enable_prefix_cache else 0}
    for i in range(len(prompts)):
        runner.free(i)
    return outs, stats
