"""The fault section of ``mlsys-kit demo``: headline rows against the models, PNG figures naming commands."""

import pytest

from mlsys_kit.fault.demo import PLAN
from mlsys_kit.fault.gemini import headline
from mlsys_kit.fault.waste import job_mtbf


def test_demo_section():
    from mlsys_kit.demo import DEMO_SECTIONS
    from mlsys_kit.fault import demo

    assert demo in DEMO_SECTIONS
    msgs = []
    sec = demo.section(msgs.append)
    rows = dict(sec.rows)
    assert sec.topic == "fault" and len(msgs) >= 4
    assert rows["plan 1,024 devices: job MTBF (h)"] == pytest.approx(
        job_mtbf(PLAN["mtbf_hours"] * 3600, PLAN["devices"]) / 3600)
    # GEMINI's point: in-memory copies waste far less than remote storage, and take a shorter interval
    assert rows["plan in-memory (GEMINI): wasted fraction (simulated)"] < rows["plan remote storage: wasted fraction (simulated)"]
    assert rows["plan in-memory (GEMINI): simulator's best interval (s)"] < rows["plan remote storage: simulator's best interval (s)"]
    assert rows["plan remote storage: wasted fraction (simulated)"] == pytest.approx(
        rows["plan remote storage: wasted fraction (Daly exact)"], rel=0.05)
    assert rows["GEMINI 100B/16 machines: recovery speedup"] == pytest.approx(headline()["recovery_speedup"])
    assert rows["GEMINI 100B/16 machines: recovery speedup"] > 1
    assert rows["Oobleck 16 nodes, 4 failures/day: samples vs restart-from-checkpoint"] > 1
    assert rows["real reshard: losses equal the uninterrupted run"] is True
    assert rows["real reshard: same layout bitwise"] is True
    assert rows["real reshard: checkpoint bytes equal the ZeRO model"] is True
    assert rows["real recovery: recovered from"] == "peer-memory"
    assert rows["real recovery: final state equals the uninterrupted run"] is True
    assert rows["real recovery: bytes read"] > 0
    # no false alarm without a bug; each bug caught at the step it was injected
    assert rows["TrainCheck none: injected at / detected at step"] == "None / None"
    for bug in ("skip-allreduce", "double-scale", "stale-shard"):
        injected, detected = rows[f"TrainCheck {bug}: injected at / detected at step"].split(" / ")
        assert injected == detected != "None"
    assert len(sec.figures) == 6
    for fig in sec.figures:
        assert fig.png[:8] == b"\x89PNG\r\n\x1a\n" and fig.command.startswith("mlsys-kit fault ")
