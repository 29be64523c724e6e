"""A request counts as meeting its SLOs when either TTFT or TPOT holds, not both."""
EDITS = [("goodput", "r[\"ttft\"] <= ttft_slo and (r[\"tpot\"] is None or r[\"tpot\"] <= tpot_slo)",
          "(r[\"ttft\"] <= ttft_slo or (r[\"tpot\"] is None or r[\"tpot\"] <= tpot_slo))")]
