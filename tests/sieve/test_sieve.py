"""The sieve: planted seeds are found, stage 1 loses nothing, chance survivors match the expectation."""

import os
import random

import numpy as np
import pytest

from seedsift.data import synthetic
from seedsift.prng import families
from seedsift.sieve import search
from seedsift.stats import poisson_interval


def spec(name, train, **kw):
    base = dict(prng=name, train=tuple(train), mod=1000, skip_min=0, skip_max=3, burn=0,
                window_start=1, window=8, threshold=1.0)
    base.update(kw)
    return search.SieveSpec(**base)


@pytest.mark.parametrize("name", sorted(families.FAMILIES))
def test_planted_seed_is_a_bidirectional_survivor_with_full_match(name):
    rng = random.Random(f"planted-{name}")
    seed, skip = rng.randrange(1 << 20), rng.randrange(4)
    draws, _ = synthetic.generate(name, seed, skip, 0, 120, 1000, 0.0, 1)
    records, stats = search.sieve_range(spec(name, draws[:96]), 0, 1 << 20)
    found = [r for r in records if r["seed"] == seed]
    assert found, f"planted {name} seed {seed} not found"
    rec = found[0]
    assert rec["skip"] == skip and rec["bidirectional"]
    assert rec["forward_matches"] == rec["reverse_matches"] == 8
    assert rec["forward_match_rate"] == rec["reverse_match_rate"] == 1.0
    assert stats["seeds_tested"] == 1 << 20


@pytest.mark.parametrize("name", ["mt19937", "java_random", "xoshiro128pp"])
def test_two_stage_sieve_equals_brute_force(name):
    """Stage 1 is a necessary condition: the range sieve keeps exactly what a full check keeps."""
    rng = np.random.default_rng(3)
    train = rng.integers(0, 10, size=40).tolist()
    s = spec(name, train, mod=10, window=6, threshold=0.5, skip_max=2)
    start = 123456
    fast, _ = search.sieve_range(s, start, start + 5000)
    full = search.sieve_seeds(s, np.arange(start, start + 5000, dtype=np.uint32))
    assert fast == full
    assert len(full) > 100


def test_best_skip_prefers_bidirectional_then_most_matches():
    name, seed = "pcg32", 4242
    draws, _ = synthetic.generate(name, seed, 3, 0, 80, 1000, 0.0, 1)
    rec = search.sieve_seeds(spec(name, draws[:64], skip_min=0, skip_max=5, threshold=0.25), [seed])[0]
    assert rec["skip"] == 3 and rec["bidirectional"]


def test_required_matches_is_robust_to_float_noise():
    assert search.required_matches(0.3, 10) == 3
    assert search.required_matches(0.25, 4) == 1
    assert search.required_matches(1.0, 8) == 8
    assert search.required_matches(0.0001, 8) == 1


def test_shard_bounds_cover_the_range_exactly():
    parts = [search.shard_bounds(10, 1000, 7, i) for i in range(7)]
    assert parts[0][0] == 10 and parts[-1][1] == 1000
    assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))


@pytest.mark.parametrize("name", ["xorshift32", "java_random", "mt19937"])
def test_uniform_random_draws_give_the_expected_false_survivors(name):
    """Null control: on os.urandom draws the survivor counts sit inside the Poisson interval."""
    draws = [int.from_bytes(os.urandom(4), "little") % 1000 for _ in range(60)]
    s = spec(name, draws, window=4, threshold=0.25, skip_max=3)
    n = 1 << 20
    records, _ = search.sieve_range(s, 0, n)
    exp_f, exp_b = s.expected_false(n)
    fwd = len(records)
    bid = sum(r["bidirectional"] for r in records)
    lo, hi = poisson_interval(exp_f, 0.9999)
    assert lo <= fwd <= hi, (fwd, exp_f)
    lo, hi = poisson_interval(exp_b, 0.9999)
    assert lo <= bid <= hi, (bid, exp_b)


def test_expected_false_survivors_formula():
    """Skips that share no call are independent tries: the binomial formula."""
    s = spec("xorshift32", list(range(40)), window=4, threshold=0.25, skip_min=5, skip_max=5)
    per_skip = 1 - 0.999 ** 4
    exp_f, exp_b = s.expected_false(1000000)
    assert exp_f == pytest.approx(1e6 * per_skip, rel=1e-12)
    assert exp_b == pytest.approx(1e6 * per_skip**2, rel=1e-12)


def test_a_repeated_value_gives_fewer_chance_survivors_and_the_figure_says_so():
    """Null control on a history whose first window repeats one value (as 390, 390 would).

    Under every skip the window then meets that value at shared calls, which match together,
    so far fewer seeds pass than independent skips would give.
    """
    draws = [int.from_bytes(os.urandom(4), "little") % 1000 for _ in range(60)]
    draws[:5] = [draws[0]] * 5
    s = spec("xorshift32", draws, window=4, threshold=0.25, skip_max=3)
    n = 1 << 20
    records, _ = search.sieve_range(s, 0, n)
    exp_f, _ = s.expected_false(n)
    lo, hi = poisson_interval(exp_f, 0.9999)
    assert lo <= len(records) <= hi, (len(records), exp_f)
    independent = n * (1 - (1 - (1 - 0.999 ** 4)) ** 4)
    assert poisson_interval(independent, 0.9999)[0] > hi


def test_no_survivors_is_a_valid_result():
    draws = [int.from_bytes(os.urandom(4), "little") % 1000 for _ in range(60)]
    records, stats = search.sieve_range(spec("pcg32", draws, window=8, threshold=1.0), 0, 1 << 16)
    assert records == [] and stats["forward_survivors"] == 0
