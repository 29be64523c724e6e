"""The attention tests run tiny tiles in Python loops: one intra-op thread is ~100x faster than
two on a busy 2-core machine (threads spin-wait on each small op). Restored after each test."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
