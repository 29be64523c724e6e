"""The tiny GPT: presets, seeded init, and equality with transformers' GPT2LMHeadModel."""

from __future__ import annotations

import pytest
import torch

from mlsys_kit.models.gpt import GPT, PRESETS, GPTConfig, preset
from mlsys_kit.models.gpt_hf import gpt_from_hf_state_dict, load_hf_gpt2


def _hf_model(n_layer=2, n_head=4, n_embd=64, vocab=300, n_positions=96, seed=3):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    cfg = GPT2Config(vocab_size=vocab, n_positions=n_positions, n_embd=n_embd, n_layer=n_layer,
                     n_head=n_head, bos_token_id=0, eos_token_id=0, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    return GPT2LMHeadModel(cfg).eval()


def test_presets_sizes():
    tiny = GPT("tiny").num_parameters()
    assert 0.8e6 < tiny < 1.5e6
    # GPT-2 small: 124M parameters (tied head), computed from shapes without building it
    c = PRESETS["gpt2"]
    per_layer = 12 * c.n_embd**2 + 13 * c.n_embd
    total = c.vocab_size * c.n_embd + c.n_positions * c.n_embd + c.n_layer * per_layer + 2 * c.n_embd
    assert 124e6 < total < 125e6


def test_seeded_init_is_deterministic_and_seed_dependent():
    a, b, c = GPT("micro", seed=1), GPT("micro", seed=1), GPT("micro", seed=2)
    for (n, pa), pb, pc in zip(a.named_parameters(), b.parameters(), c.parameters()):
        assert torch.equal(pa, pb), n
    assert not torch.equal(a.wte.weight, c.wte.weight)


def test_bad_config_and_inputs():
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(n_embd=30, n_head=4)
    with pytest.raises(ValueError, match="preset"):
        preset("huge")
    m = GPT("micro")
    with pytest.raises(ValueError, match="token ids"):
        m(torch.tensor([[0, 999]]))
    with pytest.raises(ValueError, match="n_positions"):
        m.generate_reference([1, 2], max_new_tokens=1000)


def test_matches_transformers_gpt2(tmp_path):
    hf = _hf_model()
    ours = gpt_from_hf_state_dict(hf.state_dict(), n_head=4)
    idx = torch.randint(0, 300, (3, 40), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = hf(idx).logits
        got = ours(idx)
    assert torch.allclose(got, ref, atol=1e-5, rtol=1e-4), (got - ref).abs().max()
    # greedy tokens equal
    prompt = idx[0, :10].tolist()
    with torch.no_grad():
        hf_out = hf.generate(torch.tensor([prompt]), max_new_tokens=12, do_sample=False,
                             pad_token_id=0)[0, 10:].tolist()
    assert ours.generate_reference(prompt, 12) == hf_out


@pytest.mark.parametrize("suffix", [".safetensors", ".bin"])
def test_load_from_file(tmp_path, suffix):
    hf = _hf_model(n_layer=1, n_head=2, n_embd=32, vocab=100, n_positions=32, seed=5)
    path = tmp_path / f"model{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        sd = {k: v.contiguous() for k, v in hf.state_dict().items() if k != "lm_head.weight"}
        save_file(sd, str(path))
    else:
        torch.save(hf.state_dict(), path)
    ours = load_hf_gpt2(path, n_head=2)
    idx = torch.randint(0, 100, (2, 20), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.allclose(ours(idx), hf(idx).logits, atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="not found"):
        load_hf_gpt2(tmp_path / "nope.bin")


def test_hf_loader_rejects_wrong_state_dicts():
    hf = _hf_model(n_layer=1, n_head=2, n_embd=32, vocab=100, n_positions=32, seed=6)
    sd = dict(hf.state_dict())
    del sd["transformer.h.0.mlp.c_fc.weight"]
    with pytest.raises(ValueError, match="missing"):
        gpt_from_hf_state_dict(sd, n_head=2)
    with pytest.raises(ValueError, match="not a GPT-2 state dict"):
        gpt_from_hf_state_dict({"foo": torch.zeros(1)})
    with pytest.raises(ValueError, match="n_head"):
        gpt_from_hf_state_dict(_hf_model(n_layer=1, n_head=2, n_embd=48, vocab=100, n_positions=32).state_dict())


def test_forward_packed_equals_forward_with_full_context_attention():
    """forward_packed with an attention callback that sees the whole (single) sequence is the reference."""
    import torch.nn.functional as F

    m = GPT("micro", seed=3)
    idx = torch.randint(0, 128, (1, 17), generator=torch.Generator().manual_seed(2))

    def attention(layer, q, k, v):
        return F.scaled_dot_product_attention(q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1),
                                              is_causal=True).transpose(0, 1)

    with torch.no_grad():
        got = m.forward_packed(idx[0], torch.arange(17), attention)
        assert torch.allclose(got, m(idx)[0], atol=1e-5)
