"""One home per default: the cluster's defaults are `Cluster`'s fields (mlsys_kit/parallel/model.py);
`mlsys-kit parallel plan` and the lecture widget start from them."""

import pytest

from mlsys_kit.cli import build_parser
from mlsys_kit.parallel.model import Cluster


def test_plan_cli_defaults_are_clusters_fields():
    a = vars(build_parser().parse_args(["parallel", "plan", "--preset", "gpt2", "--devices", "16",
                                        "--global-batch", "8"]))
    assert (a["devices_per_node"], a["device"]) == (Cluster.devices_per_node, Cluster.device)
    assert (a["intra_bandwidth"] * 1e9, a["inter_bandwidth"] * 1e9) == (Cluster.intra_bandwidth, Cluster.inter_bandwidth)
    # --latency (us) sets the inter-node latency and half of it inside a node, as Cluster's defaults are
    # (microseconds to seconds: equal up to the last bit of a float)
    assert a["latency"] * 1e-6 == pytest.approx(Cluster.inter_latency, rel=1e-12)
    assert a["latency"] * 0.5e-6 == pytest.approx(Cluster.intra_latency, rel=1e-12)


def test_widget_starts_at_clusters_bandwidths():
    from mlsys_kit.parallel.viz import parallel_explorer

    sliders = [c for box in parallel_explorer().children if hasattr(box, "children") for c in box.children]
    by_name = {getattr(s, "description", None): s for s in sliders}
    assert by_name["NVLink GB/s"].value * 1e9 == Cluster.intra_bandwidth
    assert by_name["network GB/s"].value * 1e9 == Cluster.inter_bandwidth
