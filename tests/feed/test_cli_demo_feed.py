"""The feed section of ``mlsys-kit demo``: every number is the library's, every figure a PNG that
names its command. The real runs are stubbed here (each is tested on its own)."""

import pytest

from mlsys_kit.feed import comm_real, data_real, demo
from mlsys_kit.feed.byteps import byteps_time
from mlsys_kit.feed.comm import Network, iteration_time, model_layers


def test_section_rows_and_figures(monkeypatch):
    real = {"ranks": 2, "backend": "gloo", "steps": 4, "matches_ddp": True, "bitwise": True,
            "policies": {p: {"iteration_time_s": 0.01, "simulated_s": 0.02} for p in ("fifo", "bucket", "bytescheduler")},
            "measured_order": ["fifo", "bucket", "bytescheduler"], "simulated_order": ["fifo", "bucket", "bytescheduler"]}
    monkeypatch.setattr(comm_real, "run_real", lambda **kw: real)
    monkeypatch.setattr(data_real, "real_data", lambda **kw: {"matches_simulator": True})
    sec = demo.section(lambda msg: None)
    rows = dict(sec.rows)
    net = Network(100e9 / 8, 50e-6, 8)
    fifo = iteration_time(model_layers("vgg16"), net, "fifo").iteration_time
    assert rows["VGG16, batch 32 at 50 TFLOP/s, 8 workers, 100 Gbit/s: fifo iteration (ms)"] == round(fifo * 1e3, 3)
    m = sum(x.grad_bytes for x in model_layers("vgg16"))
    assert rows["BytePS n=8, k=4: time (ms), speedup over all-reduce"].startswith(f"{byteps_time(8, 4, m, 100e9 / 8) * 1e3:.2f}")
    assert rows["BytePS equals the placement LP's optimum (k = 0, 2, 4, 8)"] is True
    assert len(sec.figures) == 5
    for f in sec.figures:
        assert f.png[:8] == b"\x89PNG\r\n\x1a\n" and f.command.startswith("mlsys-kit feed ")
    assert sec.data["search"]["iteration_time"] <= fifo
    assert rows["ByteScheduler (searched) speedup over FIFO"] == pytest.approx(fifo / sec.data["search"]["iteration_time"], abs=1e-3)
