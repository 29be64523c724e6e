"""The cost model against a second implementation (Hugging Face transformers models: their
parameters, their measured FLOPs, their KV cache) and against published numbers."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from mlsys_kit.models import costs

transformers = pytest.importorskip("transformers")  # a test dependency; always installed by make test

PUBLISHED = {  # parameter counts published for the checkpoints (HF num_parameters())
    "gpt2": 124_439_808,
    "opt-13b": 12_853_473_280,
    "llama2-7b": 6_738_415_616,
    "llama2-70b": 68_976_648_192,
}


def hf_model(cfg: costs.TransformerConfig, device: str = "cpu"):
    """The same architecture built by transformers (GPT-2 layout or LLaMA layout)."""
    common = dict(bos_token_id=0, eos_token_id=0, attn_implementation="eager")
    with torch.device(device):
        if cfg.mlp == "gelu":
            assert cfg.kv_heads in (None, cfg.heads) and cfg.norm == "layernorm" and cfg.bias and cfg.tied_embeddings
            if cfg.learned_positions == 2050:  # OPT keeps 2 extra position rows
                hc = transformers.OPTConfig(num_hidden_layers=cfg.layers, hidden_size=cfg.hidden,
                                            num_attention_heads=cfg.heads, ffn_dim=cfg.ffn, vocab_size=cfg.vocab,
                                            max_position_embeddings=2048, word_embed_proj_dim=cfg.hidden,
                                            pad_token_id=1, **common)
                return transformers.OPTForCausalLM(hc)
            hc = transformers.GPT2Config(n_layer=cfg.layers, n_embd=cfg.hidden, n_head=cfg.heads, n_inner=cfg.ffn,
                                         vocab_size=cfg.vocab, n_positions=cfg.learned_positions, **common)
            return transformers.GPT2LMHeadModel(hc)
        assert cfg.norm == "rmsnorm" and not cfg.bias and cfg.learned_positions == 0
        hc = transformers.LlamaConfig(num_hidden_layers=cfg.layers, hidden_size=cfg.hidden,
                                      num_attention_heads=cfg.heads, num_key_value_heads=cfg.n_kv_heads,
                                      intermediate_size=cfg.ffn, vocab_size=cfg.vocab, pad_token_id=0,
                                      tie_word_embeddings=cfg.tied_embeddings, **common)
        return transformers.LlamaForCausalLM(hc)


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_presets_match_published_and_transformers(name):
    cfg = costs.preset(name)
    assert costs.param_count(cfg) == PUBLISHED[name]
    assert n_params(hf_model(cfg, device="meta")) == PUBLISHED[name]


def test_opt13b_kv_is_800kb_per_token_as_in_the_pagedattention_paper():
    assert costs.kv_bytes_per_token(costs.preset("opt-13b")) == 800 * 1024


def test_13b_model_on_40gb_card_fits_8_2k_requests():
    # (40e9 - 2 x 12.85e9) / (819,200 x 2,048) = 8.5
    assert costs.max_concurrent_requests(costs.preset("opt-13b"), 40e9, 2048) == 8


gpt_style = st.builds(
    lambda heads, hd, layers, vocab, ffn, pos: costs.TransformerConfig(
        layers=layers, hidden=heads * hd, heads=heads, vocab=vocab, ffn_hidden=ffn, learned_positions=pos, seq_len=pos),
    st.integers(1, 4), st.integers(1, 8), st.integers(1, 3), st.integers(2, 64), st.integers(1, 48), st.integers(8, 16))
llama_style = st.builds(
    lambda kv, group, hd, layers, vocab, ffn, tied: costs.TransformerConfig(
        layers=layers, hidden=kv * group * hd, heads=kv * group, kv_heads=kv, vocab=vocab, ffn_hidden=ffn,
        mlp="swiglu", norm="rmsnorm", bias=False, tied_embeddings=tied, seq_len=16),
    st.integers(1, 3), st.integers(1, 3), st.sampled_from([2, 4, 8]), st.integers(1, 3), st.integers(2, 64),
    st.integers(1, 48), st.booleans())
any_style = st.one_of(gpt_style, llama_style)


@given(any_style)
@settings(max_examples=25)
def test_param_count_equals_transformers(cfg):
    assert costs.param_count(cfg) == n_params(hf_model(cfg))


@given(any_style, st.integers(1, 8))
@settings(max_examples=20)
def test_forward_flops_equal_torch_flop_counter(cfg, seq):
    """A full forward of `seq` tokens measured by torch's FlopCounterMode equals seq x our per-token
    count at context seq (the counter counts the whole seq x seq score matrix, as we do)."""
    model = hf_model(cfg).eval()
    x = torch.randint(0, cfg.vocab, (1, seq))
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    assert counter.get_total_flops() == seq * costs.forward_flops_per_token(cfg, context=seq)


@given(llama_style, st.integers(1, 8))
@settings(max_examples=15)
def test_kv_bytes_equal_the_cache_transformers_allocates(cfg, seq):
    model = hf_model(cfg).eval()
    with torch.no_grad():
        cache = model(torch.randint(0, cfg.vocab, (1, seq)), use_cache=True).past_key_values
    stored = sum(t.numel() * t.element_size() for layer in cache.layers for t in (layer.keys, layer.values))
    assert stored == seq * costs.kv_bytes_per_token(cfg.with_(dtype_bytes=4))  # fp32 on CPU


@given(any_style)
def test_training_states_are_16_bytes_per_param_in_mixed_precision(cfg):
    s = costs.training_state_bytes(cfg)
    assert s["total"] == 16 * costs.param_count(cfg) == s["weights"] + s["gradients"] + s["optimizer"]


@given(st.integers(1, 4096), st.integers(1, 4096), st.integers(1, 4096), st.sampled_from([1, 2, 4]))
def test_gemm_intensity(m, n, k, b):
    ai = costs.gemm_intensity(m, n, k, b)
    assert math.isclose(ai, costs.gemm_intensity(n, m, k, b))  # symmetric in the outer dims
    assert ai <= 2 * min(m, n, k) / b + 1e-9  # bounded by the smallest dimension
    assert costs.gemm_intensity(m + 1, n, k, b) >= ai - 1e-12  # more rows reuse B more


@given(st.floats(1e-3, 1e4), st.sampled_from(sorted(costs.DEVICES)))
def test_roofline(ai, name):
    dev = costs.DEVICES[name]
    r = costs.roofline(ai, dev)
    assert r["attainable_flops"] <= dev.peak_flops
    assert math.isclose(r["attainable_flops"], min(dev.peak_flops, ai * dev.bandwidth))
    assert (r["bound"] == "memory") == (ai < dev.peak_flops / dev.bandwidth)


@given(any_style, st.integers(1, 10**6), st.integers(1, 64))
def test_max_concurrent_requests_is_the_largest_that_fits(cfg, spare, tokens):
    weights = costs.param_count(cfg) * cfg.dtype_bytes
    mem = weights + spare
    n = costs.max_concurrent_requests(cfg, mem, tokens)
    per = costs.kv_bytes_per_token(cfg) * tokens
    assert weights + n * per <= mem < weights + (n + 1) * per


def test_decode_is_memory_bound_and_prefill_compute_bound_on_an_a100():
    s = costs.summary(costs.preset("llama2-7b"), costs.DEVICES["a100-80gb"])
    assert s["decode_gemm"]["bound"] == "memory" and s["prefill_gemm"]["bound"] == "compute"


@pytest.mark.parametrize("bad, message", [
    (dict(layers=0, hidden=8, heads=2), "layers must be a positive integer: got 0"),
    (dict(layers=1, hidden=9, heads=2), "hidden must be divisible by heads"),
    (dict(layers=1, hidden=8, heads=4, kv_heads=3), "multiple of kv_heads"),
    (dict(layers=1, hidden=8, heads=2, mlp="relu"), "mlp must be one of gelu, swiglu"),
    (dict(layers=1.5, hidden=8, heads=2), "layers must be a positive integer"),
    (dict(layers=True, hidden=8, heads=2), "layers must be a positive integer"),
])
def test_bad_configs_are_rejected_clearly(bad, message):
    with pytest.raises(ValueError, match=message):
        costs.TransformerConfig(**bad)


def test_bad_arguments_are_rejected_clearly():
    cfg = costs.preset("gpt2")
    with pytest.raises(ValueError, match="preset must be one of"):
        costs.preset("gpt5")
    with pytest.raises(ValueError, match="context must be a positive integer"):
        costs.forward_flops_per_token(cfg, 0)
    with pytest.raises(ValueError, match="expected a TransformerConfig"):
        costs.param_count({"layers": 1})
    with pytest.raises(ValueError, match="memory_bytes must be a positive finite number"):
        costs.max_concurrent_requests(cfg, -1, 10)
    with pytest.raises(ValueError, match="intensity must be a positive"):
        costs.roofline(float("nan"), costs.DEVICES["h100-sxm"])
