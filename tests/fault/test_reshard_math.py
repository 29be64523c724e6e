"""reshard_math against a second implementation (numpy's split/concatenate/pad), the ZeRO
memory model (checkpoint bytes) and the invariants of a layout (every element held, once per
partitioned state)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlsys_kit.fault.reshard_math import (STATES, Layout, ParamSpec, checkpoint_bytes, from_universal,
                                          parse_layout, pieces, reshard, to_universal, tp_indices)
from mlsys_kit.zero.model import memory_per_device


def _specs(draw, t_max=4):
    n = draw(st.integers(1, 4))
    specs = []
    for i in range(n):
        ndim = draw(st.integers(1, 3))
        shape = tuple(draw(st.sampled_from([1, 2, 3, 4, 6, 8, 12])) for _ in range(ndim))
        tp_dim = draw(st.sampled_from([None, *range(ndim)]))
        specs.append(ParamSpec(f"p{i}", shape, tp_dim))
    return specs


def _fits(specs, t):
    return all(s.tp_dim is None or s.shape[s.tp_dim] % t == 0 for s in specs)


@st.composite
def case(draw):
    specs = _specs(draw)
    ts = [t for t in (1, 2, 3, 4) if _fits(specs, t)]
    layouts = [Layout(draw(st.sampled_from(ts)), draw(st.integers(1, 4)), draw(st.integers(0, 3)))
               for _ in range(2)]
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    uni = {s.name: {k: [float(x) for x in rng.standard_normal(s.numel)] for k in STATES} for s in specs}
    return specs, layouts, uni


def _numpy_shards(specs, layout, uni):
    """Second implementation: np.split along tp_dim, concatenate, pad, slice."""
    out = []
    for r in range(layout.world):
        tp, dp = r % layout.t, r // layout.t
        shard = {}
        for k in STATES:
            parts = []
            for s in specs:
                full = np.asarray(uni[s.name][k]).reshape(s.shape)
                local = full if s.tp_dim is None else np.split(full, layout.t, axis=s.tp_dim)[tp]
                parts.append(local.reshape(-1))
            flat = np.concatenate(parts)
            size = -(-flat.size // layout.d)
            flat = np.pad(flat, (0, size * layout.d - flat.size))
            part = layout.zero >= (3 if k == "param" else 1)
            shard[k] = list(flat[dp * size:(dp + 1) * size] if part else flat)
        out.append(shard)
    return out


@given(case())
def test_from_universal_equals_numpy_and_round_trips(c):
    specs, (a, b), uni = c
    shards = from_universal(uni, specs, a)
    assert shards == _numpy_shards(specs, a, uni)
    assert to_universal(shards, specs, a) == uni
    assert reshard(shards, specs, a, b) == _numpy_shards(specs, b, uni)


@given(case())
def test_every_element_held_and_partitioned_states_held_once(c):
    specs, (lay, _), _ = c
    for k in STATES:
        for tp in range(lay.t):
            seen = {s.name: [] for s in specs}
            for dp in range(lay.d):
                for pc in pieces(specs, lay, lay.rank(tp, dp), k):
                    seen[pc.name].extend(pc.full_indices)
            for s in specs:
                want = sorted(tp_indices(s, lay.t, tp))
                if lay.partitioned(k):
                    assert sorted(seen[s.name]) == want  # each element on exactly one data rank
                else:
                    assert sorted(seen[s.name]) == sorted(want * lay.d)


@given(case())
def test_checkpoint_bytes_equal_the_zero_memory_model(c):
    specs, (lay, _), _ = c
    psi_t = sum(s.numel // (lay.t if s.tp_dim is not None else 1) for s in specs)
    m = memory_per_device(psi_t, lay.d, lay.zero, k=8, param_bytes=4, padded=True)
    assert checkpoint_bytes(specs, lay) == [m.params_bytes + m.optimizer_bytes] * lay.world


def test_tp_indices_columns_of_a_matrix():
    s = ParamSpec("a", (2, 4), tp_dim=1)
    assert tp_indices(s, 2, 0) == [0, 1, 4, 5]
    assert tp_indices(s, 2, 1) == [2, 3, 6, 7]


def test_stale_replica_is_an_error():
    specs = [ParamSpec("w", (4,))]
    lay = Layout(1, 2, 1)
    uni = {"w": {k: [1.0, 2.0, 3.0, 4.0] for k in STATES}}
    shards = from_universal(uni, specs, lay)
    shards[1]["param"][2] = 9.0
    with pytest.raises(ValueError, match="stale"):
        to_universal(shards, specs, lay)


@pytest.mark.parametrize("bad", ["t2,d2", "t0,d1,zero1", "t1,d1,zero4", "x"])
def test_bad_layouts(bad):
    with pytest.raises(ValueError):
        parse_layout(bad)


def test_parse_and_bad_inputs():
    assert parse_layout("t2,d2,zero1") == Layout(2, 2, 1)
    assert str(Layout(1, 4, 3)) == "t1,d4,zero3"
    with pytest.raises(ValueError, match="multiple of t"):
        tp_indices(ParamSpec("a", (3, 4), 0), 2, 0)
    with pytest.raises(ValueError, match="tp_dim"):
        ParamSpec("a", (3,), 1)
    with pytest.raises(ValueError, match="unique"):
        pieces([ParamSpec("a", (2,)), ParamSpec("a", (2,))], Layout(1, 1, 0), 0, "param")
    with pytest.raises(ValueError, match="ranks but"):
        to_universal([], [ParamSpec("a", (2,))], Layout(1, 2, 0))
    with pytest.raises(ValueError, match="state"):
        Layout(1, 1, 0).partitioned("grad")
