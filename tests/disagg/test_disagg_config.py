"""One home per default for disaggregated serving (disagg/config.py's DisaggConfig and
PairConfig): the CLI, the real pair, the placement module, the widget, the demo and the
benchmarks agree with it, and the configs reject bad values saying what is allowed."""

import inspect
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config_helpers import check_field

from mlsys_kit.cli import build_parser
from mlsys_kit.disagg import placement, real as disagg_real
from mlsys_kit.disagg.config import DISAGG, FIGURE1, MOONCAKE, REAL_PAIR, DisaggConfig, PairConfig
from mlsys_kit.disagg.simulate import Link, Pool, pools_and_link
from mlsys_kit.serving.config import SCHEDULER_NAMES
from mlsys_kit.serving.registry import SCHEDULERS

ROOT = Path(__file__).resolve().parents[2]


def _defaults(*argv: str) -> dict:
    return vars(build_parser().parse_args(["serve", *argv]))


def test_cli_defaults_are_the_configs():
    d = _defaults("disagg")
    for k in ("prefill", "decode", "prefill_tp", "decode_tp", "prefill_scheduler", "decode_scheduler", "ttft_slo",
              "tpot_slo", "link_gbps", "link_latency", "model", "device", "rate", "requests", "seed"):
        assert d[k] == getattr(DISAGG, k), k
    assert (d["prompt_len"], d["output_len"], d["preset"]) == (REAL_PAIR.prompt_len, REAL_PAIR.output_len,
                                                               REAL_PAIR.preset)
    p = _defaults("place", "--devices", "3")
    assert tuple(p["tps"]) == DISAGG.search_tps and p["requests"] == DISAGG.search_requests
    assert (p["ttft_slo"], p["tpot_slo"], p["link_gbps"]) == (DISAGG.ttft_slo, DISAGG.tpot_slo, DISAGG.link_gbps)
    assert list(SCHEDULERS) == list(SCHEDULER_NAMES)


def test_function_defaults_are_the_configs():
    def default(fn, name):
        return inspect.signature(fn).parameters[name].default

    for f in PairConfig.__dataclass_fields__:
        assert default(disagg_real.run_pair, f) == getattr(REAL_PAIR, f), f
    assert (default(placement.roofline_hardware, "preset"), default(placement.roofline_hardware, "device")) == (
        DISAGG.model, DISAGG.device)
    assert placement.CHATBOT_SLO == {"ttft": DISAGG.ttft_slo, "tpot": DISAGG.tpot_slo}
    assert placement.TARGET == DISAGG.target
    assert Link() == Link(DISAGG.link_gbps, DISAGG.link_latency)
    from mlsys_kit.disagg.viz import disagg_explorer

    assert default(disagg_explorer, "devices") == DISAGG.prefill + DISAGG.decode


@given(prefill=st.integers(1, 4), decode=st.integers(1, 4), ptp=st.sampled_from([1, 2, 4]),
       sched=st.sampled_from(SCHEDULER_NAMES), gbps=st.one_of(st.none(), st.floats(0.1, 1e4)))
def test_pools_and_link_build_what_the_config_says(prefill, decode, ptp, sched, gbps):
    cfg = DISAGG.replace(prefill=prefill, decode=decode, prefill_tp=ptp, decode_scheduler=sched, link_gbps=gbps)
    P, D, link = pools_and_link(cfg)
    assert P == Pool(prefill, ptp, DISAGG.prefill_scheduler) and D == Pool(decode, DISAGG.decode_tp, sched)
    assert link == Link(gbps, DISAGG.link_latency) and P.devices + D.devices == prefill * ptp + decode
    with pytest.raises(TypeError, match="cfg must be a DisaggConfig"):
        pools_and_link({"prefill": 2})


def test_the_demo_and_benchmarks_read_the_config():
    """No literal setting is left where the config has one."""
    from mlsys_kit.disagg import demo

    sources = {"demo": inspect.getsource(demo.section),
               "goodput": (ROOT / "benchmarks/disagg_goodput.py").read_text(),
               "simulator": (ROOT / "benchmarks/disagg_simulator.py").read_text()}
    for name, src in sources.items():
        assert "DISAGG" in src, name
        for literal in ("0.25, 0.1", "Link(100.0)", 'Pool(1, scheduler="continuous")', "0.4, 0.04", "14.0",
                        "2.0, 0.1"):
            assert literal not in src, (name, literal)
    assert FIGURE1.link_gbps is None and (FIGURE1.ttft_slo, FIGURE1.tpot_slo) == (0.4, 0.04)  # DistServe section 2.3
    assert (MOONCAKE.prefill, MOONCAKE.decode) == (4, 2)


def _ok_disagg(field, value) -> bool:
    """DisaggConfig's rules for one field, written out again for the property test."""
    def is_int(v):
        return type(v) is int

    def is_num(v):
        return type(v) in (int, float) and v == v and v not in (float("inf"),)
    if field in ("prefill", "decode", "prefill_tp", "decode_tp", "requests", "search_requests"):
        return is_int(value) and value >= 1
    if field in ("prefill_scheduler", "decode_scheduler"):
        return value in SCHEDULER_NAMES
    if field in ("ttft_slo", "tpot_slo", "rate"):
        return is_num(value) and value > 0
    if field == "link_gbps":
        return value is None or (is_num(value) and value > 0)
    if field == "link_latency":
        return is_num(value) and value >= 0
    if field == "target":
        return is_num(value) and 0 < value <= 1
    if field == "seed":
        return is_int(value) and value >= 0
    raise AssertionError(field)


VALUES = st.one_of(st.integers(-3, 9), st.floats(-2, 3, allow_nan=False), st.booleans(), st.none(),
                   st.sampled_from(["vllm", "chunked", "fifo", ""]))


@given(field=st.sampled_from(["prefill", "decode", "prefill_tp", "decode_tp", "prefill_scheduler", "decode_scheduler",
                              "ttft_slo", "tpot_slo", "target", "link_gbps", "link_latency", "rate", "requests",
                              "seed", "search_requests"]), value=VALUES)
def test_disagg_validation_agrees_with_the_rules(field, value):
    cfg = check_field(DisaggConfig, field, value, _ok_disagg(field, value))
    assert cfg is None or cfg.replace() == cfg


@given(field=st.sampled_from(["requests", "prompt_len", "output_len", "block_size", "rate", "seed"]), value=VALUES)
def test_pair_validation_agrees_with_the_rules(field, value):
    num = type(value) in (int, float)
    ok = {"rate": num and value > 0, "seed": type(value) is int and value >= 0,
          "output_len": type(value) is int and value >= 2}.get(field, type(value) is int and value >= 1)
    check_field(PairConfig, field, value, ok)


def test_configs_reject_bad_groups_with_what_is_allowed():
    with pytest.raises(ValueError, match="model must be one of .*got 'gpt-5'"):
        DisaggConfig(model="gpt-5")
    with pytest.raises(ValueError, match="device must be one of"):
        DisaggConfig(device="tpu")
    with pytest.raises(ValueError, match="search_tps must be a non-empty tuple"):
        DisaggConfig(search_tps=[1, 2])
    with pytest.raises(ValueError, match="search_tps must be a positive integer: got 0"):
        DisaggConfig(search_tps=(1, 0))
    with pytest.raises(ValueError, match="preset must be a model preset"):
        PairConfig(preset="")
    with pytest.raises(ValueError, match=r"output_len must be >= 2 \(token 1"):
        disagg_real.run_pair(output_len=1)
    with pytest.raises(ValueError, match="rate must be a positive finite number"):
        disagg_real.run_pair(rate=0.0)
    with pytest.raises(ValueError, match="devices must be > 1"):
        from mlsys_kit.disagg.viz import disagg_explorer

        disagg_explorer(devices=1)
    with pytest.raises(Exception, match="cannot assign"):
        DISAGG.rate = 1.0  # frozen
