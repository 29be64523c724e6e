"""One home per default (mlsys_kit/kvcache/config.py): the CLI, the demo, the widget and the
accounting functions agree with KVCacheConfig, and the config rejects bad values saying what is
allowed."""

import inspect

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config_helpers import check_field

from mlsys_kit.cli import build_parser
from mlsys_kit.kvcache import accounting, runner, scenario
from mlsys_kit.kvcache.config import KVCACHE, KVCacheConfig


def _defaults(*argv: str) -> dict:
    return vars(build_parser().parse_args(["kvcache", *argv]))


def test_cli_defaults_are_the_configs():
    waste = _defaults("waste")
    assert {k: waste[k] for k in ("block_size", "requests", "max_len", "samples", "shared_prefix", "seed")} == {
        "block_size": KVCACHE.block_size, "requests": KVCACHE.requests, "max_len": KVCACHE.max_len,
        "samples": KVCACHE.samples, "shared_prefix": KVCACHE.shared_prefix, "seed": KVCACHE.seed}
    assert _defaults("blocks")["block_size"] == KVCACHE.grid_block_size
    gen = _defaults("generate")
    assert (gen["preset"], gen["prompts"], gen["prompt_len"], gen["max_new_tokens"], gen["block_size"], gen["seed"]) == (
        KVCACHE.preset, KVCACHE.prompts, KVCACHE.prompt_len, KVCACHE.max_new_tokens, KVCACHE.generate_block_size,
        KVCACHE.seed)


def test_function_defaults_are_the_configs():
    def default(fn, name):
        return inspect.signature(fn).parameters[name].default

    for fn in (accounting.sample_workload, accounting.waste_report, accounting.sweep_block_sizes,
               accounting.sharing_report):
        assert default(fn, "max_len") == KVCACHE.max_len and default(fn, "seed") == KVCACHE.seed
    assert default(accounting.sharing_report, "samples") == KVCACHE.samples
    assert default(accounting.sharing_report, "shared_prefix") == KVCACHE.shared_prefix
    assert default(scenario.replay, "block_size") == KVCACHE.grid_block_size
    assert default(runner.generate_paged, "block_size") == KVCACHE.generate_block_size


def test_widget_starts_at_the_configs():
    from mlsys_kit.kvcache.viz import kv_cache_explorer

    play, step, block = kv_cache_explorer().children[0].children
    assert step.value == play.value == KVCACHE.widget_step
    assert block.value == KVCACHE.grid_block_size and list(block.options) == list(KVCACHE.widget_block_sizes)


def test_the_demo_reads_the_config():
    """The demo restates no number: every literal default it used is gone from its source."""
    from mlsys_kit.kvcache import demo

    src = inspect.getsource(demo)  # the section and the imports above it
    assert "KVCACHE" in src
    for literal in ("waste_report(16", "replay(8", "(4, 16)", ", 32, block_size=16", "sweep_block_sizes(SWEEP"):
        assert literal not in src


def _ok(**changes) -> bool:
    """The rules of KVCacheConfig, written out again for the property test."""
    c = {**KVCacheConfig.__dataclass_fields__, **changes}
    value = {k: (changes[k] if k in changes else getattr(KVCACHE, k)) for k in c}
    pos = ("block_size", "requests", "samples", "grid_block_size", "prompts", "prompt_len", "max_new_tokens",
           "generate_block_size", "max_len")
    if any(type(value[k]) is not int or value[k] < 1 for k in pos):
        return False
    if any(type(value[k]) is not int or value[k] < 0 for k in ("shared_prefix", "seed", "grid_steps", "widget_step")):
        return False
    return value["max_len"] >= 2 and value["shared_prefix"] < value["max_len"] - 1


@given(field=st.sampled_from(["block_size", "requests", "max_len", "samples", "shared_prefix", "seed",
                              "grid_steps", "prompts", "prompt_len", "max_new_tokens"]),
       value=st.one_of(st.integers(-5, 3000), st.floats(-2, 5), st.booleans(), st.none(), st.text(max_size=2)))
def test_validation_agrees_with_the_rules(field, value):
    cfg = check_field(KVCacheConfig, field, value, _ok(**{field: value}), named=("shared_prefix",))
    assert cfg is None or cfg.replace() == cfg


def test_config_rejects_bad_groups_with_what_is_allowed():
    with pytest.raises(ValueError, match="shared_prefix must be below max_len - 1 = 63: got 63"):
        KVCacheConfig(max_len=64, shared_prefix=63)
    with pytest.raises(ValueError, match="sweep must be a non-empty tuple"):
        KVCacheConfig(sweep=())
    with pytest.raises(ValueError, match="every block size in sweep must be a positive integer: got 0"):
        KVCacheConfig(sweep=(4, 0))
    with pytest.raises(ValueError, match="grid_block_size must be one of widget_block_sizes"):
        KVCacheConfig(grid_block_size=3)
    with pytest.raises(ValueError, match="preset must be a model preset name"):
        KVCacheConfig(preset="")
    with pytest.raises(Exception, match="cannot assign"):
        KVCACHE.block_size = 8  # frozen
