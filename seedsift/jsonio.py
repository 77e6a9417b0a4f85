"""Atomic, validated JSON files: a reader never sees a half-written output."""

import hashlib
import json
import math
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import ijson

from seedsift.errors import InputError

if ijson.backend != "yajl2_c":
    # The pure-Python backends are 20-50x slower: an 800 MB survivors file would take an hour.
    raise ImportError(f"ijson's C backend yajl2_c is required, found {ijson.backend!r}: reinstall ijson with its C extension")


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
    """A temp file beside ``path`` with the permissions a plain open() would give.

    It keeps ``path``'s suffix, so writers that pick a format from the name (model files) see it.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.fchmod(fd, _MODE)
    return fd, tmp


def _fsync_path(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path):
    """A temp path beside ``path`` for a writer that wants a file name (a model library's save);
    it is synced and renamed to ``path`` only if the block succeeds, and removed otherwise."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _open_temp(path)
    os.close(fd)
    try:
        yield tmp
        _fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@contextmanager
def atomic_open(path, mode="w"):
    """A file handle whose content appears at ``path`` (by rename) only if the block succeeds."""
    with atomic_path(path) as tmp, open(tmp, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
        yield fh
        fh.flush()


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


# -- reading large JSON arrays ------------------------------------------------------------------
READ_BLOCK = 1 << 20


class _HashingReader:
    """Binary file reader that hashes and counts every byte it hands to the parser."""

    def __init__(self, fh, prefix=b""):
        self.fh = fh
        self.prefix = prefix
        self.digest = hashlib.sha256(prefix)
        self.nbytes = len(prefix)

    def read(self, size=-1):
        if size == 0:
            return b""
        if self.prefix:
            data, self.prefix = self.prefix, b""
            return data
        data = self.fh.read(size)
        self.digest.update(data)
        self.nbytes += len(data)
        return data


class ArrayReader:
    """The records of a file holding one JSON array, streamed (the file is never loaded whole).

    ``with ArrayReader(path, "survivors") as reader: for index, record in reader: ...``. A missing,
    unreadable, empty or non-array file, and a parse error (truncated JSON, a number too large for
    a float) raise one InputError naming the file, the record and, where it can, the field.
    ``sha256`` and ``nbytes`` cover the bytes read so far; ``drain()`` reads the rest.
    """

    def __init__(self, path, what="survivors"):
        self.path = Path(path)
        self.what = what
        try:
            self._fh = open(self.path, "rb")
        except FileNotFoundError:
            raise InputError(self.path, "", f"{what} file does not exist") from None
        except OSError as exc:
            raise InputError(self.path, "", f"{what} file cannot be read ({exc.strerror})") from None
        head = self._fh.read(READ_BLOCK)
        stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if not stripped:
            self._fh.close()
            raise InputError(self.path, "", f"{what} file is empty")
        if not stripped.startswith(b"["):
            self._fh.close()
            raise InputError(self.path, "top level", f"expected a JSON array of {what} records")
        self._reader = _HashingReader(self._fh, head)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._fh.close()

    def __iter__(self):
        count = 0
        try:
            for record in ijson.items(self._reader, "item", use_float=True, buf_size=READ_BLOCK):
                yield count, record
                count += 1
        except ijson.JSONError as exc:
            # yajl's message goes on with a caret diagram on further lines: keep its first line.
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise _locate_parse_error(self.path, count, msg) from None

    def drain(self):
        """Read (and hash) whatever the parser left, so ``sha256`` covers the whole file."""
        while self._reader.read(READ_BLOCK):
            pass

    @property
    def sha256(self):
        return self._reader.digest.hexdigest()

    @property
    def nbytes(self):
        return self._reader.nbytes


def iter_records(path, what="survivors"):
    """(index, record) of every element of a JSON array file (see ArrayReader)."""
    with ArrayReader(path, what) as reader:
        yield from reader


_VALUE_STARTS = frozenset(("start_map", "start_array", "number", "string", "boolean", "null"))


def _finite_number(value):
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _short(value):
    text = str(value)
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} digits)"


def _field_of(prefix, key):
    parts = prefix.split(".")[1:] + ([key] if key is not None else [])
    return ".".join(parts)


def _locate_parse_error(path, count, msg):
    """InputError naming the record and field where the fast parser failed.

    Only runs after a failure: a second, event-level pass with exact decimals finds a number
    too large for a float (which the fast pass rejects as a parse error) or the last key
    read before the syntax error.
    """
    index, key_prefix, key = -1, None, None
    with open(path, "rb") as fh:
        try:
            for prefix, event, value in ijson.parse(fh, buf_size=READ_BLOCK):
                if prefix == "item" and event in _VALUE_STARTS:
                    index += 1
                    key_prefix, key = None, None
                if event == "map_key":
                    key_prefix, key = prefix, value
                elif event == "number" and not _finite_number(value):
                    return InputError(path, f"record {index}, field '{_field_of(prefix, None)}'",
                                      f"value {_short(value)} is not a finite number")
                elif event == "number" and isinstance(value, int) and not -2**63 <= value < 2**63:
                    # The C parser reads integers as 64-bit: write larger ones as floats.
                    return InputError(path, f"record {index}, field '{_field_of(prefix, None)}'",
                                      f"integer {_short(value)} does not fit 64 bits (write it as a float)")
        except ijson.JSONError:
            pass
    where = f"record {max(index, count)}"
    if key is not None:
        where += f", field '{_field_of(key_prefix, key)}'"
    return InputError(path, where, f"invalid or truncated JSON ({msg})")
