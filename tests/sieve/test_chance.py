"""The chance figure: the joint count of shared calls against an exhaustive count of every outcome."""

import itertools
import random

import pytest

from seedsift.sieve import chance, search
from seedsift.stats import binom_sf


def units_of(train, window_start, window, skips, bidirectional, burn=0):
    """The sieve's units, built here from the skip convention (call = burn + position * (skip + 1))."""
    n = len(train)
    spans = [range(window_start, window_start + window)] + ([range(n - window, n)] if bidirectional else [])
    return [[[(burn + p * (k + 1), train[p]) for p in span] for span in spans] for k in skips]


def exhaustive(units, mod, required):
    """P(some unit passes), counting every assignment of values to the calls (1/mod each)."""
    calls = sorted({c for unit in units for window in unit for c, _ in window})
    where = {c: i for i, c in enumerate(calls)}
    hits = 0
    for draws in itertools.product(range(mod), repeat=len(calls)):
        hits += any(all(sum(draws[where[c]] == v for c, v in window) >= required for window in unit)
                    for unit in units)
    return hits / mod ** len(calls)


def small_cases(count):
    rng = random.Random(11)
    cases = []
    while len(cases) < count:
        mod, n, window = rng.choice([2, 3]), rng.randrange(4, 8), rng.randrange(1, 4)
        start = rng.randrange(2)
        if start + window > n:
            continue
        train = [rng.randrange(mod) for _ in range(n)]
        skips = range(rng.randrange(2), rng.randrange(2, 4))
        units = units_of(train, start, window, skips, rng.random() < 0.5)
        if len({c for u in units for w in u for c, _ in w}) <= 10:
            cases.append((units, mod, rng.randrange(1, window + 1)))
    return cases


@pytest.mark.parametrize("units,mod,required", small_cases(30))
def test_the_joint_count_is_the_exhaustive_count(units, mod, required):
    got = chance.pass_chance(units, 1.0 / mod, required)
    assert got.exact and got.low == got.high
    assert got.high == pytest.approx(exhaustive(units, mod, required), abs=1e-12)


@pytest.mark.parametrize("units,mod,required", small_cases(30))
def test_the_bonferroni_bounds_hold_the_exact_chance(units, mod, required):
    bounds = chance.pass_chance(units, 1.0 / mod, required, work=0)
    exact = exhaustive(units, mod, required)
    assert bounds.low <= bounds.high and (bounds.low == bounds.high) >= bounds.exact
    assert bounds.low - 1e-12 <= exact <= bounds.high + 1e-12


def test_the_bounds_are_tight_when_a_skip_rarely_passes():
    rng = random.Random(5)
    train = [rng.randrange(1000) for _ in range(200)]
    units = units_of(train, 1, 8, range(32), True)
    bounds = chance.pass_chance(units, 1e-3, 2, work=0)
    assert bounds.high - bounds.low < 1e-4 * bounds.high


def test_a_repeated_value_lowers_the_chance_and_distinct_values_raise_it():
    """One skip's window is a binomial tail; skips that share calls are not independent tries."""
    q, required = 1e-3, 1
    one = units_of(list(range(10)), 1, 4, [2], False)
    assert chance.pass_chance(one, q, required).high == pytest.approx(binom_sf(1, 4, q), rel=1e-12)
    independent = 1 - (1 - binom_sf(1, 4, q)) ** 4
    distinct = chance.pass_chance(units_of(list(range(10)), 1, 4, range(4), False), q, required).high
    repeated = chance.pass_chance(units_of([7] * 10, 1, 4, range(4), False), q, required).high
    # All values equal: the 16 slots meet 9 distinct calls, so P = 1 - (1 - q)^9.
    assert repeated == pytest.approx(1 - (1 - q) ** 9, rel=1e-12)
    # All values distinct: a call meeting d values misses them all with 1 - d q, below (1 - q)^d.
    assert distinct > independent


def test_the_spec_builds_its_units_from_the_skip_convention():
    train = tuple(random.Random(2).randrange(1000) for _ in range(50))
    spec = search.SieveSpec(prng="xorshift32", train=train, mod=1000, skip_min=1, skip_max=3, burn=5,
                            window_start=2, window=4, threshold=0.5)
    assert spec.chance_units(True) == units_of(list(train), 2, 4, range(1, 4), True, burn=5)
    rows = spec.expected_by_forward_matches(1 << 20)
    assert [k for k, _ in rows] == [2, 3, 4]
    assert sum(e for _, e in rows) == pytest.approx(spec.expected_false(1 << 20)[0], rel=1e-12)


@pytest.mark.parametrize("skip_max,exact", [(2, True), (40, False)])
def test_the_sieve_summary_says_whether_its_chance_figure_is_exact(tmp_path, skip_max, exact):
    from seedsift.data.history import prepare
    from seedsift.pipeline.config import validate
    from seedsift.sieve import shards

    from conftest import TINY_CONFIG, deep_update

    cfg = validate(deep_update(TINY_CONFIG, {"sieve": {"shards": 1, "prngs": ["pcg32"], "seed_end": 1 << 12,
                                                       "window": 8, "skip_max": skip_max}}))
    prepare("synthetic", cfg, tmp_path)
    shard = tmp_path / "shard_0.json"
    shards.run_shard(tmp_path / "train_history.json", "pcg32", 0, cfg, shard)
    outs = [tmp_path / n for n in ("fwd.json", "bid.json", "summary.json")]
    summary = shards.aggregate([shard], tmp_path / "train_history.json", cfg, *outs)
    fam = summary["families"]["pcg32"]
    assert fam["expected_false_exact"] is exact
    for kind in ("forward", "bidirectional"):
        lo, hi = fam["expected_false_range"][kind]
        assert hi == fam[f"expected_false_{kind}"] and 0 < lo <= hi
        assert (lo == hi) is exact
    assert ("upper bounds" in summary["chance_note"]) is not exact
    assert sum(e for _, e in fam["expected_by_forward_matches"]) == pytest.approx(fam["expected_false_forward"])
