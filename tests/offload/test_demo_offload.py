"""The offloading section of ``mlsys-kit demo``: headline rows, PNG figures naming commands."""

from __future__ import annotations

from mlsys_kit.offload.demo import section


def test_demo_section():
    msgs: list[str] = []
    sec = section(msgs.append)
    rows = dict(sec.rows)
    assert sec.topic == "offload" and len(msgs) == 3
    for s in ("zig-zag", "row-by-row"):
        assert rows[f"real tiny GPT {s}: tokens identical to the plain run"] is True
        assert rows[f"real {s}: bytes moved per link equal the cost model"] is True
    assert rows["FlexGen OPT-175B/T4 zig-zag / row-by-row"] >= 1.0
    assert rows["real zig-zag: host->device bytes (measured)"] < rows["real row-by-row: host->device bytes (measured)"]
    assert rows["real zig-zag: weight loads / row-by-row weight loads"] < 1
    mass = [rows[f"InfiniGen fetch 20%: attention mass, {c} columns"] for c in ("random", "skewed", "oracle")]
    assert mass == sorted(mass) and mass[0] > 0.2  # better than uniform, skewed above random, below the oracle
    assert len(sec.figures) == 3
    for fig in sec.figures:
        assert fig.png[:8] == b"\x89PNG\r\n\x1a\n" and fig.command.startswith("mlsys-kit offload ")
    assert "policy" not in sec.data["plans"]["zigzag"] and "trace" not in sec.data["real_runs"][0]
