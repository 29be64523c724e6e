"""``mlsys-kit attention io|check`` (public JSON keys), their plots, bad input, the demo section."""

import json

import pytest

from mlsys_kit.attention.io import formula_io
from mlsys_kit.cli import main


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_io_json_and_plot(capsys, tmp_path):
    plot = tmp_path / "io.png"
    out = _json(capsys, ["attention", "io", "--seq", "1024", "--head-dim", "64", "--sram-kb", "100", "--json",
                         "--plot", str(plot)])
    for key in ("standard_bytes", "flash_bytes", "ratio"):
        assert key in out
    f = formula_io(1024, 64, 51200)
    assert out["method"] == "counted" and out["block_outer"] == 200 and out["block_inner"] == 64
    assert out["standard_bytes"] == f["standard_forward"] + f["standard_backward"] == 24_641_536
    assert out["flash_bytes"] == f["flash_forward"] + f["flash_backward"]
    assert out["ratio"] == pytest.approx(out["standard_bytes"] / out["flash_bytes"])
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 10_000


def test_io_causal_forward_only_and_heads(capsys):
    one = _json(capsys, ["attention", "io", "--seq", "512", "--head-dim", "64", "--sram-kb", "64", "--json",
                         "--forward-only"])
    causal = _json(capsys, ["attention", "io", "--seq", "512", "--head-dim", "64", "--sram-kb", "64", "--json",
                            "--forward-only", "--causal", "--heads", "8"])
    assert causal["flash_bytes"] < 8 * one["flash_bytes"] and causal["standard_bytes"] == 8 * one["standard_bytes"]
    assert main(["attention", "io", "--seq", "512", "--head-dim", "64", "--sram-kb", "64"]) == 0
    assert "FlashAttention" in capsys.readouterr().out


def test_check_json_keys_and_plot(capsys, tmp_path):
    plot = tmp_path / "walk.png"
    out = _json(capsys, ["attention", "check", "--seq", "96", "--block", "32", "--head-dim", "16", "--causal",
                         "--json", "--plot", str(plot)])
    assert out["matches_sdpa"] is True
    assert 0 <= out["max_abs_error_out"] < 1e-5 and 0 <= out["max_abs_error_grad"] < 1e-5
    assert plot.read_bytes()[:4] == b"\x89PNG"
    bf = _json(capsys, ["attention", "check", "--seq", "64", "--block", "16", "--head-dim", "8", "--dtype", "bf16",
                        "--json"])
    assert bf["matches_sdpa"] is True and 1e-4 < bf["max_abs_error_out"] < bf["tolerance_out"]
    assert main(["attention", "check", "--seq", "32", "--block", "8", "--head-dim", "8"]) == 0
    assert "matches SDPA: True" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["io", "--seq", "0", "--head-dim", "64", "--sram-kb", "100"], "--seq must be a positive integer"),
    (["io", "--seq", "64", "--head-dim", "64", "--sram-kb", "-1"], "--sram-kb must be a positive finite number"),
    (["io", "--seq", "64", "--head-dim", "64", "--sram-kb", "0.05"], "at least one row of d = 64"),
    (["io", "--seq", "64", "--head-dim", "64", "--sram-kb", "100", "--dtype", "fp8"], "--dtype must be one of"),
    (["check", "--seq", "64", "--block", "0"], "--block must be a positive integer"),
    (["check", "--seq", "100000", "--block", "64"], "seq must be at most 4096"),
    (["io", "--seq", "64", "--head-dim", "64", "--sram-kb", "100", "--plot", "x.txt"], "plot file must end in"),
])
def test_bad_input_exits_2(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main(["attention"] + argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_demo_section():
    from mlsys_kit.attention.demo import section

    msgs = []
    sec = section(msgs.append)
    rows = dict(sec.rows)
    assert rows["Figure 2 workload, M = 100 KB: standard GB (paper 40.3)"] == 25.23
    assert rows["Figure 2 workload, M = 192 KB: FlashAttention GB (paper 4.4)"] == 4.33
    assert all(c["matches_sdpa"] for c in sec.data["checks"]) and len(sec.data["checks"]) == 4
    assert sec.data["split_kv_max_abs_error"] < 1e-5
    assert len(sec.figures) == 2 and all(f.png[:4] == b"\x89PNG" for f in sec.figures)
    assert all(f.command.startswith("mlsys-kit attention") for f in sec.figures)
    assert msgs


def test_plot_functions_reject_bad_input():
    from mlsys_kit.attention.viz import tile_walk_figure, timing_figure

    with pytest.raises(ValueError, match="must not be empty"):
        timing_figure([])
    with pytest.raises(ValueError, match="step must be in 0..3"):
        tile_walk_figure(8, 4, 4, 9)
