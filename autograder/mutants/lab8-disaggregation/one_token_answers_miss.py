"""A one-token answer (tpot None) counts as a miss: the TPOT test is written `tpot is not None and
tpot <= slo`, so a request with no later tokens can never meet its SLOs (a path only such records
reach)."""
EDITS = [("goodput", '(r["tpot"] is None or r["tpot"] <= tpot_slo)', '(r["tpot"] is not None and r["tpot"] <= tpot_slo)')]
