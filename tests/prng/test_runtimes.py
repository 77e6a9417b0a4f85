"""Runtime calls: the reference against the real runtimes, the kernels against the reference."""

import os
import random

import numpy as np
import pytest

from seedsift.errors import ConfigError
from seedsift.prng import kernels, runtimes
from seedsift.prng.hypothesis import hypothesis_draws

import real_runtimes

# Bounds chosen so every rejection loop is hit often: 600 rejects ~41% of CPython's 10-bit draws,
# 1024 is a power of two (Java's and PHP's other branch; CPython rejects half of its 11 bits), and
# the large bounds reject about half (or a quarter) of all outputs.
MODS = [1000, 600, 1024, 6, 2]
LARGE = {"java.util.Random.nextInt": 1610612736, "glibc.rand": 1 << 31, "php.mt_rand.unbounded": 1 << 31,
         "php.mt_rand.unbounded.legacy": 1 << 31}


def _mods(name):
    if name == "python.random.getrandbits":
        return [2, 1024, 1 << 20, 1 << 32]
    large = LARGE.get(name, (1 << 30) + 1)
    return MODS + ([large] if large <= runtimes.mod_limit(name) else [])


# Seeds at the edges of the 32-bit signed and unsigned ranges (glibc reads the seed as an int32,
# srand(0) is srand(1), 2^31 - 1 is glibc's modulus).
EDGE_SEEDS = [0, 1, 2, (1 << 31) - 2, (1 << 31) - 1, 1 << 31, (1 << 31) + 1, (1 << 32) - 2, (1 << 32) - 1]


def _seed(rng, name):
    limit = runtimes.seed_limit(name)
    # Seeds above 2^32 where the runtime takes them (a Java long, a CPython int of two words).
    return rng.randrange(limit) if rng.random() < 0.5 else rng.randrange(min(limit, 1 << 32))


@pytest.mark.parametrize("name", sorted(real_runtimes.WRITERS))
def test_reference_equals_the_real_runtime(name):
    rng = random.Random(name)
    requests = [(_seed(rng, name), rng.choice([0, 1, 17]), mod, 60) for mod in _mods(name) for _ in range(10)]
    requests += [(seed, 0, mod, 60) for mod in _mods(name)[:2] for seed in EDGE_SEEDS]
    got = real_runtimes.WRITERS[name](requests)
    for (seed, low, mod, n), row in zip(requests, got):
        assert runtimes.draws(name, seed, n, mod, low) == row, (name, seed, low, mod)


@pytest.mark.parametrize("name", sorted(runtimes.RUNTIMES))
def test_kernel_equals_the_reference(name):
    rng = random.Random(name + "k")
    for mod in _mods(name):
        seeds = np.array([5489] + EDGE_SEEDS + [_seed(rng, name) for _ in range(90)], dtype=np.uint64)
        # Call indices from the start (rejections shift every later call) and far out (long walks).
        for cidx in ([0, 1, 2, 3], [0, 4, 9, 30], [2, 50, 230]):
            draws = hypothesis_draws(name, seeds, np.array(cidx), 0, 0, mod)
            for row, seed in enumerate(seeds.tolist()):
                ref = runtimes.draws(name, seed, cidx[-1] + 1, mod)
                assert draws[row].tolist() == [ref[c] for c in cidx], (name, mod, seed, cidx)


@pytest.mark.parametrize("name, mod", [("java.util.Random.nextInt", m) for m in (1000, 1024, 6, 1610612736, (1 << 30) + 1)]
                         + [("java_random", m) for m in (1000, 7, 1 << 32)])
def test_the_java_range_path_of_stage_1_equals_the_exact_path(name, mod):
    """java.util.Random's stage 1 over a seed range (bases plus offsets, no walk) keeps exactly the seeds
    the general path keeps: misaligned starts, a partial last block, seeds above 2^48 and near 2^64, and
    bounds whose rejections send most blocks (1610612736, 2^30 + 1) or none (1000) to the exact walk."""
    rng = random.Random(f"{name} {mod}")
    empty = np.empty(0, np.uint64)
    for start in (0, 3, (1 << 32) - 700, (1 << 48) - 300, rng.randrange(1 << 63), (1 << 64) - 1500):
        n = 256 * 5 + 37
        seeds = np.arange(start, start + n, dtype=np.uint64)
        for cidx in ([0], [1, 2, 3, 4], [0, 5, 9]):
            call, cidx_, uidx, coef, base = runtimes.kernel_args(name, mod, np.array(cidx))
            draws = kernels.calls_at(call, seeds, cidx_, uidx, coef, base)
            rows = [rng.randrange(n) for _ in range(6)]
            tpos = np.array([rng.randrange(len(cidx)) for _ in rows], dtype=np.int64)
            tval = np.array([draws[r, p] for r, p in zip(rows, tpos)], dtype=np.int64)
            fast = kernels.any_match(call, np.uint64(start), n, empty, cidx_, uidx, tpos, tval, coef, base)
            exact = kernels.any_match(call, np.uint64(0), 0, seeds, cidx_, uidx, tpos, tval, coef, base)
            assert np.array_equal(fast, exact), (name, mod, start, cidx)
            assert fast[rows].all()
            want = (draws[:, tpos] == tval).any(axis=1)
            assert np.array_equal(fast.astype(bool), want), (name, mod, start, cidx)


@pytest.mark.parametrize("threads", [1, 2, 3, 64])
def test_stage_1_gives_every_seed_its_entry_whatever_the_thread_count(threads):
    """The sweep's workers claim tasks of kernels.TASK blocks until none are left: with one thread,
    with more tasks than threads, and with more threads than tasks, every seed of a range that ends
    inside a block gets the hit bit calls_at's draws say it should (the array is not zeroed first)."""
    name, mod = "xorshift32", 1000
    rng = random.Random(threads)
    n = kernels.LANES * kernels.TASK * 3 + 300
    start = rng.randrange(1 << 31)
    seeds = np.arange(start, start + n, dtype=np.uint64)
    call, cidx, uidx, coef, base = runtimes.kernel_args(name, mod, np.array([0, 1]))
    draws = kernels.calls_at(call, seeds, cidx, uidx, coef, base)
    tpos = np.array([0, 1], dtype=np.int64)
    tval = np.array([draws[7, 0], draws[n - 1, 1]], dtype=np.int64)
    want = (draws[:, tpos] == tval).any(axis=1)
    empty = np.empty(0, np.uint64)
    per_block = [int(want[b:b + kernels.LANES].sum()) for b in range(0, n, kernels.LANES)]
    for _ in range(3):
        masks, hits = kernels._any_match(call, np.uint64(start), n, empty, cidx, uidx, tpos, tval, coef, base,
                                         threads)
        assert masks.dtype == np.uint16 and masks.size == len(per_block) * kernels.LANES // 16
        # Bit j of word v is lane 16 v + j: numpy's little-endian unpacking reads the seeds in order.
        bits = np.unpackbits(masks.view(np.uint8), bitorder="little")
        assert bits.size == len(per_block) * kernels.LANES and not bits[n:].any()
        assert np.array_equal(bits[:n].astype(bool), want), threads
        assert np.array_equal(kernels.hit_bytes(masks), bits)
        assert hits.tolist() == per_block, threads


@pytest.mark.parametrize("mod", [2, 1000, 1 << 32])
def test_stage_1_candidates_are_the_seeds_with_a_hit_in_order(mod):
    """candidates() reads only the blocks whose hit count is not zero: with most seeds hitting
    (mod 2), a few, or one (a full 32-bit draw), over a range that starts and ends inside a block
    and over explicit seeds out of order, it returns exactly the seeds any_match marks, in order."""
    rng = random.Random(mod)
    n = kernels.LANES * 7 + 91
    start = rng.randrange(1 << 31) * 2 + 1
    seeds = np.arange(start, start + n, dtype=np.uint64)
    call, cidx, uidx, coef, base = runtimes.kernel_args("xorshift32", mod, np.array([0, 3]))
    draws = kernels.calls_at(call, seeds, cidx, uidx, coef, base)
    tpos = np.array([0, 1], dtype=np.int64)
    tval = np.array([draws[5, 0], draws[n - 2, 1]], dtype=np.int64)
    want = (draws[:, tpos] == tval).any(axis=1)
    empty = np.empty(0, np.uint64)
    got = kernels.candidates(call, np.uint64(start), n, empty, cidx, uidx, tpos, tval, coef, base)
    assert got.dtype == np.uint64 and got.tolist() == seeds[want].tolist()
    assert {start + 5, start + n - 2} <= set(got.tolist())
    shuffled = seeds[np.random.default_rng(mod).permutation(n)]
    sdraws = kernels.calls_at(call, shuffled, cidx, uidx, coef, base)
    swant = (sdraws[:, tpos] == tval).any(axis=1)
    got = kernels.candidates(call, np.uint64(0), 0, shuffled, cidx, uidx, tpos, tval, coef, base)
    assert got.tolist() == shuffled[swant].tolist()


def test_a_seed_that_rejects_more_than_the_slack_is_still_exact():
    """Outputs are generated past the last call only for a few rejections; more need a second pass."""
    name, mod = "python.random.randrange", (1 << 31) + 1  # rejects about half of all 32-bit draws
    seeds = np.arange(256, dtype=np.uint64)
    draws = hypothesis_draws(name, seeds, np.arange(40), 0, 0, mod)
    for row in range(0, 256, 17):
        assert draws[row].tolist() == runtimes.draws(name, row, 40, mod)


def test_glibc_outputs_are_a_linear_map_of_the_seeded_words():
    coef = kernels.glibc_coefficients(5)
    gen = runtimes.GlibcRandom(12345)
    # The seeded words, before the 310 discards (Schrage's 16807 steps; the seed is positive).
    seeded = [12345]
    w = 12345
    for _ in range(30):
        hi = w // 127773
        w = 16807 * (w - hi * 127773) - 2836 * hi
        w += 2147483647 if w < 0 else 0
        seeded.append(w)
    for k in range(5):
        assert gen.next() == (int(np.dot(coef[k].astype(object), seeded)) & 0xFFFFFFFF) >> 1


def test_names_seed_spaces_and_mods():
    assert runtimes.check_name("php.mt_rand") == "php.mt_rand"
    with pytest.raises(ConfigError, match="java.util.Random.nextInt"):
        runtimes.check_name("java.util.random")
    with pytest.raises(ConfigError, match="at most 2147483647 for java.util.Random.nextInt"):
        runtimes.check_mod("java.util.Random.nextInt", 1 << 31)
    with pytest.raises(ConfigError, match="at most 2147483648 for glibc.rand"):
        runtimes.check_mod("glibc.rand", (1 << 31) + 1)
    with pytest.raises(ConfigError, match="power of two"):
        runtimes.check_mod("python.random.getrandbits", 1000)
    assert runtimes.seed_limit("java.util.Random.nextInt") == 1 << 63
    assert runtimes.seed_limit("numpy.random.RandomState.randint") == 1 << 32


def test_match_probability_is_one_over_mod_for_rejection_loops_and_more_for_modulo_bias():
    assert runtimes.match_probability("java.util.Random.nextInt", 1000) == pytest.approx(1e-3, rel=1e-12)
    biased = runtimes.match_probability("glibc.rand", 3 << 29)  # 2^31 % (1.5 * 2^30): half the values twice as likely
    assert biased == pytest.approx((2**29 * 2**2 + 2**30 * 1) / 2**62)
    assert biased > 1 / (3 << 29)
    # Exact sums over small ranges.
    for lo, hi, m in [(0, 9, 3), (1, 10, 4), (1, 2147483646, 7)]:
        if hi - lo < 100:
            counts = np.bincount(np.arange(lo, hi + 1) % m, minlength=m)
            assert runtimes._modulo_collision(lo, hi, m) == pytest.approx((counts**2).sum() / (hi - lo + 1) ** 2)


def test_draws_of_an_os_random_seed_are_reproduced():
    seed = int.from_bytes(os.urandom(8), "little")
    got = real_runtimes.java_next_int([(seed, 0, 1000, 30)])[0]
    assert runtimes.draws("java.util.Random.nextInt", seed, 30, 1000) == got
