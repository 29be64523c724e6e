"""The serving section of ``mlsys-kit demo``: headline rows, PNG figures naming their commands."""

import math


def test_demo_section():
    from mlsys_kit.serving.demo import section

    msgs = []
    sec = section(msgs.append)
    rows = dict(sec.rows)
    assert sec.topic == "serving" and msgs
    assert rows["sim @16 req/s: continuous / static tokens/s"] > 1.2
    assert rows["sim long prompts: worst token gap p99 chunked (s)"] < rows["sim long prompts: worst token gap p99 vllm (s)"]
    assert all(isinstance(v, float) and math.isfinite(v) and v > 0 for v in rows.values())
    assert rows["real: static batching's rows that were padding (%)"] > 10  # FasterTransformer-style waste
    assert len(sec.figures) == 4
    for fig in sec.figures:
        assert fig.png[:8] == b"\x89PNG\r\n\x1a\n" and fig.command.startswith("mlsys-kit serve ")
