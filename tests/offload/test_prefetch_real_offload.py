"""InfiniGen's prefetch as a real decode loop (KV cache in host tensors, only the speculated
tokens' K and V gathered per layer) equals the masked evaluation: same logits, same bytes."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mlsys_kit.offload.infinigen import prefetch_eval, random_columns, skew
from mlsys_kit.offload.prefetch_real import decode_with_prefetch
from mlsys_kit.offload.train import calibration_ids, eval_ids, trained_gpt

MODEL = trained_gpt()
PART = skew(MODEL, calibration_ids())
IDS = eval_ids(80)


@settings(max_examples=6, deadline=None)
@given(fraction=st.floats(0.02, 1.0), prompt=st.integers(8, 60), skewed=st.booleans())
def test_the_decode_loop_fetches_what_the_evaluation_counts_and_computes_the_same_logits(fraction, prompt, skewed):
    part = PART if skewed else random_columns(MODEL, 0.25, seed=prompt)
    real = decode_with_prefetch(MODEL, IDS, prompt, fraction, part)
    ev = prefetch_eval(MODEL, IDS, prompt, fraction, part, "skewed" if skewed else "random")
    assert real["bytes_fetched"] == ev["bytes_fetched"]
    torch.testing.assert_close(real["logits"], ev["logits"][prompt:], rtol=1e-4, atol=1e-4)


def test_fetching_everything_is_the_model():
    real = decode_with_prefetch(MODEL, IDS, 40, 1.0, PART)
    with torch.no_grad():
        torch.testing.assert_close(real["logits"], MODEL(IDS[None])[0, 40:], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kwargs, message", [
    ({"fraction": 0.0}, "fraction must be in"),
    ({"prompt_len": 80}, "prompt_len < len\\(ids\\)"),
    ({"part": None}, "part a Partial"),
])
def test_bad_input_is_a_value_error(kwargs, message):
    args = {"model": MODEL, "ids": IDS, "prompt_len": 40, "fraction": 0.5, "part": PART}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        decode_with_prefetch(**args)
