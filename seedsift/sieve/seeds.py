"""Seed ranges: a plain range, or the timestamps of a time window (time-derived seeds)."""

from datetime import datetime, timedelta, timezone

from seedsift.errors import ConfigError

UNITS = {"s": 1, "ms": 1_000, "us": 1_000_000}
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def parse_time(key, value):
    """An ISO-8601 date and time as an aware datetime (UTC when it names no zone)."""
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(key, value, "an ISO-8601 date and time, e.g. 2024-05-01T12:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    if moment < EPOCH:
        raise ConfigError(key, value, "a time after 1970-01-01T00:00:00Z (seeds are timestamps since then)")
    return moment


def timestamp(moment, unit):
    """Whole ``unit``s from 1970-01-01 UTC to ``moment`` (exact integer arithmetic)."""
    micros = (moment - EPOCH) // timedelta(microseconds=1)
    return micros // (1_000_000 // UNITS[unit])


def time_range(seed_time):
    """[seed_start, seed_end) of a ``sieve.seed_time`` block, or None when it is not set."""
    start, end = seed_time.get("start"), seed_time.get("end")
    if start is None and end is None:
        return None
    if start is None or end is None:
        missing = "sieve.seed_time.start" if start is None else "sieve.seed_time.end"
        raise ConfigError(missing, None, "a time: sieve.seed_time needs both start and end")
    lo = parse_time("sieve.seed_time.start", start)
    hi = parse_time("sieve.seed_time.end", end)
    if hi < lo:
        raise ConfigError("sieve.seed_time.end", end, f"a time not before sieve.seed_time.start ({start})")
    unit = seed_time.get("unit") or "s"
    return timestamp(lo, unit), timestamp(hi, unit) + 1


def as_time(seed, unit):
    """A time-derived seed as an ISO-8601 UTC time."""
    moment = EPOCH + timedelta(microseconds=int(seed) * (1_000_000 // UNITS[unit]))
    spec = {"s": "seconds", "ms": "milliseconds", "us": "microseconds"}[unit]
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")
