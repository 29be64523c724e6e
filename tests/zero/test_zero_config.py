"""One home per default (mlsys_kit/zero/config.py): the CLI, the demo, the widget, the analytic
model and the launcher agree with ZeroConfig, and the config rejects bad values saying what is
allowed."""

import inspect

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config_helpers import check_field

from mlsys_kit.cli import build_parser
from mlsys_kit.zero import launch, model
from mlsys_kit.zero.config import ZERO, ZeroConfig


def _default(fn, name):
    return inspect.signature(fn).parameters[name].default


def test_cli_defaults_are_the_configs():
    mem = vars(build_parser().parse_args(["zero", "memory", "--params", "7.5B", "--ranks", "64"]))
    assert mem["k"] == ZERO.k and type(mem["k"]) is float  # --k parses to a float; its default is one too
    run = vars(build_parser().parse_args(["zero", "run", "--stage", "1", "--ranks", "2"]))
    assert run["steps"] == ZERO.run_steps


def test_model_and_launcher_defaults_are_the_configs():
    for fn in (model.memory_per_device, model.all_stages, model.bytes_per_param, model.max_params, model.check_fits):
        assert _default(fn, "k") == ZERO.k == 12 and type(_default(fn, "k")) is int  # padded byte counts stay ints
    assert type(model.memory_per_device(33, 6, 1, padded=True).total_bytes) is int
    assert (_default(launch.run_stages, "steps"), _default(launch.run_stages, "sizes"),
            _default(launch.run_stages, "per_rank_batch"), _default(launch.run_stages, "lr"),
            _default(launch.run_stages, "seed"), _default(launch.run_stages, "atol")) == (
        ZERO.run_steps, ZERO.run_sizes, ZERO.run_per_rank_batch, ZERO.lr, ZERO.seed, ZERO.atol)
    assert _default(launch.run_zero, "steps") == ZERO.run_steps


def test_widget_starts_at_the_papers_figure_1():
    from mlsys_kit.zero.viz import zero_explorer

    assert _default(zero_explorer, "params_b") == ZERO.example_params / 1e9 == 7.5
    (size, nd), (kk, mem) = (box.children for box in zero_explorer().children[:2])
    assert (size.value, nd.value, kk.value, mem.value) == (7.5, ZERO.example_ranks, ZERO.k, ZERO.example_device_gb)


def test_the_demo_reads_the_config():
    from mlsys_kit.zero import demo

    src = inspect.getsource(demo)  # the section and the imports above it
    assert "ZERO" in src
    for literal in ("7_500_000_000", "32e9", "simulate(s, 6", "(10, 33, 5)", "run_stages([1, 2, 3], 2"):
        assert literal not in src


_POSITIVE_INTS = ("example_params", "example_ranks", "run_steps", "run_per_rank_batch", "sim_ranks", "sim_steps",
                  "demo_run_ranks", "demo_run_steps")
_POSITIVE_NUMBERS = ("k", "example_device_gb", "lr", "atol")


def _ok(field: str, value) -> bool:
    """The rules of ZeroConfig, written out again for the property test."""
    if field in _POSITIVE_INTS:
        return type(value) is int and value >= 1
    if field in _POSITIVE_NUMBERS:
        return type(value) in (int, float) and 0 < value < float("inf")
    if field == "seed":
        return type(value) is int and value >= 0
    return (type(value) is tuple and len(value) >= 2
            and all(type(w) is int and w >= 1 for w in value))  # run_sizes, sim_sizes


@given(field=st.sampled_from([*_POSITIVE_INTS, *_POSITIVE_NUMBERS, "seed", "run_sizes", "sim_sizes"]),
       value=st.one_of(st.integers(-3, 10**10), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                       st.none(), st.tuples(st.integers(-1, 9)), st.tuples(st.integers(-1, 9), st.integers(-1, 9)),
                       st.lists(st.integers(1, 9), min_size=2, max_size=2)))
def test_validation_agrees_with_the_rules(field, value):
    check_field(ZeroConfig, field, value, _ok(field, value))


def test_config_is_frozen_and_replace_revalidates():
    assert ZERO.replace(k=8).k == 8 and ZERO.k == 12
    with pytest.raises(ValueError, match="run_sizes must be a tuple of at least two layer widths"):
        ZERO.replace(run_sizes=(32,))
    with pytest.raises(Exception, match="cannot assign"):
        ZERO.k = 8
