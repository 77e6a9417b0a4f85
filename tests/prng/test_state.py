"""State recovery against the real runtimes: seeds from os.urandom (64-bit longs for the JVM), the
recovered state predicts the runtime's next 100 draws exactly, random draws give no state, and
every refusal is one line naming the call, the method, what it needs and what it was given."""

import os
import random

import numpy as np
import pytest

from seedsift.prng import families, runtimes
from seedsift.prng import state as st
from seedsift.prng.state import gf2, lcg, mt_needed, needed

import real_runtimes

AHEAD = 100


def _urandom(bits):
    return int.from_bytes(os.urandom(8), "little") & ((1 << bits) - 1)


def _split(calls, skip, n):
    """(the first n draws at every (skip + 1)-th call, the AHEAD draws after them)."""
    draws = calls[:: skip + 1]
    return draws[:n], draws[n:n + AHEAD]


def _predict(rec, n, skip):
    calls = [j * (skip + 1) for j in range(n, n + AHEAD)]
    return [st.state_draws(rec.prng, s, rec.mod, calls) for s in rec.states]


def _java_rejected(seed, mod, calls):
    """Whether one of the first ``calls`` nextInt(mod) calls of new Random(seed) rejected an output."""
    gen, plain = runtimes.JavaLCG(seed), runtimes.JavaLCG(seed)
    draw = runtimes.call_on("java.util.Random.nextInt", gen, mod)
    for _ in range(calls):
        draw()
        plain.next_bits(31)
    return gen.state != plain.state


def _check(rec, n, skip, ahead):
    assert rec.outcome == "unique" and len(rec.states) == 1, rec.statement
    assert _predict(rec, n, skip) == [ahead], rec.statement
    assert f"training part has {rec.draws_given:,}" in rec.statement


# The four branches of the Java method: lift + search (1000, 52), the top bits of a power of two
# (2^20: 2^28 states to try, 2^30: 2^18), an odd mod (1,000,003: 2^28 states).
JAVA_MODS = [1000, 52, 1 << 20, 1 << 30, 1_000_003]


def test_java_state_from_the_jvm_predicts_its_next_draws():
    rng = random.SystemRandom()
    cases = [(mod, rng.randrange(3), _urandom(64)) for mod in JAVA_MODS]
    method = {mod: st.method_for("java.util.Random.nextInt", mod) for mod in JAVA_MODS}
    requests = [(seed, 0, mod, (method[mod].needed + 4 + AHEAD) * (skip + 1)) for mod, skip, seed in cases]
    for (mod, skip, seed), calls in zip(cases, real_runtimes.java_next_int(requests)):
        n = method[mod].needed + 4
        known, ahead = _split(calls, skip, n)
        rec = st.recover("java.util.Random.nextInt", known, mod, skip)
        if _java_rejected(seed, mod, (n - 1) * (skip + 1) + 1):
            # The search assumes one output per call (nextInt(1000003) rejects 2.2e-4 of them): a
            # rejection among the draws it reads gives no state, never a wrong one.
            assert rec.outcome == "none", rec.statement
            continue
        _check(rec, n, skip, ahead)
        assert rec.method.name == ("lift + search" if mod in (1000, 52) else "bounded search"), (mod, rec.method)
        # new Random(state ^ 0x5DEECE66D) starts in the recovered state: the JVM makes the same draws.
        same = real_runtimes.java_next_int([(rec.states[0]["words"][0] ^ lcg.MULT, 0, mod, len(calls))])[0]
        assert same == calls, (mod, skip, seed)


def test_java_nextint_1000_needs_few_draws():
    """nextInt(1000): the state from 8 draws (the lift pins the low 20 bits, 2^28 high bits are searched)."""
    m = st.method_for("java.util.Random.nextInt", 1000)
    assert m.needed <= 8 and m.generator == "java_lcg48"
    seed = _urandom(63)
    calls = runtimes.draws("java.util.Random.nextInt", seed, 8 + AHEAD, 1000)
    _check(st.recover("java.util.Random.nextInt", calls[:8], 1000), 8, 0, calls[8:])


def test_java_random_family_power_of_two_leaves_equal_states():
    """nextInt() % 2^16 reads state bits 16..31 only: 2^16 states fit, all with the same draws."""
    seed = _urandom(32)
    calls = runtimes.draws("java_random", seed, 10 + AHEAD, 1 << 16)
    rec = st.recover("java_random", calls[:10], 1 << 16)
    _check(rec, 10, 0, calls[10:])
    assert rec.consistent == "65536" and "all with the same draws" in rec.statement


def test_cpython_seeded_from_urandom_is_cloned_from_624_outputs():
    """random.Random() seeds itself from os.urandom: 624 getrandbits(32) outputs clone it."""
    gen = random.Random()
    calls = [gen.getrandbits(32) for _ in range(625 + AHEAD)]
    rec = st.recover("python.random.getrandbits", calls[:625], 1 << 32)
    assert rec.method.name == "untemper and clone" and rec.method.needed == 625
    _check(rec, 625, 0, calls[625:])


def test_cpython_getrandbits_16_by_elimination():
    gen = random.Random(_urandom(64))
    n = st.method_for("python.random.getrandbits", 1 << 16).needed
    assert n >= mt_needed.NEEDED[("standard", "top", 16)] == 1248  # 1249: fewer than 0.01 states by chance
    calls = [gen.getrandbits(16) for _ in range(n + AHEAD)]
    rec = st.recover("python.random.getrandbits", calls[:n], 1 << 16)
    assert rec.method.name == "GF(2) elimination"
    _check(rec, n, 0, calls[n:])
    assert rec.detail["pinned_after_draws"] <= n


def test_gxx_mt19937_raw_outputs_with_and_without_a_skip():
    """std::mt19937() from g++: untemper 624 consecutive outputs; every other output: elimination."""
    for skip in (0, 1):
        seed = _urandom(32)
        n = st.method_for("mt19937", 1 << 32).needed_for(skip) + 10  # 625 and 738: computed from the rank
        calls = real_runtimes.cpp_raw_mod("mt19937", [(seed, 0, 1 << 32, (n + AHEAD) * (skip + 1))])[0]
        known, ahead = _split(calls, skip, n)
        rec = st.recover("mt19937", known, 1 << 32, skip)
        assert rec.method.name == ("untemper and clone" if skip == 0 else "GF(2) elimination")
        _check(rec, n, skip, ahead)
        assert rec.detail["equations"] == (0 if skip == 0 else (rec.draws_used - 1) * 32)


def test_numpy_and_php_low_bits_by_elimination():
    """numpy randint(0, 2^16) (the low 16 bits) and PHP mt_rand() % 2^20 (bits 1..20)."""
    seed = _urandom(32)
    n = st.method_for("numpy.random.RandomState.randint", 1 << 16).needed
    calls = real_runtimes.numpy_randint([(seed, 0, 1 << 16, n + AHEAD)])[0]
    _check(st.recover("numpy.random.RandomState.randint", calls[:n], 1 << 16), n, 0, calls[n:])
    n = st.method_for("php.mt_rand.unbounded", 1 << 20).needed
    calls = real_runtimes.php_mt_rand("unbounded", [(seed, 0, 1 << 20, n + AHEAD)])[0]
    _check(st.recover("php.mt_rand.unbounded", calls[:n], 1 << 20), n, 0, calls[n:])


def test_xorshift_families_by_elimination():
    for name, mod in (("xorshift128", 1000), ("xorshift128", 1 << 32), ("xorshift32", 1000)):
        skip = random.SystemRandom().randrange(3)
        n = st.method_for(name, mod).needed
        calls = runtimes.draws(name, _urandom(32), (n + AHEAD) * (skip + 1), mod)
        known, ahead = _split(calls, skip, n)
        _check(st.recover(name, known, mod, skip), n, skip, ahead)


def test_random_draws_give_no_consistent_state():
    def draws(n, mod):
        return [int.from_bytes(os.urandom(8), "little") % mod for _ in range(n)]

    for name, mod, n in (("java.util.Random.nextInt", 1000, 16), ("java.util.Random.nextInt", 1 << 20, 8),
                         ("mt19937", 1 << 32, 700), ("xorshift128", 1000, 100), ("xorshift32", 1000, 40),
                         ("python.random.getrandbits", 1 << 16, 1300)):
        rec = st.recover(name, draws(n, mod), mod)
        assert rec.outcome == "none" and rec.states == [], (name, rec.statement)
        assert "no consistent state" in rec.statement
    rec = st.recover("xorshift128", draws(100, 1000), 1000)
    assert "inconsistent" in rec.statement and "reduce to 0 = 1" in rec.statement


def test_cpython_randrange_is_a_rejection_loop_in_the_real_cpython():
    """randrange(1024) draws 11 bits (k = n.bit_length()) and redraws half of them, so it is not
    getrandbits(10) and has no state method; getrandbits(10) has one."""
    seed = _urandom(64)
    a, b = random.Random(seed), random.Random(seed)
    ranged = [a.randrange(1024) for _ in range(200)]
    assert ranged == runtimes.draws("python.random.randrange", seed, 200, 1024)
    assert ranged != [b.getrandbits(10) for _ in range(200)]
    with pytest.raises(st.StateError, match=r"redraws while the value is >= n .*randrange\(1024\) half of its 11-bit"):
        st.method_for("python.random.randrange", 1024)
    assert st.method_for("python.random.getrandbits", 1024).name == "GF(2) elimination"


@pytest.mark.parametrize("prng,mod,n,words", [
    ("java.util.Random.nextInt", 1000, 5, ["java.util.Random.nextInt, lift + search", "needs >= 7", "has 5"]),
    ("mt19937", 1000, 600, ["mt19937, GF(2) elimination", "needs >= 6,853 consecutive draws", "has 600"]),
    ("python.random.getrandbits", 1 << 32, 624, ["untemper and clone", "needs >= 625", "has 624"]),
    ("xorshift128", 1 << 32, 4, ["xorshift128, GF(2) elimination", "needs >= 5", "has 4"]),
])
def test_too_few_draws_is_one_line_with_what_is_needed(prng, mod, n, words):
    with pytest.raises(st.StateError) as err:
        st.recover(prng, [0] * n, mod)
    text = str(err.value)
    assert "\n" not in text and all(w in text for w in words), text
    assert err.value.needed > n == err.value.given


@pytest.mark.parametrize("prng,mod,words", [
    ("java.util.Random.nextInt", 8, ["bounded search", "2^45.0 states", "given 8", "lattice"]),
    ("java.util.Random.nextInt", 999, ["odd mod 999", "given 999"]),
    ("mt19937", 999, ["GF(2) elimination", "odd mod 999", "given 999"]),
    ("numpy.random.RandomState.randint", 1000, ["redraws", "power of two", "given 1000"]),
    ("xoshiro128pp", 1000, ["no output bit is a linear function", "sieve.search: seeds"]),
    ("glibc.rand", 1000, ["not linear over GF(2)"]),
    ("pcg32", 1000, ["not linear"]),
    ("mt19937", 1, ["no information", "given 1"]),
])
def test_a_call_or_mod_without_a_method_is_refused(prng, mod, words):
    with pytest.raises(st.StateError) as err:
        st.method_for(prng, mod)
    assert str(err.value).startswith(prng) and all(w in str(err.value) for w in words), str(err.value)


# -- the pieces -------------------------------------------------------------------------------------
def _random_state_bits(nwords):
    return np.frombuffer(os.urandom(4 * nwords), dtype=np.uint32).astype(np.uint64)


def _apply(sym_word, words32):
    """Evaluate a symbolic word on a concrete state (bit b of the word = parity of row b & state)."""
    packed = np.zeros(sym_word.shape[1], dtype=np.uint64)
    flat = np.zeros(sym_word.shape[1] * 2, dtype=np.uint32)
    flat[: len(words32)] = words32
    packed[:] = flat.view(np.uint64)
    out = 0
    for b in range(32):
        v = np.bitwise_and(sym_word[b], packed)
        parity = sum(bin(int(w)).count("1") for w in v) & 1
        out |= parity << b
    return out


@pytest.mark.parametrize("legacy", [False, True])
def test_symbolic_mt_is_the_real_mt(legacy):
    words = [int(w) for w in _random_state_bits(624)]
    gen = runtimes.MT(words, legacy=legacy)
    gen.index = 0
    real = [gen.next() for _ in range(1300)]
    sym = gf2.SymbolicMT(legacy=legacy)
    for n in (0, 1, 623, 624, 700, 1247, 1299):
        assert _apply(sym.output(n), words) == real[n], n


def test_symbolic_xorshift128_is_the_reference():
    words = [int(w) for w in _random_state_bits(4)]
    gen = families.Xorshift128(0)
    gen.x, gen.y, gen.z, gen.w = words
    real = [gen.next() for _ in range(40)]
    sym = gf2.SymbolicXorshift128()
    assert [_apply(sym.output(n), words) for n in range(40)] == real


def test_gf2_solve_matches_brute_force():
    rng = np.random.default_rng(int.from_bytes(os.urandom(4), "little"))
    nvars = 12
    for _ in range(20):
        n_rows = int(rng.integers(6, 20))
        a = rng.integers(0, 2, size=(n_rows, nvars))
        truth = rng.integers(0, 2, size=nvars)
        rhs = a @ truth % 2
        if rng.random() < 0.3:
            rhs[int(rng.integers(n_rows))] ^= 1
        rows = np.zeros((n_rows, 1), dtype=np.uint64)
        for i in range(n_rows):
            bits = sum(int(a[i, j]) << j for j in range(nvars)) | (int(rhs[i]) << nvars)
            rows[i, 0] = bits
        sol = gf2.solve(rows, nvars)
        every = [x for x in range(1 << nvars)
                 if all(bin(sum(int(a[i, j]) << j for j in range(nvars)) & x).count("1") % 2 == rhs[i]
                        for i in range(n_rows))]
        assert sol.consistent == bool(every)
        if every:
            assert 2 ** sol.free == len(every)
            x0 = int(sol.x[0])
            assert x0 in every
            span = {x0}
            for v in sol.null:
                span |= {s ^ int(v[0]) for s in span}
            assert span == set(every)


def test_the_table_of_draws_needed_is_what_the_rank_says():
    """Three entries recomputed (the cheap ones); the whole table: python -m seedsift.prng.state.needed."""
    for key in (("standard", "top", 32), ("standard", "low", 16), ("legacy", "top", 16)):
        assert needed.compute(*key) == mt_needed.NEEDED[key], key
    assert set(mt_needed.NEEDED) == set(needed.readouts())
    # Not bits per draw alone: the low output bits see the high state bits slowly.
    assert mt_needed.NEEDED[("standard", "low", 3)] > 19937 / 3 + 100
    assert mt_needed.NEEDED[("standard", "top", 8)] == -(-19937 // 8) + 1
