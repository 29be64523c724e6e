"""The disaggregation section of ``mlsys-kit demo``: headline rows, PNG figures naming commands."""


def test_demo_section():
    from mlsys_kit.disagg.demo import section

    msgs = []
    sec = section(msgs.append)
    rows = dict(sec.rows)
    assert sec.topic == "disagg" and msgs
    assert rows["sim Fig.1 setting: best split of 3 devices (prefill+decode)"] == "2+1"
    assert 1.5 < rows["sim Fig.1 setting: disaggregated / colocated (paper 2.1x)"] < 2.6
    # a slower link never helps, and the instant link bounds them all
    link = [rows[f"sim chatbot 6 req/s 2P1D attainment, {k}"] for k in ("25 Gbps link", "100 Gbps link", "400 Gbps link",
                                                                    "instant link")]
    assert link == sorted(link) and link[-1] > link[0]
    assert rows["sim Mooncake KV pool: prompt tokens recomputed, shared pool"] < \
        rows["sim Mooncake KV pool: prompt tokens recomputed, no reuse"]
    assert rows["sim overload 14 req/s: attainment with early rejection"] > \
        rows["sim overload 14 req/s: attainment admitting all"]
    assert rows["real pair: outputs identical to one-process generation"] is True
    assert rows["real pair: KV bytes moved (measured)"] == rows["real pair: KV bytes moved (predicted)"] > 0
    assert len(sec.figures) == 3
    for fig in sec.figures:
        assert fig.png[:8] == b"\x89PNG\r\n\x1a\n" and fig.command.startswith("mlsys-kit serve ")
