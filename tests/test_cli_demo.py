"""The mlsys-kit CLI and the demo report, run as a user runs them (real processes)."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mlsys_kit.models import costs

BIN = Path(sys.executable).parent


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "mlsys-kit"), *args], capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.mark.parametrize("preset", sorted(costs.PRESETS))
def test_model_costs_json_for_presets(preset):
    res = run("model", "costs", "--preset", preset, "--device", "a100-40gb", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    cfg = costs.preset(preset)
    assert out["params"] == costs.param_count(cfg)
    assert out["kv_bytes_per_token"] == costs.kv_bytes_per_token(cfg)
    assert out["flops_per_token"] == costs.forward_flops_per_token(cfg)
    assert out["max_concurrent_requests"] == costs.max_concurrent_requests(cfg, 40e9, cfg.seq_len)


def test_model_costs_from_flags_and_overrides(tmp_path):
    res = run("model", "costs", "--layers", "2", "--hidden", "64", "--heads", "8", "--kv-heads", "2",
              "--vocab", "100", "--dtype-bytes", "4", "--json", "--plot", str(tmp_path / "c.png"))
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["kv_bytes_per_token"] == 2 * 2 * 2 * 8 * 4
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    over = json.loads(run("model", "costs", "--preset", "llama2-7b", "--kv-heads", "8", "--json").stdout)
    assert over["kv_bytes_per_token"] == costs.kv_bytes_per_token(costs.preset("llama2-7b")) // 4


@pytest.mark.parametrize("args, message", [
    (["model", "costs", "--layers", "0", "--hidden", "8", "--heads", "2"], "--layers must be a positive integer: got 0"),
    (["model", "costs", "--layers", "x", "--hidden", "8", "--heads", "2"], "--layers must be an integer: got 'x'"),
    (["model", "costs", "--layers", "2"], "missing --hidden, --heads"),
    (["model", "costs", "--layers", "2", "--hidden", "9", "--heads", "2"], "hidden must be divisible by heads"),
    (["model", "costs", "--preset", "gpt5"], "invalid choice: 'gpt5'"),
    (["model", "costs", "--preset", "gpt2", "--plot", "x.txt"], "plot file must end in .png"),
    (["demo", "--only", "nosuchtopic"], "unknown demo topic"),
    (["cluster", "simulate", "--types", "v100:8,a100:8"], "--types must be TYPE:COUNT"),
    (["cluster", "simulate", "--policy", "lottery"], "invalid choice: 'lottery'"),
])
def test_bad_input_exits_2_with_a_clear_message(args, message, tmp_path):
    res = run(*args, cwd=tmp_path)
    assert res.returncode == 2
    assert message in res.stderr


def test_demo_writes_report_with_figures_and_numbers(tmp_path):
    res = run("demo", "--only", "models", "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert "[1/1] models" in res.stdout and "Summary" in res.stdout
    html = (tmp_path / "report.html").read_text()
    pngs = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)
    assert pngs and all(base64.b64decode(p)[:4] == b"\x89PNG" for p in pngs)
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["models"]["rows"]["opt-13b params"] == costs.param_count(costs.preset("opt-13b"))
    assert f"{costs.param_count(costs.preset('opt-13b'))}" in res.stdout
    assert "mlsys-kit model costs --preset opt-13b" in html  # each figure names its command
