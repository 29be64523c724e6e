"""Hidden tests written the one way the grader requires (issue #25): differential, drawn across
the whole contract, from the student's own variant.

Two names are given to every test cell in the judge (docs/labs.md shows the pattern):

* ``student_rng(tag="")``: a ``random.Random`` seeded from HMAC-SHA256(course secret, lab, student,
  test cell, tag): each student's hidden inputs differ, a regrade draws the same ones, and the
  seed is in no notebook and never reaches the sandbox (the secret lives in the course folder,
  which the sandbox cannot see). Visible tests never use it: they are the same for everyone.
* ``same_as_reference(student_fn, reference_fn, cases, ...)``: runs the reference in the judge and
  the student's function in the sandbox on the same inputs (each on its own deep copy), compares
  the results (values AND exact types, all the way down), and checks that the inputs the contract
  leaves untouched are unchanged after the student's call (value-result crossing makes an in-place
  change visible). The first difference fails the test with what differed: which case, which
  part of the output, expected and got.

A ``Variant`` is (secret, lab, student); QA runs the solution and the mutants on several.
"""

from __future__ import annotations

import copy
import os
import hashlib
import hmac
import math
import random
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any, Callable, Iterable


@dataclass(frozen=True)
class Variant:
    """Whose hidden inputs: the course's secret, the lab and the student."""

    secret: bytes
    lab: str
    student: str

    def seed(self, cell: str, tag: str = "") -> int:
        msg = "\0".join((self.lab, self.student, cell, tag)).encode()
        return int.from_bytes(hmac.new(self.secret, msg, hashlib.sha256).digest()[:16], "big")

    @property
    def fingerprint(self) -> str:
        """A short name for the variant (the same for a regrade), for the grading record."""
        return hmac.new(self.secret, f"{self.lab}\0{self.student}".encode(), hashlib.sha256).hexdigest()[:8]


class StudentRng:
    """``student_rng`` as a test cell sees it: bound to the judge's current test cell."""

    def __init__(self, variant: Variant):
        self.variant = variant
        self.cell = ""
        self.draws = 0  # how many times a cell asked for its inputs (QA: a run that never asked is every variant's)

    def __call__(self, tag: str = "") -> random.Random:
        if type(tag) is not str:
            raise TypeError(f"student_rng(tag) takes a str tag: got {type(tag).__name__}")
        self.draws += 1
        return random.Random(self.variant.seed(self.cell, tag))


# ---- comparing the student's output with the reference's ----------------------------------------
def difference(got: Any, want: Any, rel: float = 1e-9, abs_tol: float = 0.0, where: str = "the result") -> str | None:
    """None if ``got`` is ``want`` in value and exact type (floats within ``rel``/``abs_tol``,
    tensors and arrays in dtype, shape and values), else what differs, in words."""
    tg, tw = type(got), type(want)
    np = __import__("sys").modules.get("numpy")
    torch = __import__("sys").modules.get("torch")
    if torch is not None and tw is torch.Tensor:
        if tg is not torch.Tensor:
            return f"{where} should be a torch.Tensor, got a {tg.__name__}"
        if got.dtype != want.dtype or got.shape != want.shape:
            return f"{where}: expected a {want.dtype} tensor of shape {tuple(want.shape)}, got {got.dtype} {tuple(got.shape)}"
        if want.is_floating_point():
            close = torch.isclose(got, want, rtol=rel, atol=abs_tol, equal_nan=True)
        else:
            close = got == want
        if not bool(close.all()):
            i = tuple(int(x) for x in (~close).nonzero()[0])
            return f"{where} differs at index {i}: expected {want[i].item()!r}, got {got[i].item()!r}"
        return None
    if np is not None and tw is np.ndarray:
        if tg is not np.ndarray or got.dtype != want.dtype or got.shape != want.shape:
            return f"{where}: expected a numpy array {want.dtype} {want.shape}, got {tg.__name__}"
        ok = np.isclose(got, want, rtol=rel, atol=abs_tol, equal_nan=True) if want.dtype.kind in "fc" else got == want
        return None if bool(np.all(ok)) else f"{where} differs from the expected array"
    if tg is not tw:
        return f"{where} should be a {tw.__name__}, got a {tg.__name__} ({_short(got)})"
    if tw is float:
        if math.isnan(want) and math.isnan(got) or math.isclose(got, want, rel_tol=rel, abs_tol=abs_tol):
            return None
        return f"{where}: expected {want!r}, got {got!r}"
    if tw in (list, tuple):
        if len(got) != len(want):
            return f"{where} should have {len(want)} items, got {len(got)}"
        for i, (g, w) in enumerate(zip(got, want)):
            d = difference(g, w, rel, abs_tol, f"{where}[{i}]")
            if d:
                return d
        return None
    if tw is dict:
        if set(got) != set(want):
            missing, extra = set(want) - set(got), set(got) - set(want)
            return f"{where}: keys differ (missing {sorted(map(repr, missing))}, unexpected {sorted(map(repr, extra))})"
        for k in want:
            d = difference(got[k], want[k], rel, abs_tol, f"{where}[{k!r}]")
            if d:
                return d
        return None
    if is_dataclass(want) and not isinstance(want, type):
        for f in fields(want):
            d = difference(getattr(got, f.name), getattr(want, f.name), rel, abs_tol, f"{where}.{f.name}")
            if d:
                return d
        return None
    return None if got == want else f"{where}: expected {_short(want)}, got {_short(got)}"


def _short(value: Any, width: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= width else text[:width - 3] + "..."


def same_as_reference(student_fn: Callable, reference_fn: Callable, cases: Iterable, *, rel: float = 1e-9,
                      abs_tol: float = 0.0, untouched: bool | Iterable[int] = True,
                      convert: Callable[[Any], Any] | None = None, label: str = "") -> int:
    """Call ``student_fn`` and ``reference_fn`` on every case (a tuple of positional arguments, or
    a pair ``(args, kwargs)`` when the second item is a dict) and compare: see ``difference``.
    ``untouched``: True (no argument may change), False, or the positions of those that may not.
    ``convert`` maps the reference's result into what the student's contract returns (the lab's
    own types). Returns the number of cases checked."""
    n = 0
    for case in cases:
        args, kwargs = (case[0], case[1]) if (type(case) is tuple and len(case) == 2 and type(case[1]) is dict
                                               and type(case[0]) in (tuple, list)) else (case, {})
        args = tuple(args)
        before = copy.deepcopy((args, kwargs))
        want = reference_fn(*copy.deepcopy(args), **copy.deepcopy(kwargs))
        if convert is not None:
            want = convert(want)
        got = student_fn(*args, **kwargs)
        shown = ", ".join([_short(a, 60) for a in before[0]] + [f"{k}={_short(v, 60)}" for k, v in before[1].items()])
        d = difference(got, want, rel, abs_tol)
        if d:
            raise AssertionError(f"{label + ': ' if label else ''}on ({shown}): {d}")
        positions = range(len(args)) if untouched is True else () if untouched is False else untouched
        for i in positions:
            if i < len(args) and difference(args[i], before[0][i], 0.0, 0.0, f"argument {i}") is not None:
                raise AssertionError(f"{label + ': ' if label else ''}on ({shown}): your function changed "
                                     f"argument {i} in place; the contract leaves it untouched")
        if untouched is True:
            for k in kwargs:
                if difference(kwargs[k], before[1][k], 0.0, 0.0, k) is not None:
                    raise AssertionError(f"{label + ': ' if label else ''}on ({shown}): your function changed "
                                         f"the argument {k}= in place; the contract leaves it untouched")
        n += 1
    return n


def course_secret(root: str | Path) -> bytes:
    """The course's secret (``grading/secret``, made on first use, readable by its owner only):
    it seeds each student's hidden inputs (``autograder.submission.differential``), so it never leaves the
    course folder, which the grading sandbox cannot see."""
    path = Path(root) / "grading" / "secret"
    if not path.is_file():
        import secrets

        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
    data = path.read_bytes()
    if len(data) < 16:
        raise ValueError(f"{path} holds {len(data)} bytes: a course secret is at least 16 random bytes "
                          "(delete the file to make a new one; every student's hidden inputs then change)")
    return data
