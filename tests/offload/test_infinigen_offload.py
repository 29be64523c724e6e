"""InfiniGen's speculative prefetch on the tiny GPT trained on the shipped text: fetching every
token is full attention, the mass recovered grows with the fraction fetched, and the skewed
partial query finds more of it than random columns do."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mlsys_kit.models.gpt import GPT
from mlsys_kit.offload.infinigen import Partial, prefetch_eval, random_columns, select, skew
from mlsys_kit.offload.train import TRAINED, calibration_ids, eval_ids, held_out_loss, trained_gpt

MODEL = trained_gpt()
PART = skew(MODEL, calibration_ids())
IDS = eval_ids(160)
PROMPT = 48


def test_the_model_learned_something():
    assert held_out_loss(MODEL) < 3.2 < math.log(TRAINED.vocab_size) - 0.5


def test_fetching_everything_is_full_attention_exactly():
    res = prefetch_eval(MODEL, IDS, PROMPT, 1.0, PART)
    assert torch.equal(res["logits"], res["full_logits"])
    assert res["max_abs_error"] == 0.0 and res["attention_output_max_abs_error"] == 0.0
    assert res["bytes_fetched"] == res["bytes_full"] and res["top1_agreement"] == 1.0
    assert res["attention_mass"] == pytest.approx(1.0, abs=1e-6)
    with torch.no_grad():  # and full attention is the model's own forward (SDPA), up to rounding
        torch.testing.assert_close(res["full_logits"], MODEL(IDS[None])[0], rtol=1e-4, atol=1e-4)


@settings(max_examples=10, deadline=None)
@given(f1=st.floats(0.01, 1.0), f2=st.floats(0.01, 1.0), columns=st.sampled_from(["skewed", "random", "oracle"]))
def test_attention_mass_and_bytes_are_monotone_in_the_fraction(f1, f2, columns):
    lo, hi = sorted((f1, f2))
    part = PART if columns == "skewed" else random_columns(MODEL, 0.25, seed=3)
    a, b = (prefetch_eval(MODEL, IDS, PROMPT, f, part, columns) for f in (lo, hi))
    assert a["attention_mass"] <= b["attention_mass"]
    assert all(x <= y for x, y in zip(a["attention_mass_per_layer"], b["attention_mass_per_layer"]))
    assert a["bytes_fetched"] <= b["bytes_fetched"] <= b["bytes_full"]
    # bytes: ceil(fraction x t) cached tokens per decode position, K and V of every head and layer
    per = 2 * TRAINED.n_embd * 4 * TRAINED.n_layer
    assert b["bytes_fetched"] == per * sum(math.ceil(hi * t - 1e-9) for t in range(PROMPT, len(IDS)))


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.4])
def test_the_skewed_partial_query_beats_random_columns_and_trails_the_oracle(fraction):
    skewed = prefetch_eval(MODEL, IDS, PROMPT, fraction, PART)["attention_mass"]
    rand = [prefetch_eval(MODEL, IDS, PROMPT, fraction, random_columns(MODEL, 0.25, s), "random")["attention_mass"]
            for s in range(4)]
    oracle = prefetch_eval(MODEL, IDS, PROMPT, fraction, columns="oracle")["attention_mass"]
    assert skewed > sum(rand) / len(rand)
    assert oracle > skewed > fraction  # better than fetching a random fraction of the tokens


def test_skewing_is_a_rotation_that_keeps_every_score():
    rot = PART.rotation
    eye = torch.eye(TRAINED.head_dim).expand_as(rot)
    torch.testing.assert_close(rot.transpose(-1, -2) @ rot, eye, atol=1e-5, rtol=0)
    q, k = torch.randn(2, TRAINED.n_head, 9, TRAINED.head_dim, generator=torch.Generator().manual_seed(0))
    r = rot[2]
    torch.testing.assert_close((q @ r) @ (k @ r).transpose(-1, -2), q @ k.transpose(-1, -2), atol=1e-4, rtol=1e-4)
    # a quarter of each head's 16 columns is kept
    assert PART.cols.shape == (TRAINED.n_layer, TRAINED.n_head, 4)


def _select_loop(spec, fraction, prompt_len):
    H, T, _ = spec.shape
    keep = torch.zeros(H, T, T, dtype=torch.bool)
    for h in range(H):
        for t in range(T):
            keep[h, t, t] = True
            if t < prompt_len:
                keep[h, t, :t] = True
                continue
            n = math.ceil(fraction * t - 1e-9)
            best = sorted(range(t), key=lambda j: (-float(spec[h, t, j]), j))[:n]
            keep[h, t, best] = True
    return keep


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), T=st.integers(1, 12), prompt=st.integers(0, 12), fraction=st.floats(0.01, 1.0),
       ties=st.booleans())
def test_select_equals_a_loop_over_every_query(seed, T, prompt, fraction, ties):
    spec = torch.randn(2, T, T, generator=torch.Generator().manual_seed(seed))
    if ties:
        spec = spec.round()
    keep, fetched = select(spec, fraction, prompt)
    assert torch.equal(keep, _select_loop(spec, fraction, prompt))
    assert torch.equal(fetched, keep.sum(-1)[0] - 1)


def test_random_weights_leave_nothing_to_find():
    untrained = GPT(TRAINED, seed=0)
    part = skew(untrained, calibration_ids())
    res = prefetch_eval(untrained, IDS, PROMPT, 0.2, part)
    # near-uniform attention: the subset recovers little more than its share of the tokens
    assert res["attention_mass"] < prefetch_eval(MODEL, IDS, PROMPT, 0.2, PART)["attention_mass"]


@pytest.mark.parametrize("kwargs, message", [
    ({"fraction": 0.0}, "fraction must be in \\(0, 1\\]"),
    ({"fraction": 1.5}, "fraction must be in \\(0, 1\\]"),
    ({"columns": "best"}, "columns must be one of skewed, random, oracle"),
    ({"part": None}, "needs the partial weights"),
    ({"prompt_len": 160}, "prompt_len < len\\(ids\\)"),
    ({"ids": IDS.float()}, "1-D LongTensor"),
    ({"model": "tiny"}, "model must be"),
])
def test_bad_input_is_a_value_error(kwargs, message):
    args = {"model": MODEL, "ids": IDS, "prompt_len": PROMPT, "fraction": 0.5, "part": PART, "columns": "skewed"}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        prefetch_eval(**args)
    with pytest.raises(ValueError, match="partial must be in"):
        skew(MODEL, calibration_ids(), 0.0)
    with pytest.raises(ValueError, match="calib must be"):
        skew(MODEL, torch.zeros(300, dtype=torch.long))
    assert isinstance(PART, Partial)
