"""One home per default (mlsys_kit/memory/config.py): the CLI, the widget, the demo and run_plan
agree with MemoryConfig, and the config rejects bad values saying what is allowed."""

import inspect

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config_helpers import check_field

from mlsys_kit.cli import build_parser
from mlsys_kit.memory.config import CHAIN_PRESETS, MEMORY, RUN_PRESETS, MemoryConfig


def _args(*argv: str) -> dict:
    return vars(build_parser().parse_args(["memory", *argv]))


def test_cli_defaults_are_the_configs():
    plan = _args("plan", "--policy", "sqrt")
    assert (plan["preset"], plan["batch"]) == (MEMORY.plan_preset, MEMORY.plan_batch)
    run = _args("run", "--policy", "sqrt")
    assert (run["preset"], run["batch"], run["seq"], run["link_gbps"]) == (
        MEMORY.run_preset, MEMORY.run_batch, MEMORY.run_seq, MEMORY.run_link_gbps)
    off = _args("offload", "--params", "13B")
    assert (off["ranks"], off["device_memory"], off["activations_gb"], off["link_gbps"]) == (
        MEMORY.offload_ranks, MEMORY.offload_device_gb, MEMORY.offload_activations_gb, MEMORY.offload_link_gbps)


def test_functions_widget_and_demo_read_the_config():
    from mlsys_kit.memory import demo
    from mlsys_kit.memory.real import run_plan
    from mlsys_kit.memory.viz import memory_explorer

    sig = inspect.signature(run_plan).parameters
    assert [sig[k].default for k in ("preset", "batch", "seq", "seed")] == [
        MEMORY.run_preset, MEMORY.run_batch, MEMORY.run_seq, MEMORY.seed]
    sig = inspect.signature(memory_explorer).parameters
    assert [sig[k].default for k in ("preset", "batch", "budget_gb", "link_gbps")] == [
        MEMORY.plan_preset, MEMORY.plan_batch, MEMORY.widget_budget_gb, MEMORY.widget_link_gbps]
    src = inspect.getsource(demo.section)
    assert "MEMORY" in src and 'real_plan(p, "micro", 2, 16' not in src and 'run_plan(pl, "micro", 2, 16)' not in src


_INTS = ("plan_batch", "run_batch", "run_seq", "offload_ranks")
_NUMBERS = ("widget_budget_gb", "widget_link_gbps", "run_link_gbps", "offload_device_gb", "offload_link_gbps")


def _ok(field: str, value) -> bool:
    """The rules of MemoryConfig, written out again for the property test."""
    if field == "plan_preset":
        return value in CHAIN_PRESETS
    if field == "run_preset":
        return value in RUN_PRESETS
    if field in _INTS:
        return type(value) is int and value >= 1
    if field == "seed":
        return type(value) is int and value >= 0
    finite = type(value) in (int, float) and value == value and abs(value) != float("inf")
    return finite and (value >= 0 if field == "offload_activations_gb" else value > 0)


@given(field=st.sampled_from([*_INTS, *_NUMBERS, "seed", "offload_activations_gb", "plan_preset", "run_preset"]),
       value=st.one_of(st.integers(-3, 100), st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(),
                       st.sampled_from([*CHAIN_PRESETS, *RUN_PRESETS, "gpt-5", ""])))
def test_validation_agrees_with_the_rules(field, value):
    check_field(MemoryConfig, field, value, _ok(field, value))


def test_config_is_frozen():
    with pytest.raises(Exception, match="cannot assign"):
        MEMORY.plan_batch = 4
    assert MEMORY.replace(plan_batch=4).plan_batch == 4 and MEMORY.plan_batch == 8
