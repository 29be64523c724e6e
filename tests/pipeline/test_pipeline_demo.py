"""The demo report section: one Gantt per schedule plus the bubble table, numbers from the simulator."""

from __future__ import annotations

from mlsys_kit.pipeline.demo import section


def test_demo_section():
    msgs: list[str] = []
    sec = section(msgs.append)
    rows = dict(sec.rows)
    assert rows["gpipe: bubble fraction (idle/busy)"] == 3 / 8
    assert rows["1f1b: bubble fraction (idle/busy)"] == 3 / 8
    assert rows["interleaved-1f1b: bubble fraction (idle/busy)"] == 3 / 16
    assert rows["gpipe: peak activations (microbatches)"] == 8
    assert rows["1f1b: peak activations (microbatches)"] == 4
    assert len(sec.figures) == 6 and all(f.png[:4] == b"\x89PNG" for f in sec.figures)
    assert all(f.command.startswith("mlsys-kit pipeline simulate") for f in sec.figures)
    assert len(msgs) == 5
