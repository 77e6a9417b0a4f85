"""The GPU kernels against the numba kernels, for every runtime call and raw family.

A backend (the CPU build of sieve.cu in the tests, CuPy on a GPU) must give exactly what the numba
kernels give: the draws themselves (``values``), stage 2's match counts per seed and slot, and
stage 1's surviving seeds of a seed range. The cases cover every call with mods whose rejection
loops fire often (so later draws shift), call indices at the start, past 226 (the end of the
stateless Mersenne Twister outputs), past 624 (twists), and seeds above 2^32 where a call takes them.
"""

import random

import numpy as np

from seedsift.prng import kernels, runtimes
from seedsift.prng.gpu import plan

# 600 rejects ~41% of CPython's 10-bit draws, 1024 is a power of two (the other branch of Java and
# PHP), 6 is a die, the large bounds reject about half of all outputs and 2^32 is the raw output.
MODS = (1000, 600, 1024, 6)
LARGE = {"java.util.Random.nextInt": (1 << 30) + 1, "glibc.rand": 1 << 31, "php.mt_rand.unbounded": 1 << 31,
         "php.mt_rand.unbounded.legacy": 1 << 31, "cpp.minstd_rand.uniform_int_distribution": (1 << 30) + 1}
CIDX = ((0,), (1, 2, 3, 5, 30), (2, 50, 226, 230), (1, 300, 700, 1300))


def mods(name):
    """The mods a call is checked with."""
    if name == "python.random.getrandbits":
        return (2, 1024, 1 << 20, 1 << 32)
    large = LARGE.get(name, (1 << 30) + 1)
    extra = [m for m in (large, 1 << 32) if m <= runtimes.mod_limit(name)]
    return MODS + tuple(extra)


def cases(names=None):
    """(call name, mod, call indices) of every check."""
    for name in names or runtimes.names():
        for mod in mods(name):
            for cidx in CIDX:
                yield name, mod, cidx


def _seeds(name, rng, n):
    limit = runtimes.seed_limit(name)
    fixed = [0, 1, 5489, (1 << 32) - 1]
    drawn = [rng.randrange(limit) if rng.random() < 0.5 else rng.randrange(min(limit, 1 << 32)) for _ in range(n)]
    return np.array(fixed + drawn, dtype=np.uint64)


def _targets(values, rng, nslots, rows=3):
    """Targets at every call index: the draws of ``rows`` seeds (so some match) and random values."""
    ncidx = values.shape[1]
    tpos, tval, tslot = [], [], []
    for t in range(ncidx):
        for row in rng.sample(range(values.shape[0]), min(rows, values.shape[0])):
            tpos.append(t)
            tval.append(int(values[row, t]))
            tslot.append(rng.randrange(nslots))
        tpos.append(t)
        tval.append(rng.randrange(1000))
        tslot.append(rng.randrange(nslots))
    return np.array(tpos, np.int64), np.array(tval, np.int64), np.array(tslot, np.int64)


def check_case(backend, name, mod, cidx, rng, n_seeds=32, n_range=512):
    """Mismatches of one case (an empty list when the backend agrees with numba everywhere)."""
    problems = []
    args = runtimes.kernel_args(name, mod, np.array(cidx, dtype=np.int64))
    call, cidx_, uidx, coef, base = args
    seeds = _seeds(name, rng, n_seeds)
    want = kernels.calls_at(call, seeds, cidx_, uidx, coef, base)
    got = backend.values(backend.prepare(plan.make(args)), seeds)
    if not np.array_equal(got, want):
        row = int(np.nonzero((got != want).any(axis=1))[0][0])
        problems.append(f"{name} mod {mod} calls {list(cidx)}: draws of seed {int(seeds[row])} are "
                        f"{got[row].tolist()}, numba {want[row].tolist()}")
    nslots = 3
    tpos, tval, tslot = _targets(want, rng, nslots)
    p2 = backend.prepare(plan.make(args, tpos, tval, tslot, nslots))
    got = backend.stage2(p2, seeds)
    want_counts = kernels.count_matches(call, np.uint64(0), 0, seeds, cidx_, uidx, tpos, tval, tslot, nslots, coef, base)
    if not np.array_equal(got, want_counts):
        problems.append(f"{name} mod {mod} calls {list(cidx)}: stage 2 counts differ")
    # Stage 1 over a range whose seeds include some that match: targets from seeds of that range.
    start = rng.randrange(max(1, min(runtimes.seed_limit(name), 1 << 40) - n_range))
    in_range = np.array([start + rng.randrange(n_range) for _ in range(4)], dtype=np.uint64)
    vals = kernels.calls_at(call, in_range, cidx_, uidx, coef, base)
    tpos, tval, _ = _targets(vals, rng, 1, rows=in_range.size)
    p1 = backend.prepare(plan.make(args, tpos, tval))
    got = np.asarray(backend.stage1(p1, start, n_range))
    empty = np.empty(0, dtype=np.uint64)
    want_seeds = kernels.candidates(call, np.uint64(start), n_range, empty, cidx_, uidx, tpos, tval, coef, base)
    if not np.array_equal(got, want_seeds):
        problems.append(f"{name} mod {mod} calls {list(cidx)}: stage 1 over [{start}, {start + n_range}) kept "
                        f"{got.size} seeds, numba {want_seeds.size}")
    elif not set(in_range.tolist()) <= set(got.tolist()):
        problems.append(f"{name} mod {mod} calls {list(cidx)}: stage 1 lost a seed whose own draws are targets")
    return problems


def check(backend, names=None, seed=0, **kw):
    """Every case of :func:`cases`; returns (number of cases, mismatches)."""
    rng = random.Random(seed)
    problems, n = [], 0
    for name, mod, cidx in cases(names):
        problems += check_case(backend, name, mod, cidx, rng, **kw)
        n += 1
    return n, problems
