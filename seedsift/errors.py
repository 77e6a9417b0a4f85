"""One exception family for seedsift; every message names the file, the field and the value."""


class SeedsiftError(Exception):
    """Base class: a problem a user can fix, reported as one line."""


class InputError(SeedsiftError):
    """Bad input data (draw history, survivors, sidecar, model artifact).

    The message names the file, the position or field, the offending value and what
    is allowed, e.g. ``draws.csv: line 4: value '12a' is not an integer in [0, 1000)``.
    """

    def __init__(self, source, where, problem):
        self.source = str(source)
        self.where = where
        self.problem = problem
        location = f"{self.source}: {where}" if where else self.source
        super().__init__(f"{location}: {problem}")


class ConfigError(SeedsiftError):
    """A config key is unknown, has the wrong type, is out of bounds or inconsistent."""

    def __init__(self, key, value, allowed):
        self.key = key
        self.value = value
        self.allowed = allowed
        super().__init__(f"config key '{key}': value {value!r} is invalid; allowed: {allowed}")
