"""Paged attention equals torch SDPA over contiguous K/V; paged generation equals full recomputation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

from mlsys_kit.kvcache.allocator import OutOfBlocks
from mlsys_kit.kvcache.paged import PagedKVCache, paged_attention, slot_mapping
from mlsys_kit.kvcache.paged_decode import AttentionPlan, paged_decode_attention
from mlsys_kit.kvcache.runner import PagedModelRunner, generate_paged
from mlsys_kit.models.gpt import GPT, preset


@settings(max_examples=40, deadline=None)
@given(data=st.data(), block_size=st.integers(1, 8), heads=st.integers(1, 3), head_dim=st.sampled_from([1, 4, 8]),
       seqs=st.lists(st.tuples(st.integers(1, 40), st.integers(1, 6)), min_size=1, max_size=5))
def test_paged_attention_equals_sdpa_on_contiguous(data, block_size, heads, head_dim, seqs):
    """Random sequences (context length, new queries) scattered over shuffled blocks."""
    seed = data.draw(st.integers(0, 2**16))
    g = torch.Generator().manual_seed(seed)
    seqs = [(ctx, min(nq, ctx)) for ctx, nq in seqs]
    need = sum(-(-ctx // block_size) for ctx, _ in seqs)
    num_blocks = need + data.draw(st.integers(0, 5))
    perm = torch.randperm(num_blocks, generator=g).tolist()  # physical blocks in random order
    cache = PagedKVCache(1, num_blocks, block_size, heads, head_dim)
    tables, qs, qseq, qpos, expected = [], [], [], [], []
    for i, (ctx, nq) in enumerate(seqs):
        nb = -(-ctx // block_size)
        table = torch.tensor([perm.pop() for _ in range(nb)])
        k = torch.randn(ctx, heads, head_dim, generator=g)
        v = torch.randn(ctx, heads, head_dim, generator=g)
        q = torch.randn(nq, heads, head_dim, generator=g)
        cache.write(0, k, v, slot_mapping(table, torch.arange(ctx), block_size))
        # reference: the last nq positions attend causally over contiguous K/V
        p = torch.arange(ctx - nq, ctx)
        mask = torch.arange(ctx)[None, :] <= p[:, None]
        ref = F.scaled_dot_product_attention(q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1),
                                             attn_mask=mask).transpose(0, 1)
        tables.append(table)
        qs.append(q)
        qseq.append(torch.full((nq,), i))
        qpos.append(p)
        expected.append(ref)
    width = max(len(t) for t in tables)
    bt = torch.zeros(len(seqs), width, dtype=torch.long)
    for i, t in enumerate(tables):
        bt[i, :len(t)] = t
    ctx_t, qseq_t, qpos_t = torch.tensor([c for c, _ in seqs]), torch.cat(qseq), torch.cat(qpos)
    out = paged_attention(torch.cat(qs), cache.keys(0), cache.values(0), bt, ctx_t, qseq_t, qpos_t)
    assert torch.allclose(out, torch.cat(expected), atol=1e-5, rtol=1e-5)
    # the fast path (paged_decode.AttentionPlan: decodes from the pool in partitions, the rest padded)
    # equals the teaching path
    plan = AttentionPlan(bt, ctx_t, qseq_t, qpos_t, block_size, partition_size=data.draw(st.integers(1, 20)))
    fast = plan.run(torch.cat(qs), cache.keys(0), cache.values(0))
    assert torch.allclose(fast, out, atol=1e-5, rtol=1e-5)


def test_kv_bytes_per_token_matches_formula():
    cfg = preset("tiny")
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        cache = PagedKVCache(cfg.n_layer, 7, 16, cfg.kv_heads, cfg.head_dim, dtype=dtype)
        elem = torch.empty((), dtype=dtype).element_size()
        formula = 2 * cfg.n_layer * cfg.kv_heads * cfg.head_dim * elem
        assert cache.bytes_per_token == formula == cfg.kv_bytes_per_token(dtype)
        assert cache.nbytes == formula * 7 * 16
    runner = PagedModelRunner(GPT("micro"), 5, 4)
    assert runner.cache.bytes_per_token == runner.model.config.kv_bytes_per_token()


@pytest.fixture(scope="module")
def tiny():
    return GPT("tiny", seed=0)


@settings(max_examples=6, deadline=None)
@given(lens=st.lists(st.integers(1, 20), min_size=1, max_size=4), block_size=st.integers(1, 8),
       seed=st.integers(0, 1000))
def test_paged_greedy_generation_is_token_identical(tiny, lens, block_size, seed):
    g = torch.Generator().manual_seed(seed)
    prompts = [torch.randint(0, tiny.config.vocab_size, (n,), generator=g).tolist() for n in lens]
    got, _ = generate_paged(tiny, prompts, max_new_tokens=6, block_size=block_size)
    assert got == [tiny.generate_reference(p, 6) for p in prompts]


def test_mixed_batch_logits_match_reference_with_fork_and_prefix_cache(tiny):
    """Prefill chunks, decodes and a forked child in one step; logits equal the no-cache forward."""
    r = PagedModelRunner(tiny, num_blocks=40, block_size=4, enable_prefix_cache=True)
    g = torch.Generator().manual_seed(1)
    a = torch.randint(0, 512, (10,), generator=g).tolist()
    b = torch.randint(0, 512, (7,), generator=g).tolist()
    r.step([("a", a), ("b", b[:3])])
    r.manager.fork("a", "a2")  # shares a's half-filled last block
    chunks = {"a": [5], "a2": [9, 8], "b": b[3:], "c": a[:9] + [3, 4]}  # c: prefix-cache hit on a
    out = r.step(list(chunks.items()))
    assert r.manager.last_append_hits("c") == 8
    full = {"a": a + [5], "a2": a + [9, 8], "b": b, "c": a[:9] + [3, 4]}
    for sid, toks in full.items():
        ref = tiny(torch.tensor([toks]))[0, -1]
        assert torch.allclose(out[sid], ref, atol=1e-4, rtol=1e-4), sid
    assert r.manager.block_table("a")[:2] == r.manager.block_table("a2")[:2]
    assert r.manager.block_table("a")[2] != r.manager.block_table("a2")[2]  # copied on write


def test_runner_out_of_blocks_changes_nothing(tiny):
    r = PagedModelRunner(tiny, num_blocks=3, block_size=4)
    r.step([("a", [1, 2, 3, 4, 5])])
    with pytest.raises(OutOfBlocks):
        r.step([("a", [6]), ("b", [1, 2, 3, 4, 5])])
    assert r.manager.num_tokens("a") == 5 and "b" not in r.manager
    with pytest.raises(ValueError, match="twice"):
        r.step([("a", [1]), ("a", [2])])
    with pytest.raises(ValueError):
        r.step([("a", [10**6])])


@pytest.mark.parametrize("pad", [1, 5])
def test_padding_rows_change_no_logits_and_no_cache(tiny, pad):
    """Static batching's padding rows run through the dense layers only: the real rows' logits
    and the cache are what they are without them."""
    plain, padded = (PagedModelRunner(tiny, num_blocks=16, block_size=4) for _ in range(2))
    for batch in ([("a", [1, 2, 3, 4, 5]), ("b", [7, 8])], [("a", [9])], [("b", [3]), ("a", [4])]):
        want, got = plain.step(batch), padded.step(batch, padding_rows=pad)
        for sid in want:
            assert torch.allclose(got[sid], want[sid], atol=1e-5)
    assert padded.padding_rows_computed == 3 * pad and padded.tokens_computed == plain.tokens_computed == 10
    assert padded.allocator.num_free == plain.allocator.num_free
    for a, b in zip(plain.cache.kv, padded.cache.kv):  # (a GEMM's rounding depends on its row count)
        assert torch.allclose(a, b, atol=1e-5)
    with pytest.raises(ValueError, match="padding_rows must be"):
        padded.step([("a", [1])], padding_rows=-1)


@pytest.mark.parametrize("ctx", [[9, 9, 9], [9, 4, 16], [16, 16]])
def test_decode_paths_equal_and_ragged(ctx):
    """Pure decode (one query per sequence), with equal lengths (no mask) and ragged ones."""
    g = torch.Generator().manual_seed(len(ctx))
    B, H, D = 4, 2, 8
    nb = sum(-(-c // B) for c in ctx) + 2
    cache = PagedKVCache(1, nb, B, H, D)
    free = list(range(nb))[::-1]
    tables, refs, qs = [], [], []
    for c in ctx:
        table = torch.tensor([free.pop() for _ in range(-(-c // B))])
        k, v, q = (torch.randn(n, H, D, generator=g) for n in (c, c, 1))
        cache.write(0, k, v, slot_mapping(table, torch.arange(c), B))
        refs.append(F.scaled_dot_product_attention(q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1)).transpose(0, 1))
        tables.append(table)
        qs.append(q)
    width = max(len(t) for t in tables)
    bt = torch.stack([torch.cat([t, torch.zeros(width - len(t), dtype=torch.long)]) for t in tables])
    out = paged_attention(torch.cat(qs), cache.keys(0), cache.values(0), bt, torch.tensor(ctx),
                          torch.arange(len(ctx)), torch.tensor(ctx) - 1)
    assert torch.allclose(out, torch.cat(refs), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["micro", "tiny", "gpt2"])
def test_allocated_kv_bytes_match_the_cost_model(name):
    """What PagedKVCache allocates per token equals `mlsys-kit model costs`' kv_bytes_per_token
    (2 * n_layer * kv_heads * head_dim * dtype_bytes), and the parameter counts agree."""
    from mlsys_kit.models import costs

    cfg = preset(name)
    for dtype in (torch.float32, torch.float16):
        elem = torch.empty((), dtype=dtype).element_size()
        tc = costs.TransformerConfig(layers=cfg.n_layer, hidden=cfg.n_embd, heads=cfg.n_head, vocab=cfg.vocab_size,
                                     dtype_bytes=elem, learned_positions=cfg.n_positions, seq_len=cfg.n_positions)
        cache = PagedKVCache(cfg.n_layer, 2, 16, cfg.kv_heads, cfg.head_dim, dtype=dtype)
        assert cache.bytes_per_token == costs.kv_bytes_per_token(tc)
    if name != "gpt2":
        assert GPT(cfg).num_parameters() == costs.param_count(tc)
    else:
        assert costs.param_count(tc) == costs.param_count(costs.preset("gpt2")) == 124_439_808


@settings(max_examples=10, deadline=None)
@given(data=st.data(), block_size=st.integers(1, 6), prefix=st.booleans())
def test_runner_random_schedule_matches_reference(data, block_size, prefix):
    """Random steps of chunked prefills, decodes, forks and frees (prompts share prefixes so the
    prefix cache hits, also inside one step): every returned logit row equals the no-cache forward."""
    model = GPT("micro", seed=1)
    r = PagedModelRunner(model, num_blocks=200, block_size=block_size, enable_prefix_cache=prefix)
    base = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8]
    full: dict[int, list[int]] = {}
    next_id = 0
    for _ in range(data.draw(st.integers(1, 6))):
        batch = []
        for _ in range(data.draw(st.integers(1, 3))):
            live = [s for s in full if s not in dict(batch)]
            if live and data.draw(st.booleans()):
                sid = data.draw(st.sampled_from(live))
                toks = data.draw(st.lists(st.integers(0, 127), min_size=1, max_size=3))
            else:
                sid, next_id = next_id, next_id + 1
                toks = base[:data.draw(st.integers(1, len(base)))] + data.draw(st.lists(st.integers(0, 127), max_size=4))
            batch.append((sid, toks))
        out = r.step(batch)
        for sid, toks in batch:
            full[sid] = full.get(sid, []) + toks
            with torch.no_grad():
                ref = model(torch.tensor([full[sid]]))[0, -1]
            assert torch.allclose(out[sid], ref, atol=1e-4, rtol=1e-4)
        if full and data.draw(st.booleans()):  # fork one sequence
            parent = data.draw(st.sampled_from(sorted(full)))
            r.manager.fork(parent, next_id)
            full[next_id] = list(full[parent])
            next_id += 1
        if len(full) > 1 and data.draw(st.booleans()):
            gone = data.draw(st.sampled_from(sorted(full)))
            r.free(gone)
            del full[gone]
    for sid in list(full):
        r.free(sid)
    assert r.allocator.num_used == 0


@settings(max_examples=40, deadline=None)
@given(data=st.data(), block_size=st.integers(1, 8), heads=st.integers(1, 3), head_dim=st.sampled_from([1, 4, 8]),
       lens=st.lists(st.integers(1, 60), min_size=1, max_size=10), partition_size=st.integers(1, 40))
def test_decode_fast_path_equals_sdpa(data, block_size, heads, head_dim, lens, partition_size):
    """Decode-only batches (one query per sequence) read from the pool in partitions merged by
    log-sum-exp, with random context lengths, shuffled block tables and query positions."""
    g = torch.Generator().manual_seed(data.draw(st.integers(0, 2**16)))
    nbs = [-(-n // block_size) for n in lens]
    num_blocks = sum(nbs) + data.draw(st.integers(0, 5))
    perm = torch.randperm(num_blocks, generator=g).tolist()
    cache = PagedKVCache(1, num_blocks, block_size, heads, head_dim)
    bt = torch.zeros(len(lens), max(nbs), dtype=torch.long)
    qs, pos, expected = [], [], []
    for i, (n, nb) in enumerate(zip(lens, nbs)):
        bt[i, :nb] = torch.tensor([perm.pop() for _ in range(nb)])
        k, v = torch.randn(n, heads, head_dim, generator=g), torch.randn(n, heads, head_dim, generator=g)
        q = torch.randn(1, heads, head_dim, generator=g)
        cache.write(0, k, v, slot_mapping(bt[i, :nb], torch.arange(n), block_size))
        p = data.draw(st.sampled_from([n - 1, data.draw(st.integers(0, n - 1))]))  # mostly the last token
        ref = F.scaled_dot_product_attention(q.transpose(0, 1), k[:p + 1].transpose(0, 1), v[:p + 1].transpose(0, 1))
        qs.append(q)
        pos.append(p)
        expected.append(ref.transpose(0, 1))
    q, ctx, pos = torch.cat(qs), torch.tensor(lens), torch.tensor(pos)
    out = paged_decode_attention(q, cache.keys(0), cache.values(0), bt, ctx, pos,
                                 partition_size=partition_size)
    assert torch.allclose(out, torch.cat(expected), atol=1e-5, rtol=1e-5)
    # the teaching path gives the same answer for a decode-only batch
    via_dispatch = paged_attention(q, cache.keys(0), cache.values(0), bt, ctx, torch.arange(len(lens)), pos)
    assert torch.allclose(via_dispatch, torch.cat(expected), atol=1e-5, rtol=1e-5)
