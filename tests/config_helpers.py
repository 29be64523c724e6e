"""What the topic config tests share: a property test's check that a config dataclass accepts a
field value exactly when the rules (written out again in the test) allow it, and otherwise
raises a ValueError that names the field and says what is allowed."""

from __future__ import annotations

import pytest


def check_field(cls, field: str, value, ok: bool, named=()):
    """Build ``cls(**{field: value})`` when ``ok`` (returns it, the value kept); else expect the
    ValueError, naming ``field`` (or one of ``named``: a rule between fields)."""
    if ok:
        cfg = cls(**{field: value})
        assert getattr(cfg, field) == value
        return cfg
    with pytest.raises(ValueError, match=r"must be .*got") as e:
        cls(**{field: value})
    assert any(name in str(e.value) for name in (field, *named))
    return None
