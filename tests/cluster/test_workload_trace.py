"""The workload generator (seeded, load as asked, spec statistics recovered by describe/fit_spec)
and the trace readers on small files made here in each public layout."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlsys_kit.cluster.trace import read_csv, read_pai, read_philly, read_trace
from mlsys_kit.cluster.workload import PAI, PHILLY, WorkloadSpec, describe, fit_spec, generate


def test_generate_is_seeded_and_offers_the_load_asked():
    a = generate(500, PHILLY, gpus=64, load=0.7, seed=3)
    assert a == generate(500, PHILLY, gpus=64, load=0.7, seed=3)
    assert a != generate(500, PHILLY, gpus=64, load=0.7, seed=4)
    asked = sum(j.gpus * j.iterations for j in a)
    span = a[-1].arrival * len(a) / (len(a) - 1)  # the mean gap times n
    assert asked / (64 * span) == pytest.approx(0.7, rel=0.15)
    assert all(j.gpus <= 64 for j in a) and a[0].arrival == 0


@given(st.sampled_from([PHILLY, PAI]), st.integers(0, 50))
def test_describe_and_fit_recover_the_spec(spec, seed):
    spec = WorkloadSpec(spec.name, spec.sizes, spec.probs, spec.median_s, spec.sigma, spec.size_growth, 1e12)
    jobs = generate(4000, spec, gpus=64, seed=seed)
    d = describe(jobs)
    for s, p in zip(spec.sizes, spec.probs):
        assert d["gpu_share"].get(s, 0.0) == pytest.approx(p, abs=0.03)
    f = fit_spec(jobs)
    assert f.median_s == pytest.approx(spec.median_s, rel=0.15)
    assert f.sigma == pytest.approx(spec.sigma, rel=0.08)
    assert f.size_growth == pytest.approx(spec.size_growth, rel=0.1)


def test_heterogeneity_scales_the_gaps_between_types():
    types = ("v100", "p100", "k80")
    flat = generate(50, PAI, gpus=16, gpu_types=types, heterogeneity=0.0, seed=1)
    full = generate(50, PAI, gpus=16, gpu_types=types, heterogeneity=1.0, seed=1)
    assert all(set(j.throughput.values()) == {1.0} for j in flat)
    assert all(j.throughput["v100"] == 1.0 and j.throughput["k80"] <= j.throughput["p100"] <= 1.0 for j in full)
    assert np.mean([j.throughput["k80"] for j in full]) < 0.5


def test_generate_rejects_bad_input():
    for kw in (dict(n=0), dict(load=0), dict(gpu_types=("a100",)), dict(heterogeneity=2), dict(spec="google")):
        with pytest.raises(ValueError):
            generate(**({"n": 5} | kw))
    with pytest.raises(ValueError, match="sum to 1"):
        WorkloadSpec("x", (1, 2), (0.5, 0.6), 1, 1, 1, 1)


def test_read_philly(tmp_path):
    log = [
        {"jobid": "a", "status": "Pass", "submitted_time": "2017-10-03 10:00:00", "attempts": [
            {"start_time": "2017-10-03 10:00:05", "end_time": "2017-10-03 10:10:05",
             "detail": [{"ip": "m1", "gpus": ["gpu0", "gpu1"]}, {"ip": "m2", "gpus": ["gpu0", "gpu1"]}]}]},
        {"jobid": "b", "status": "Failed", "submitted_time": "2017-10-03 09:59:00", "attempts": [
            {"start_time": "2017-10-03 10:00:00", "end_time": "2017-10-03 10:01:00", "detail": [{"gpus": ["g0"]}]},
            {"start_time": "2017-10-03 10:02:00", "end_time": "2017-10-03 10:03:30", "detail": [{"gpus": ["g0"]}]}]},
        {"jobid": "c", "status": "Killed", "submitted_time": "2017-10-03 10:00:00", "attempts": []},
        {"jobid": "d", "status": "Pass", "submitted_time": "None", "attempts": [
            {"start_time": "None", "end_time": "None", "detail": []}]},
    ]
    p = tmp_path / "cluster_job_log"
    p.write_text(json.dumps(log))
    jobs = read_philly(p)
    assert [(j.arrival, j.gpus, j.iterations) for j in jobs] == [(0.0, 1, 150.0), (60.0, 4, 600.0)]
    assert read_trace(p) == jobs


def test_read_pai(tmp_path):
    rows = ["j1,worker,2,Terminated,100,400,600,29,100,V100",
            "j1,ps,1,Terminated,90,410,600,29,,",
            "j2,tensorflow,1,Terminated,50,80,600,29,50,T4",
            "j3,worker,1,Failed,,,600,29,100,P100",
            "j4,worker,1,Terminated,70,70,600,29,100,P100"]
    p = tmp_path / "pai_task_table.csv"
    p.write_text("\n".join(rows) + "\n")
    jobs = read_pai(p)
    assert [(j.arrival, j.gpus, j.iterations) for j in jobs] == [(0.0, 1, 30.0), (40.0, 2, 320.0)]
    (tmp_path / "h.csv").write_text("job_name,task_name,inst_num,status,start_time,end_time,plan_cpu,plan_mem,"
                                    "plan_gpu,gpu_type\n" + "\n".join(rows))
    assert read_trace(tmp_path / "h.csv", gpu_types=("v100", "k80")) == read_pai(p, ("v100", "k80"))
    (tmp_path / "bad.csv").write_text("j1,worker,2\n")
    with pytest.raises(ValueError, match="10 columns"):
        read_pai(tmp_path / "bad.csv")


def test_read_plain_csv(tmp_path):
    p = tmp_path / "trace.csv"
    p.write_text("job_id,num_gpu,submit_time,iterations,model_name,duration,interval\n"
                 "1,4,10,100,resnet,50,0\n2,1,5,10,lm,20,0\n3,0,7,1,x,9,0\n")
    jobs = read_csv(p)
    assert [(j.arrival, j.gpus, j.iterations) for j in jobs] == [(0.0, 1, 20.0), (5.0, 4, 50.0)]
    assert read_trace(p) == jobs
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="needs the columns"):
        read_csv(tmp_path / "x.csv")
    with pytest.raises(ValueError, match="not found"):
        read_trace(tmp_path / "nope.csv")
    with pytest.raises(ValueError, match="fmt"):
        read_trace(p, fmt="yaml")
