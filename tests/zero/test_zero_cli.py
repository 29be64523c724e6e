"""``mlsys-kit zero memory`` (public JSON interface), its plot, and the demo section."""

import json

import pytest

from mlsys_kit.cli import main
from mlsys_kit.zero.model import memory_per_device


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_memory_one_stage_json(capsys):
    out = _json(capsys, ["zero", "memory", "--params", "7.5e9", "--ranks", "64", "--stage", "2", "--json"])
    for key in ("params_bytes", "grads_bytes", "optimizer_bytes", "total_bytes", "comm_volume_psi"):
        assert key in out
    m = memory_per_device(7_500_000_000, 64, 2)
    assert out["total_bytes"] == pytest.approx(m.total_bytes) and round(out["total_bytes"] / 1e9, 1) == 16.6
    assert out["comm_volume_psi"] == 2 and out["stage"] == 2


def test_memory_all_stages_json_and_plot(capsys, tmp_path):
    plot = tmp_path / "zero.png"
    out = _json(capsys, ["zero", "memory", "--params", "7.5B", "--ranks", "64", "--k", "12",
                         "--device-memory", "32", "--json", "--plot", str(plot)])
    assert [s["stage"] for s in out["stages"]] == [0, 1, 2, 3]
    assert [round(s["total_bytes"] / 1e9, 1) for s in out["stages"]] == [120.0, 31.4, 16.6, 1.9]
    assert [s["comm_volume_psi"] for s in out["stages"]] == [2, 2, 2, 3]
    assert [s["fits"] for s in out["stages"]] == [False, True, True, True]
    assert out["stages"][3]["max_params_that_fit"] == 128_000_000_000
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 10_000


def test_memory_one_stage_that_does_not_fit_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["zero", "memory", "--params", "7.5e9", "--ranks", "64", "--stage", "0", "--device-memory", "32"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "needs 120 GB per device" in err and "largest that fits is 2,000,000,000" in err
    out = _json(capsys, ["zero", "memory", "--params", "7.5e9", "--ranks", "64", "--stage", "1",
                         "--device-memory", "32", "--json"])
    assert out["fits"] is True


def test_memory_text_output(capsys):
    assert main(["zero", "memory", "--params", "1B", "--ranks", "8"]) == 0
    text = capsys.readouterr().out
    assert "P_os+g+p" in text and "N_d = 8" in text


@pytest.mark.parametrize("argv, message", [
    (["--ranks", "0"], "--ranks must be a positive integer"),
    (["--ranks", "4", "--stage", "4"], "--stage must be one of 0, 1, 2, 3"),
    (["--ranks", "4", "--k", "0"], "--k must be a positive finite number"),
    (["--ranks", "4", "--k", "-1"], "--k must be a positive finite number"),
])
def test_memory_bad_input_exits_2(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main(["zero", "memory", "--params", "1e9"] + argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_params_and_plot_file(capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["zero", "memory", "--params", "1.5", "--ranks", "2"])
    assert exc.value.code == 2 and "--params" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["zero", "memory", "--params", "1e9", "--ranks", "2", "--plot", str(tmp_path / "x.txt")])
    assert exc.value.code == 2 and "plot file must end in" in capsys.readouterr().err


def test_demo_section():
    from mlsys_kit.zero.demo import section

    msgs = []
    sec = section(msgs.append)
    rows = dict(sec.rows)
    assert rows["7.5B params, N_d=64: stage 0 GB per device"] == 120.0
    assert rows["simulation: bytes held per rank == model (padded)"] is True
    assert rows["simulation: bytes sent per rank == ring volume"] is True
    assert all(r["matches_ddp"] for r in sec.data["runtime"])
    assert len(sec.figures) == 2 and all(f.png[:4] == b"\x89PNG" for f in sec.figures)
    assert all(f.command.startswith("mlsys-kit zero") for f in sec.figures)
    assert msgs


def test_plot_functions_reject_empty_input():
    from mlsys_kit.zero.viz import measured_figure, memory_figure

    with pytest.raises(ValueError, match="at least one"):
        memory_figure([])
    with pytest.raises(ValueError, match="must not be empty"):
        measured_figure([])
