"""Atomic, validated JSON files: a reader never sees a half-written output."""

import hashlib
import json
import math
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from seedsift.errors import InputError


def _finite(obj):
    # JSON has no NaN/Infinity; reject them instead of writing non-standard files.
    if isinstance(obj, float) and not math.isfinite(obj):
        raise ValueError(f"non-finite number {obj!r} cannot be written to JSON")
    return obj


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


_MODE = 0o666 & ~_umask()


def _open_temp(path):
    """A temp file beside ``path`` with the permissions a plain open() would give."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, _MODE)
    return fd, tmp


@contextmanager
def atomic_open(path, mode="w"):
    """A file handle whose content appears at ``path`` (by rename) only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _open_temp(path)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path, text):
    """Write ``text`` to ``path`` through a temp file in the same folder and a rename."""
    with atomic_open(path, "w") as fh:
        fh.write(text)


def atomic_write_bytes(path, data):
    """Write ``data`` (bytes) to ``path`` through a temp file in the same folder and a rename."""
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def dumps(obj, indent=None):
    """Serialise strictly (no NaN), keys in insertion order."""
    return json.dumps(obj, indent=indent, allow_nan=False, default=_default)


def _default(obj):
    # numpy scalars reach JSON through their Python value.
    if hasattr(obj, "item"):
        return _finite(obj.item())
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def write_json(path, obj, indent=1):
    """Atomically write ``obj`` as JSON, then read it back to prove it is valid."""
    atomic_write_text(path, dumps(obj, indent=indent) + "\n")
    read_json(path)


class JsonArrayWriter:
    """Stream JSON objects into an array file that appears (by rename) only on ``commit()``."""

    def __init__(self, path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self._tmp = _open_temp(self.path)
        self._fh = os.fdopen(fd, "w", encoding="utf-8")
        self._fh.write("[")
        self.count = 0

    def write(self, record):
        self.write_raw(dumps(record))

    def write_raw(self, text):
        """Write one record already serialised as compact JSON (one line, no trailing comma)."""
        self._fh.write(",\n" if self.count else "\n")
        self._fh.write(text)
        self.count += 1

    def commit(self):
        self._fh.write("\n]\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        os.replace(self._tmp, self.path)

    def abort(self):
        if not self._fh.closed:
            self._fh.close()
        if os.path.exists(self._tmp):
            os.unlink(self._tmp)


def write_json_array(path, records):
    """Atomically stream an iterable of JSON objects as an array, one record per line."""
    writer = JsonArrayWriter(path)
    try:
        for record in records:
            writer.write(record)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    return writer.count


def read_json(path, what="JSON file"):
    """Read a JSON file; a missing, empty or invalid file raises one InputError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(path, "", f"{what} does not exist") from None
    except UnicodeDecodeError as exc:
        raise InputError(path, f"byte {exc.start}", "file is not UTF-8 text") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise InputError(path, "", f"{what} is empty")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InputError(path, f"line {exc.lineno} column {exc.colno}", f"invalid JSON ({exc.msg})") from None


def _reject_constant(name):
    raise json.JSONDecodeError(f"{name} is not valid JSON", name, 0)


def sha256_file(path):
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
