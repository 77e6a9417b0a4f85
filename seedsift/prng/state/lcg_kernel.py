"""numba kernel of java.util.Random's bounded search (seedsift.prng.state.lcg)."""

# First: it sets the CPU target numba compiles for (seedsift/prng/cpu_target.py).
from seedsift.prng import cpu_target  # noqa: F401  # isort: skip

import numpy as np
from numba import njit, prange

BLOCK_BITS = 16  # states per parallel block (a block never spans two values of q; see lcg._run_search)
CAP = 4  # hits kept per block; more are counted


@njit(inline="always")
def _read(s, kind, top, sh, invm, m):
    # The draw a state gives: its top bits, or (s >> shift) % m with a float reciprocal (exact after the fix-up).
    if kind == 1:
        return np.int64(s >> top)
    r = np.int64(s >> sh)
    v = r - np.int64(r * invm) * m
    if v < 0:
        v += m
    elif v >= m:
        v -= m
    return v


@njit(parallel=True, cache=True)
def search(b0, qs, nq, ls, nl_bits, A, C, draws, kind, shift, mod, k):
    # States s0 = (b0 + q * qs + l * ls) mod 2^48 for q < nq, l < 2^nl_bits, kept when every draw j
    # agrees with the state A[j] * s0 + C[j] (A[0] = 1, C[0] = 0). Per block of 2^16 states, a tight
    # pass tests draw 0 (it vectorises), then the few that pass are tested on the others.
    mask = np.uint64((1 << 48) - 1)
    total = nq << nl_bits
    nblocks = (total + (1 << BLOCK_BITS) - 1) >> BLOCK_BITS
    found = np.zeros((nblocks, CAP), np.uint64)
    counts = np.zeros(nblocks, np.int64)
    lmask = np.int64((1 << nl_bits) - 1)
    invm = 1.0 / mod
    m = np.int64(mod)
    top = np.uint64(48 - k)
    sh = np.uint64(shift)
    d0 = draws[0]
    n = draws.size
    for bi in prange(nblocks):
        lo = bi << BLOCK_BITS
        hi = min(lo + (1 << BLOCK_BITS), total)
        q = np.uint64(lo >> nl_bits)
        base = (b0 + q * qs) & mask
        first = np.uint64(lo & lmask)
        width = hi - lo
        hit = np.empty(width, np.bool_)
        for i in range(width):
            s0 = (base + (first + np.uint64(i)) * ls) & mask
            hit[i] = _read(s0, kind, top, sh, invm, m) == d0
        for i in range(width):
            if not hit[i]:
                continue
            s0 = (base + (first + np.uint64(i)) * ls) & mask
            ok = True
            for j in range(1, n):
                s = (A[j] * s0 + C[j]) & mask
                if _read(s, kind, top, sh, invm, m) != draws[j]:
                    ok = False
                    break
            if ok:
                c = counts[bi]
                if c < CAP:
                    found[bi, c] = s0
                counts[bi] = c + 1
    return found, counts
