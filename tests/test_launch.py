"""The shared launcher of the real distributed runs: ranks in one gloo process group, each
rank's result back (or rank 0's), bad arguments refused before any process starts."""

import pytest
import torch
import torch.distributed as dist

from mlsys_kit.launch import free_port, run_ranks


def _sum_of_ranks(cfg: dict) -> dict:
    """Every rank adds its rank to ``cfg['base']``; the all-reduce proves one process group."""
    t = torch.tensor([float(dist.get_rank())])
    dist.all_reduce(t)
    return {"rank": dist.get_rank(), "world": dist.get_world_size(), "sum": cfg["base"] + float(t),
            "threads": torch.get_num_threads()}


def test_run_ranks_runs_one_process_group_and_returns_each_ranks_result():
    every = run_ranks(_sum_of_ranks, {"base": 10.0}, 3, every_rank=True)
    assert [r["rank"] for r in every] == [0, 1, 2]
    assert all(r["world"] == 3 and r["sum"] == 10.0 + 0 + 1 + 2 for r in every)
    assert all(r["threads"] == 1 for r in every)  # one thread per rank, whatever OMP_NUM_THREADS says
    first = run_ranks(_sum_of_ranks, {"base": 0.0}, 2)
    assert first["rank"] == 0 and first["sum"] == 1.0


@pytest.mark.parametrize("kwargs, match", [
    ({"fn": "not a function"}, "module-level function"),
    ({"fn": lambda cfg: cfg}, "module-level function"),
    ({"world": 0}, "positive number of processes"),
    ({"world": True}, "positive number of processes"),
    ({"backend": "mpi"}, "'gloo' or 'nccl'"),
])
def test_run_ranks_refuses_bad_arguments_before_starting_anything(kwargs, match):
    args = {"fn": _sum_of_ranks, "cfg": {"base": 0.0}, "world": 2} | kwargs
    with pytest.raises(ValueError, match=match):
        run_ranks(**args)


def test_free_port_is_a_port_nothing_listens_on():
    import socket

    port = free_port()
    assert 1024 <= port < 65536
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # free: it binds
