"""numba kernels of the GF(2) elimination (seedsift.prng.state.gf2): bit-packed rows, reduced in order."""

# First: it sets the CPU target numba compiles for (seedsift/prng/cpu_target.py).
from seedsift.prng import cpu_target  # noqa: F401  # isort: skip

import numpy as np
from numba import njit


@njit(inline="always")
def _lowest(word):
    # index of the lowest set bit of a non-zero uint64
    i = 0
    while (word >> np.uint64(i)) & np.uint64(1) == np.uint64(0):
        i += 1
    return i


@njit(cache=True)
def online(rows, nvars, per, target, stop, basis, has, rank):
    # Elimination in row order, continuing ``basis``/``has`` of rank ``rank``: each row is reduced by
    # the basis rows of its lowest set bits and kept as the basis row of the first bit that has none.
    # Rows of early draws are sparse, which keeps this fast. Returns (rank, contradictions, rank after
    # each group of ``per`` rows, groups after which the rank first reached ``target`` or -1).
    n_rows, width = rows.shape
    var_width = (nvars + 63) >> 6
    last_bits = np.uint64(nvars & 63)
    profile = np.zeros(n_rows // per, np.int64)
    contradictions, reached = 0, -1
    row = np.empty(width, np.uint64)
    for r in range(n_rows):
        for v in range(width):
            row[v] = rows[r, v]
        kept = False
        w = 0
        while w < var_width:
            word = row[w]
            if w == var_width - 1 and last_bits:
                word &= (np.uint64(1) << last_bits) - np.uint64(1)
            if word == 0:
                w += 1
                continue
            c = w * 64 + _lowest(word)
            if has[c]:
                for v in range(w, width):
                    row[v] ^= basis[c, v]
            else:
                for v in range(width):
                    basis[c, v] = row[v]
                has[c] = True
                rank += 1
                kept = True
                break
        if not kept:
            rhs = (row[nvars >> 6] >> np.uint64(nvars & 63)) & np.uint64(1)
            if rhs:
                contradictions += 1
        if (r + 1) % per == 0:
            g = (r + 1) // per
            profile[g - 1] = rank
            if reached < 0 and rank >= target:
                reached = g
                if stop:
                    return rank, contradictions, profile[:g], reached
    return rank, contradictions, profile, reached


@njit(cache=True)
def _parity(row, x, width):
    acc = np.uint64(0)
    for w in range(width):
        acc ^= row[w] & x[w]
    acc ^= acc >> np.uint64(32)
    acc ^= acc >> np.uint64(16)
    acc ^= acc >> np.uint64(8)
    acc ^= acc >> np.uint64(4)
    acc ^= acc >> np.uint64(2)
    acc ^= acc >> np.uint64(1)
    return acc & np.uint64(1)


@njit(cache=True)
def back_substitute(basis, has, x, nvars, with_rhs):
    # Fill the pivot variables of x (free ones already set), highest pivot first: a basis row's other
    # bits are all above its pivot.
    var_width = (nvars + 63) >> 6
    rhs_word, rhs_bit = nvars >> 6, np.uint64(1) << np.uint64(nvars & 63)
    for c in range(nvars - 1, -1, -1):
        if not has[c]:
            continue
        word, bit = c >> 6, np.uint64(1) << np.uint64(c & 63)
        x[word] &= ~bit
        v = _parity(basis[c], x, var_width)
        if with_rhs and (basis[c, rhs_word] & rhs_bit):
            v ^= np.uint64(1)
        if v:
            x[word] |= bit
    return x
