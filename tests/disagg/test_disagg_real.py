"""The real pair: a prefill process and a decode process on gloo, K/V blocks sent into the
decode side's paged cache. One small run (two processes start: a few seconds)."""

import pytest

from mlsys_kit.disagg.real import run_pair


def test_pair_is_token_identical_and_moves_the_predicted_bytes():
    d = run_pair(requests=3, rate=100.0, prompt_len=20, output_len=6, preset="micro", seed=1, block_size=8)
    assert d["outputs_match_reference"] is True
    # micro: 2 layers x 2 heads x 16 dims x K,V x fp32 = 512 bytes per token
    assert d["kv_bytes_per_token"] == 512
    assert d["kv_bytes_moved_measured"] == d["kv_bytes_sent"] == d["kv_bytes_moved_predicted"] > 0
    assert d["kv_bytes_moved_measured"] % 512 == 0
    rows = d["per_request"]
    assert [r["rid"] for r in rows] == [0, 1, 2]
    for r in rows:
        assert r["arrival"] <= r["prefill_end"] <= r["first_token_time"] <= r["finish_time"]
    assert 0 < d["ttft_p50"] <= d["ttft_p99"] and d["tpot_p50"] > 0


@pytest.mark.parametrize("kw,match", [(dict(output_len=1), "output_len must be >= 2"),
                                      (dict(prompt_len=250, output_len=10), "exceeds"),
                                      (dict(requests=0), "requests must be a positive integer")])
def test_pair_rejects_bad_input(kw, match):
    with pytest.raises(ValueError, match=match):
        run_pair(**kw)
