"""Config validation against the bounds in ``manifests/``, before any job runs.

Every key is checked: an unknown key, a wrong type, an out-of-range value or an
inconsistent pair stops the run with one message naming the key, the value and the
allowed range. Missing keys take the manifest's default.
"""

import copy
from datetime import date, datetime

import yaml

from seedsift import manifests
from seedsift.data.draws import Split, load_history
from seedsift.errors import ConfigError
from seedsift.prng import runtimes
from seedsift.prng.state import method_check
from seedsift.sieve.seeds import time_range


def check_value(key, value, bound):
    """Validate one value against its bound; returns it (ints widened to float for floats)."""
    kind = bound["type"]
    allowed = manifests.describe(bound)
    if value is None:
        if bound.get("nullable"):
            return None
        raise ConfigError(key, value, allowed)
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, value, allowed)
    elif kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(key, value, allowed)
        value = float(value)
    elif kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(key, value, allowed)
    elif kind == "string":
        if isinstance(value, (date, datetime)) and bound.get("format", "").startswith("ISO-8601"):
            value = value.isoformat()  # YAML reads an unquoted timestamp as a date
        if not isinstance(value, str) or not value:
            raise ConfigError(key, value, allowed)
    elif kind == "categorical":
        if value not in bound["choices"]:
            raise ConfigError(key, value, allowed)
    elif kind == "list":
        if not isinstance(value, list) or len(value) < bound.get("min_items", 0):
            raise ConfigError(key, value, allowed)
        if len(set(map(repr, value))) != len(value):
            raise ConfigError(key, value, allowed + ", without repeats")
        item = bound.get("items")
        if item:
            return [check_value(key, v, item) for v in value]
        return list(value)
    if kind in ("int", "float"):
        lo, hi = bound.get("min"), bound.get("max")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise ConfigError(key, value, allowed)
    return value


def _flatten(config, bounds, prefix=""):
    flat = {}
    for key, value in config.items():
        full = f"{prefix}{key}"
        if full in bounds:
            flat[full] = value
        elif isinstance(value, dict) and any(b.startswith(full + ".") for b in bounds):
            flat.update(_flatten(value, bounds, full + "."))
        else:
            known = sorted({k[len(prefix):].split(".")[0] for k in bounds if k.startswith(prefix)})
            raise ConfigError(full, value, f"a known key under '{prefix.rstrip('.') or 'top level'}' ({', '.join(known)})")
    return flat


def _nest(flat):
    tree = {}
    for key, value in flat.items():
        node = tree
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return tree


def _from_command_line(flat, cli, bounds):
    """Snakemake parses nested ``--config`` values with YAML's base loader (all strings):
    read those strings again as YAML where the key expects a number, bool, list or null."""
    for key, value in _flatten(_plain(cli), bounds).items():
        bound = bounds[key][1]
        if key in flat and isinstance(flat[key], str) and flat[key] == value and bound["type"] != "string":
            try:
                flat[key] = yaml.safe_load(value)
            except yaml.YAMLError:
                pass


def _plain(obj):
    if hasattr(obj, "items"):
        return {k: _plain(v) for k, v in obj.items()}
    return obj


def validate(config, manifest_dir=manifests.MANIFEST_DIR, cli_overrides=None):
    """A validated, defaults-filled copy of ``config``; raises ConfigError or InputError.

    ``cli_overrides`` are the values given with snakemake's ``--config``.
    """
    bounds = manifests.config_bounds(manifest_dir)
    flat = _flatten(copy.deepcopy(_plain(config)), bounds)
    if cli_overrides:
        _from_command_line(flat, cli_overrides, bounds)
    checked = {}
    for key, (_, bound) in sorted(bounds.items()):
        value = flat[key] if key in flat else copy.deepcopy(bound.get("default"))
        checked[key] = check_value(key, value, bound)
    cfg = _nest(checked)
    check_consistency(cfg)
    return cfg


def n_draws_of(cfg):
    """Number of draws the run will have (reads the history file when one is given)."""
    if cfg["draws"] == "synthetic":
        return cfg["synthetic"]["n_draws"]
    return len(load_history(cfg["draws"], cfg["mod"], cfg["sessions"], low=cfg["low"]))


def split_of(cfg):
    """The train / holdout / test split of the run."""
    return Split.of(n_draws_of(cfg), cfg["split"]["holdout_fraction"], cfg["split"]["test_draws"])


def _check_call(prng, mod, low):
    """A mod and low the call can make: its bound limit, and draws in its value type."""
    runtimes.check_mod(prng, mod, key="mod")
    lo, hi = runtimes.value_range(prng)
    if low < lo or low + mod - 1 > hi:
        raise ConfigError("low", low, f"a low with draws [low, low + mod - 1] inside [{lo}, {hi}], the values {prng} "
                                      f"returns (mod {mod})")


def check_consistency(cfg):
    """Checks that involve more than one key (and the number of draws)."""
    sv, syn, mod, low = cfg["sieve"], cfg["synthetic"], cfg["mod"], cfg["low"]
    times = time_range(sv["seed_time"])
    if times is not None:
        sv["seed_start"], sv["seed_end"] = times
    for prng in sv["prngs"]:
        _check_call(prng, mod, low)
        limit = runtimes.seed_limit(prng)
        if sv["seed_end"] > limit:
            key = "sieve.seed_time.end" if times is not None else "sieve.seed_end"
            value = sv["seed_time"]["end"] if times is not None else sv["seed_end"]
            raise ConfigError(key, value, f"a seed range inside the seed space of {prng}, [0, {limit}) "
                                          f"(the range ends at seed {sv['seed_end']})")
    if sv["seed_end"] <= sv["seed_start"]:
        raise ConfigError("sieve.seed_end", sv["seed_end"], f"greater than sieve.seed_start ({sv['seed_start']})")
    if sv["skip_max"] < sv["skip_min"]:
        raise ConfigError("sieve.skip_max", sv["skip_max"], f">= sieve.skip_min ({sv['skip_min']})")
    if sv.get("shard_seeds") is not None:
        # Jobs of a given size (a GPU takes far more seeds per job than a CPU core): the count follows the range.
        span, most = sv["seed_end"] - sv["seed_start"], manifests.load("sieve")["parameter_bounds"]["shards"]["max"]
        sv["shards"] = -(-span // sv["shard_seeds"])
        if sv["shards"] > most:
            raise ConfigError("sieve.shard_seeds", sv["shard_seeds"],
                              f"at least {-(-span // most)}: at most {most} shards of the {span} seeds searched")
    if sv["shards"] > sv["seed_end"] - sv["seed_start"]:
        raise ConfigError("sieve.shards", sv["shards"], f"at most the number of seeds ({sv['seed_end'] - sv['seed_start']})")
    if cfg["draws"] == "synthetic":
        if syn["mod"] is not None and syn["mod"] != mod:
            raise ConfigError("synthetic.mod", syn["mod"], f"null or equal to mod ({mod})")
        _check_call(syn["prng"], mod, low)
        limit = runtimes.seed_limit(syn["prng"])
        if syn["seed"] >= limit:
            raise ConfigError("synthetic.seed", syn["seed"], f"a seed in [0, {limit}) for {syn['prng']}")
    split = split_of(cfg)
    n = split.n_train + split.n_holdout + split.n_test
    if split.n_test >= n:
        raise ConfigError("split.test_draws", split.n_test, f"fewer than the {n} draws of {cfg['draws']}")
    if split.n_holdout < 1:
        raise ConfigError(
            "split.holdout_fraction", cfg["split"]["holdout_fraction"],
            f"a fraction that leaves at least 1 holdout draw of the {n - split.n_test} non-test draws",
        )
    if sv["search"] == "state":
        # Every call needs a state method for this mod, and the training draws that method needs.
        for prng in sv["prngs"]:
            method_check(prng, mod, split.n_train, range(sv["skip_min"], sv["skip_max"] + 1))
    need = sv["window_start"] + 2 * sv["window"]
    if split.n_train < need:
        raise ConfigError(
            "sieve.window", sv["window"],
            f"a window whose forward part [window_start, window_start + window) and reverse part "
            f"(the last window train draws) fit apart in the {split.n_train} training draws: "
            f"window_start + 2 * window <= {split.n_train}",
        )
    pool = cfg.get("pool")
    if pool:
        if not pool["tight"] <= pool["balanced"] <= pool["wide"]:
            raise ConfigError("pool.balanced", pool["balanced"],
                              f"pool sizes ordered tight <= balanced <= wide ({pool['tight']}, {pool['balanced']}, {pool['wide']})")
        if pool["tight_weight"] + pool["balanced_weight"] + pool["wide_weight"] <= 0:
            raise ConfigError("pool.tight_weight", pool["tight_weight"], "pool weights with a positive sum")
    return cfg
