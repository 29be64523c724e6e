"""Disaggregated serving (DistServe, Mooncake): the code lives beside the serving engine it
builds on, in :mod:`mlsys_kit.serving.disagg` (simulator), :mod:`mlsys_kit.serving.placement`
(goodput, placement search), :mod:`mlsys_kit.serving.mooncake` (KV pool, early rejection) and
:mod:`mlsys_kit.serving.disagg_real` (the gloo pair); this package holds its section of
``mlsys-kit demo`` (so the report and ``demo --only disagg`` name it) and re-exports the API."""

from mlsys_kit.serving.disagg import (DisaggResult, Hardware, Link, Pool, simulate_colocated, simulate_disagg,
                                      slo_attainment, summarize_disagg, transfer_aware_ttft)
from mlsys_kit.serving.placement import max_rate, roofline_hardware, search_placement

__all__ = ["DisaggResult", "Hardware", "Link", "Pool", "simulate_colocated", "simulate_disagg", "slo_attainment",
           "summarize_disagg", "transfer_aware_ttft", "max_rate", "roofline_hardware", "search_placement"]
