"""Draw histories: reading every accepted format, validating values, and the split.

Accepted: a JSON array of integers; a JSON array of ``{"date", "session", "draw"}``
objects (oldest first); ``{"draws": [...]}`` wrapping either; CSV with a ``draw`` column;
or one integer per line. Every value must be an integer in ``[low, low + mod)``.
"""

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

from seedsift.errors import InputError
from seedsift.jsonio import read_json


@dataclass(frozen=True)
class Range:
    """Draws are integers in [low, low + mod)."""

    mod: int
    low: int = 0

    def __str__(self):
        return f"[{self.low}, {self.low + self.mod})"


def _check_value(source, where, value, rng):
    # bool is an int subclass in Python; a draw is never true/false.
    if isinstance(value, bool):
        raise InputError(source, where, f"value {json.dumps(value)} is a boolean, not an integer draw in {rng}")
    if isinstance(value, float):
        kind = "NaN" if math.isnan(value) else "a float"
        raise InputError(source, where, f"value {value!r} is {kind}, not an integer draw in {rng}")
    if not isinstance(value, int):
        raise InputError(source, where, f"value {json.dumps(value)} is not an integer draw in {rng}")
    if value < rng.low or value >= rng.low + rng.mod:
        raise InputError(source, where, f"value {value} is outside {rng}")
    return value


def _parse_int_text(source, where, text, rng):
    token = text.strip()
    try:
        value = int(token, 10)
    except ValueError:
        raise InputError(source, where, f"value {token!r} is not an integer draw in {rng}") from None
    return _check_value(source, where, value, rng)


def _from_json(source, data, rng, sessions):
    if isinstance(data, dict):
        if "draws" not in data:
            raise InputError(source, "top level", 'object has no "draws" key (expected a list or {"draws": [...]})')
        data = data["draws"]
    if not isinstance(data, list):
        raise InputError(source, "draws", f"expected a JSON array, got {type(data).__name__}")
    draws, last_date = [], None
    for i, item in enumerate(data):
        where = f"index {i}"
        if isinstance(item, dict):
            if "draw" not in item:
                raise InputError(source, f"{where}", 'object has no "draw" field')
            if sessions and item.get("session") not in sessions:
                continue
            date = item.get("date")
            if date is not None:
                if not isinstance(date, str):
                    raise InputError(source, f"{where} field 'date'", f"value {json.dumps(date)} is not a date string")
                if last_date is not None and date < last_date:
                    raise InputError(
                        source, f"{where} field 'date'",
                        f"{date} is older than the entry before it ({last_date}); histories must be oldest first",
                    )
                last_date = date
            draws.append(_check_value(source, f"{where} field 'draw'", item["draw"], rng))
        else:
            draws.append(_check_value(source, where, item, rng))
    return draws


def _from_text(source, text, rng):
    lines = text.splitlines()
    first = next((ln for ln in lines if ln.strip()), "")
    if "," in first or first.strip().lower() == "draw" or not first.strip().lstrip("-").isdigit():
        reader = csv.DictReader(io.StringIO(text))
        fields = [f.strip() for f in (reader.fieldnames or [])]
        if "draw" not in fields:
            raise InputError(source, "line 1", f"CSV header {first.strip()!r} has no 'draw' column")
        reader.fieldnames = fields
        draws = []
        for row in reader:
            line = reader.line_num
            value = row.get("draw")
            if value is None or not value.strip():
                raise InputError(source, f"line {line} column 'draw'", "value is missing")
            draws.append(_parse_int_text(source, f"line {line} column 'draw'", value, rng))
        return draws
    return [
        _parse_int_text(source, f"line {n}", ln, rng)
        for n, ln in enumerate(lines, start=1)
        if ln.strip()
    ]


def load_history(path, mod, sessions=(), low=0):
    """Read and validate a draw-history file; returns the draws as a list of ints, oldest first."""
    source = Path(path)
    rng = Range(mod, low)
    try:
        raw = source.read_bytes()
    except FileNotFoundError:
        raise InputError(source, "", "draw-history file does not exist") from None
    except IsADirectoryError:
        raise InputError(source, "", "is a directory, not a draw-history file") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(source, f"byte {exc.start}", "file is not UTF-8 text") from None
    if not text.strip():
        raise InputError(source, "", "draw-history file is empty")
    if text.lstrip()[0] in "[{":
        try:
            data = json.loads(text, parse_constant=lambda c: float("nan"))
        except json.JSONDecodeError as exc:
            raise InputError(source, f"line {exc.lineno} column {exc.colno}", f"invalid JSON ({exc.msg})") from None
        draws = _from_json(source, data, rng, set(sessions))
    else:
        draws = _from_text(source, text, rng)
    if not draws:
        raise InputError(source, "", "no draws found" + (f" for sessions {sorted(sessions)}" if sessions else ""))
    return draws


@dataclass(frozen=True)
class Split:
    """Train = first part, holdout = next part, test = the last ``test_draws`` draws."""

    n_train: int
    n_holdout: int
    n_test: int

    @classmethod
    def of(cls, n_draws, holdout_fraction, test_draws):
        rest = n_draws - test_draws
        holdout = int(round(holdout_fraction * rest))
        return cls(rest - holdout, holdout, test_draws)

    def parts(self, draws):
        a, b = self.n_train, self.n_train + self.n_holdout
        return draws[:a], draws[a:b], draws[b:]


def read_history_part(path, mod, min_draws=0, why="", low=0, offset=True):
    """A JSON array of draws written by Step 1, checked again (it may come from elsewhere).

    Returns the draws less ``low``, in [0, mod): the form every later step compares generator
    draws in (``offset=False``: the draws as written). ``min_draws`` is how many draws the caller
    needs; ``why`` says what for.
    """
    data = read_json(path, "draw history")
    if not isinstance(data, list):
        raise InputError(path, "top level", "expected a JSON array of draws")
    rng = Range(mod, low)
    for i, v in enumerate(data):
        if isinstance(v, bool) or not isinstance(v, int) or not low <= v < low + mod:
            raise InputError(path, f"index {i}", f"value {v!r} is not an integer draw in {rng}")
    if len(data) < min_draws:
        raise InputError(path, "", f"{len(data)} draws, fewer than the {min_draws} needed{' ' + why if why else ''}")
    return [v - low for v in data] if low and offset else data
