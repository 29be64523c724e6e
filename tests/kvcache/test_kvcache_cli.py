"""``mlsys-kit kvcache ...`` commands, the demo section and the figures."""

from __future__ import annotations

import json

import pytest

from mlsys_kit.cli import main
from mlsys_kit.kvcache.scenario import EVENTS, replay


def run_json(capsys, *argv):
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_waste_json_and_plot(capsys, tmp_path):
    plot = tmp_path / "w.png"
    out = run_json(capsys, "kvcache", "waste", "--block-size", "8", "--requests", "300", "--seed", "2",
                   "--json", "--plot", str(plot))
    assert out["static_utilization"] < 0.5 < out["paged_utilization"] <= 1
    assert out["paged_waste_slots_per_seq"] < 8
    assert out["sharing"]["fork_blocks_with_sharing"] < out["sharing"]["fork_blocks_without_sharing"]
    assert plot.stat().st_size > 10_000


def test_generate_json_matches_reference(capsys):
    out = run_json(capsys, "kvcache", "generate", "--preset", "micro", "--prompts", "3", "--max-new-tokens", "8",
                   "--block-size", "4", "--json")
    assert out["matches_reference"] is True and out["tokens_per_s"] > 0
    assert len(out["outputs"]) == 3 and all(len(o) == 8 for o in out["outputs"])


def test_blocks_json_and_plot(capsys, tmp_path):
    out = run_json(capsys, "kvcache", "blocks", "--block-size", "4", "--steps", "8", "--json",
                   "--plot", str(tmp_path / "b.png"))
    assert out["blocks_shared"] > 0 and out["prefix_cache"]["hits"] == 4
    assert "copy-on-write" in " ".join(out["log"])


@pytest.mark.parametrize("argv", [
    ["kvcache", "waste", "--block-size", "0"],
    ["kvcache", "waste", "--requests", "-3"],
    ["kvcache", "generate", "--preset", "micro", "--prompt-len", "250", "--max-new-tokens", "10"],
    ["kvcache", "generate", "--preset", "nope"],
])
def test_bad_input_exits_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err


def test_bad_preset_message(capsys):
    with pytest.raises(SystemExit):
        main(["kvcache", "generate", "--preset", "nope"])
    assert "unknown model preset 'nope'" in capsys.readouterr().err


def test_scenario_replay_any_block_size():
    for b in (1, 3, 4, 16, 64):
        mgr, log = replay(len(EVENTS), b)
        assert len(log) == len(EVENTS)
        owners = mgr.owners()
        assert all(mgr.allocator.refcount(blk) == len(o) for blk, o in owners.items())


def test_demo_section():
    from mlsys_kit.kvcache.demo import section

    sec = section(lambda msg: None)
    rows = dict(sec.rows)
    assert rows["paged greedy generation token-identical to reference"] is True
    assert rows["static reservation: KV memory holding tokens"] < 0.5
    assert len(sec.figures) == 2 and all(f.png.startswith(b"\x89PNG") for f in sec.figures)
