"""Argument checks shared by every public function and CLI command.

Each check raises ``ValueError`` with a message that says what was wrong and what is
allowed, e.g. ``"layers must be a positive integer: got 0"``.
"""

from __future__ import annotations

import argparse
import numbers
from typing import Any, Callable, Iterable


def positive_int(name: str, value: Any) -> int:
    """Return ``value`` if it is an int >= 1, else raise ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer: got {value!r}")
    return int(value)


def nonneg_int(name: str, value: Any) -> int:
    """Return ``value`` if it is an int >= 0, else raise ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer: got {value!r}")
    return int(value)


def positive_number(name: str, value: Any) -> float:
    """Return ``value`` as float if it is a finite number > 0, else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0 or value == float("inf"):
        raise ValueError(f"{name} must be a positive finite number: got {value!r}")
    return float(value)


def nonneg_number(name: str, value: Any) -> float:
    """Return ``value`` as float if it is a finite number >= 0, else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0 or value == float("inf"):
        raise ValueError(f"{name} must be a non-negative finite number: got {value!r}")
    return float(value)


def fraction(name: str, value: Any) -> float:
    """Return ``value`` as float if it is a number in (0, 1] (an efficiency, an attainment
    target), else raise ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value <= 1:
        raise ValueError(f"{name} must be in (0, 1]: got {value!r}")
    return float(value)


def one_of(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """Return ``value`` if it is in ``allowed``, else raise ValueError listing the choices."""
    allowed = list(allowed)
    if value not in allowed:
        choices = ", ".join(str(a) for a in allowed)
        raise ValueError(f"{name} must be one of {choices}: got {value!r}")
    return value


def parse_count(text: str) -> int:
    """Parse a whole count from the command line: ``7500000000``, ``7.5e9`` or ``7.5B`` / ``350M`` /
    ``20K`` (a ValueError when it is not a number or not whole)."""
    t = text.strip().upper().replace("_", "").replace(",", "")
    mult = {"K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12}.get(t[-1:], None)
    value = float(t[:-1]) * mult if mult else float(t)
    if value != int(value):
        raise ValueError(f"not a whole number of parameters: {text!r}")
    return int(value)


def count_arg(example: str) -> Callable[[str], int]:
    """:func:`parse_count` for :func:`arg`, named so a bad value reads
    ``--params must be count (e.g. <example>): got 'x'``."""

    def count(text: str) -> int:
        return parse_count(text)

    count.__name__ = f"count (e.g. {example})"
    return count


def arg(check: Callable[[str, Any], Any], convert: Callable[[str], Any], name: str) -> Callable[[str], Any]:
    """An argparse ``type=`` that converts a CLI string and applies a check.

    ``parser.add_argument("--layers", type=arg(positive_int, int, "--layers"))`` makes
    ``--layers 0`` exit with ``argument --layers: --layers must be a positive integer: got 0``.
    """

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except (TypeError, ValueError):
            kind = {int: "an integer", float: "a number"}.get(convert, convert.__name__)
            raise argparse.ArgumentTypeError(f"{name} must be {kind}: got {text!r}") from None
        try:
            return check(name, value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = name
    return parse
