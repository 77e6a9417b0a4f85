"""numba kernels: every family stepped in lock-step over blocks of LANES seeds.

One generation routine, :func:`_block_outputs`, produces the raw outputs of a block of
seeds at a sorted list of output indices; the public kernels compare them with draws
(:func:`count_matches`) or return them (:func:`outputs_at`). Blocks run in parallel with
``prange``; the lane loops vectorise.

numba widens uint32 arithmetic to 64 bits and can turn mixed uint64/int constants into
floats, so every 32-bit operation is re-cast and every constant is an explicit numpy integer.
"""

import numpy as np
from numba import njit, prange

LANES = 64
GROUP = 256  # blocks per parallel task: buffers are allocated once per group, not per block

U32 = np.uint32
U64 = np.uint64
MASK32 = np.uint64(0xFFFFFFFF)

MT19937, JAVA_RANDOM, MINSTD_RAND, MINSTD_RAND0 = 0, 1, 2, 3
XORSHIFT32, XORSHIFT128, PCG32, XOSHIRO128PP = 4, 5, 6, 7

MT_N = 624
MT_M = 397
MT_STATELESS_LIMIT = MT_N - MT_M  # outputs 0..226 need no twisted word

_JAVA_MULT = np.uint64(0x5DEECE66D)
_JAVA_ADD = np.uint64(0xB)
_JAVA_MASK = np.uint64((1 << 48) - 1)
_MINSTD_M = np.uint64(2147483647)
_PCG_MULT = np.uint64(6364136223846793005)
_PCG_INC = np.uint64(109)  # (54 << 1) | 1
_SM_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_SM_M1 = np.uint64(0xBF58476D1CE4E5B9)
_SM_M2 = np.uint64(0x94D049BB133111EB)


@njit(inline="always")
def _temper(y):
    y = U32(y ^ U32(y >> U32(11)))
    y = U32(y ^ U32(U32(y << U32(7)) & U32(0x9D2C5680)))
    y = U32(y ^ U32(U32(y << U32(15)) & U32(0xEFC60000)))
    return U32(y ^ U32(y >> U32(18)))


@njit(inline="always")
def _mt_chain(x, i):
    return U32(U32(U32(1812433253) * U32(x ^ U32(x >> U32(30)))) + U32(i))


@njit(inline="always")
def _mt_out(a, b, c):
    # Output from init words mt[k], mt[k+1], mt[k+397] (valid while k + 397 < 624).
    y = U32(U32(a & U32(0x80000000)) | U32(b & U32(0x7FFFFFFF)))
    mag = U32(0x9908B0DF) if (y & U32(1)) else U32(0)
    return _temper(U32(U32(c ^ U32(y >> U32(1))) ^ mag))


@njit(inline="always")
def _minstd_step(s, mult):
    x = U64(s * mult)
    r = U64((x & _MINSTD_M) + (x >> U64(31)))
    return r - _MINSTD_M if r >= _MINSTD_M else r


@njit(inline="always")
def _pcg_output(old):
    xs = U32(U64(U64(U64(old >> U64(18)) ^ old) >> U64(27)) & MASK32)
    rot = U32(old >> U64(59))
    return U32(U32(xs >> rot) | U32(xs << U32(U32(U32(0) - rot) & U32(31))))


@njit(inline="always")
def _splitmix(x):
    z = U64(x + _SM_GAMMA)
    r = U64(U64(z ^ U64(z >> U64(30))) * _SM_M1)
    r = U64(U64(r ^ U64(r >> U64(27))) * _SM_M2)
    return z, U64(r ^ U64(r >> U64(31)))


@njit(inline="always")
def _rotl32(x, k):
    return U32(U32(x << U32(k)) | U32(x >> U32(32 - k)))


@njit(inline="always")
def _init(fam, sl, st32, st64):
    """Seed every lane's state (st32 rows are 32-bit words, st64 rows 64-bit words)."""
    if fam == MT19937:
        for l in range(LANES):
            st32[0, l] = sl[l]
        for i in range(1, MT_N):
            for l in range(LANES):
                st32[i, l] = _mt_chain(st32[i - 1, l], i)
    elif fam == JAVA_RANDOM:
        for l in range(LANES):
            st64[0, l] = U64(U64(sl[l]) ^ _JAVA_MULT) & _JAVA_MASK
    elif fam == MINSTD_RAND or fam == MINSTD_RAND0:
        for l in range(LANES):
            s = U64(sl[l]) % _MINSTD_M
            st64[0, l] = s if s != U64(0) else U64(1)
    elif fam == XORSHIFT32:
        for l in range(LANES):
            st32[0, l] = sl[l]
    elif fam == XORSHIFT128:
        for l in range(LANES):
            st32[0, l] = sl[l]
            st32[1, l] = U32(362436069)
            st32[2, l] = U32(521288629)
            st32[3, l] = U32(88675123)
    elif fam == PCG32:
        for l in range(LANES):
            s = U64(U64(U64(0) * _PCG_MULT) + _PCG_INC)
            s = U64(s + U64(sl[l]))
            st64[0, l] = U64(U64(s * _PCG_MULT) + _PCG_INC)
    elif fam == XOSHIRO128PP:
        for l in range(LANES):
            x, a = _splitmix(U64(sl[l]))
            x, b = _splitmix(x)
            st32[0, l] = U32(a & MASK32)
            st32[1, l] = U32(a >> U64(32))
            st32[2, l] = U32(b & MASK32)
            st32[3, l] = U32(b >> U64(32))


@njit
def _mt_twist(st32):
    for i in range(MT_N):
        j = i + 1 if i + 1 < MT_N else 0
        k = i + MT_M if i + MT_M < MT_N else i + MT_M - MT_N
        for l in range(LANES):
            y = U32(U32(st32[i, l] & U32(0x80000000)) | U32(st32[j, l] & U32(0x7FFFFFFF)))
            mag = U32(0x9908B0DF) if (y & U32(1)) else U32(0)
            st32[i, l] = U32(U32(st32[k, l] ^ U32(y >> U32(1))) ^ mag)


@njit(inline="always")
def _next(fam, st32, st64, index, out):
    """Advance every lane by one output; ``index`` is the output number being produced."""
    if fam == MT19937:
        k = index % MT_N
        if k == 0:
            _mt_twist(st32)
        for l in range(LANES):
            out[l] = _temper(st32[k, l])
    elif fam == JAVA_RANDOM:
        for l in range(LANES):
            s = U64(U64(U64(st64[0, l] * _JAVA_MULT) + _JAVA_ADD) & _JAVA_MASK)
            st64[0, l] = s
            out[l] = U32(U64(s >> U64(16)) & MASK32)
    elif fam == MINSTD_RAND:
        for l in range(LANES):
            s = _minstd_step(st64[0, l], U64(48271))
            st64[0, l] = s
            out[l] = U32(s)
    elif fam == MINSTD_RAND0:
        for l in range(LANES):
            s = _minstd_step(st64[0, l], U64(16807))
            st64[0, l] = s
            out[l] = U32(s)
    elif fam == XORSHIFT32:
        for l in range(LANES):
            s = st32[0, l]
            s = U32(s ^ U32(s << U32(13)))
            s = U32(s ^ U32(s >> U32(17)))
            s = U32(s ^ U32(s << U32(5)))
            st32[0, l] = s
            out[l] = s
    elif fam == XORSHIFT128:
        for l in range(LANES):
            x = st32[0, l]
            t = U32(x ^ U32(x << U32(11)))
            w = st32[3, l]
            st32[0, l] = st32[1, l]
            st32[1, l] = st32[2, l]
            st32[2, l] = w
            w = U32(U32(w ^ U32(w >> U32(19))) ^ U32(t ^ U32(t >> U32(8))))
            st32[3, l] = w
            out[l] = w
    elif fam == PCG32:
        for l in range(LANES):
            old = st64[0, l]
            st64[0, l] = U64(U64(old * _PCG_MULT) + _PCG_INC)
            out[l] = _pcg_output(old)
    elif fam == XOSHIRO128PP:
        for l in range(LANES):
            s0 = st32[0, l]
            s1 = st32[1, l]
            s2 = st32[2, l]
            s3 = st32[3, l]
            out[l] = U32(_rotl32(U32(s0 + s3), 7) + s0)
            t = U32(s1 << U32(9))
            s2 = U32(s2 ^ s0)
            s3 = U32(s3 ^ s1)
            s1 = U32(s1 ^ s2)
            s0 = U32(s0 ^ s3)
            s2 = U32(s2 ^ t)
            st32[0, l] = s0
            st32[1, l] = s1
            st32[2, l] = s2
            st32[3, l] = _rotl32(s3, 11)


@njit
def _mt_need_map(uidx):
    """Rows of the init chain that the stateless MT path must keep, or -1."""
    top = uidx[-1] + MT_M + 1 if uidx.size else 0
    need = np.full(top, -1, np.int64)
    rows = 0
    for k in uidx:
        for i in (k, k + 1, k + MT_M):
            if need[i] < 0:
                need[i] = rows
                rows += 1
    return need, rows


@njit(inline="always")
def _block_outputs(fam, sl, uidx, res, st32, st64, out, need, cap):
    """Fill res[k, lane] with the raw output number uidx[k] (sorted, unique) of each lane."""
    if uidx.size == 0:
        return
    if fam == MT19937 and uidx[-1] < MT_STATELESS_LIMIT:
        # php_mt_seed's trick: outputs < 227 need only init words, no array, no twist.
        for l in range(LANES):
            out[l] = sl[l]
        if need[0] >= 0:
            for l in range(LANES):
                cap[need[0], l] = out[l]
        for i in range(1, need.size):
            for l in range(LANES):
                out[l] = _mt_chain(out[l], i)
            r = need[i]
            if r >= 0:
                for l in range(LANES):
                    cap[r, l] = out[l]
        for t in range(uidx.size):
            k = uidx[t]
            ra, rb, rc = need[k], need[k + 1], need[k + MT_M]
            for l in range(LANES):
                res[t, l] = _mt_out(cap[ra, l], cap[rb, l], cap[rc, l])
        return
    _init(fam, sl, st32, st64)
    t = 0
    for i in range(uidx[-1] + 1):
        _next(fam, st32, st64, i, out)
        if uidx[t] == i:
            for l in range(LANES):
                res[t, l] = out[l]
            t += 1


@njit(inline="always")
def _residue(a, inv, modi):
    # a % mod via a double reciprocal: exact after one correction for a < 2^32.
    x = np.int64(a)
    r = x - np.int64(np.float64(x) * inv) * modi
    if r < 0:
        r += modi
    elif r >= modi:
        r -= modi
    return r


@njit(inline="always")
def _lanes(seeds, start, lo, count, sl):
    if seeds.size:
        for l in range(LANES):
            sl[l] = seeds[lo + l] if l < count else U32(0)
    else:
        base = U32(start + lo)
        for l in range(LANES):
            sl[l] = U32(base + U32(l))


@njit(parallel=True, cache=True)
def count_matches(fam, start, n, seeds, uidx, tpos, tval, tslot, nslots, mod):
    """Per seed and slot, how many targets match: counts[seed, slot] (uint16).

    Seeds are ``seeds`` when it is non-empty, else the range [start, start + n).
    Target t compares output number uidx[tpos[t]] % mod with tval[t] and adds to slot tslot[t].
    """
    if seeds.size:
        n = seeds.size
    counts = np.zeros((n, nslots), np.uint16)
    nblk = (n + LANES - 1) // LANES
    inv = 1.0 / np.float64(mod)
    modi = np.int64(mod)
    need, rows = _mt_need_map(uidx)
    nwords = MT_N if fam == MT19937 else 4
    for g in prange((nblk + GROUP - 1) // GROUP):
        sl = np.empty(LANES, np.uint32)
        res = np.empty((max(uidx.size, 1), LANES), np.uint32)
        st32 = np.empty((nwords, LANES), np.uint32)
        st64 = np.empty((1, LANES), np.uint64)
        out = np.empty(LANES, np.uint32)
        cap = np.empty((max(rows, 1), LANES), np.uint32)
        acc = np.empty((nslots, LANES), np.uint16)
        for b in range(g * GROUP, min(nblk, (g + 1) * GROUP)):
            lo = b * LANES
            count = min(LANES, n - lo)
            _lanes(seeds, start, lo, count, sl)
            _block_outputs(fam, sl, uidx, res, st32, st64, out, need, cap)
            acc[:] = 0
            for t in range(tpos.size):
                p = tpos[t]
                d = tval[t]
                s = tslot[t]
                for l in range(LANES):
                    acc[s, l] += U32(_residue(res[p, l], inv, modi) == d)
            for l in range(count):
                for s in range(nslots):
                    counts[lo + l, s] = acc[s, l]
    return counts


@njit(parallel=True, cache=True)
def any_match(fam, start, n, seeds, uidx, tpos, tval, mod):
    """Stage-1 filter: 1 where any target matches, else 0 (uint8 per seed)."""
    if seeds.size:
        n = seeds.size
    hit = np.zeros(n, np.uint8)
    nblk = (n + LANES - 1) // LANES
    inv = 1.0 / np.float64(mod)
    modi = np.int64(mod)
    need, rows = _mt_need_map(uidx)
    nwords = MT_N if fam == MT19937 else 4
    for g in prange((nblk + GROUP - 1) // GROUP):
        sl = np.empty(LANES, np.uint32)
        res = np.empty((max(uidx.size, 1), LANES), np.uint32)
        st32 = np.empty((nwords, LANES), np.uint32)
        st64 = np.empty((1, LANES), np.uint64)
        out = np.empty(LANES, np.uint32)
        cap = np.empty((max(rows, 1), LANES), np.uint32)
        h = np.empty(LANES, np.uint32)
        for b in range(g * GROUP, min(nblk, (g + 1) * GROUP)):
            lo = b * LANES
            count = min(LANES, n - lo)
            _lanes(seeds, start, lo, count, sl)
            _block_outputs(fam, sl, uidx, res, st32, st64, out, need, cap)
            h[:] = 0
            for t in range(tpos.size):
                p = tpos[t]
                d = tval[t]
                for l in range(LANES):
                    h[l] = U32(h[l] | U32(_residue(res[p, l], inv, modi) == d))
            for l in range(count):
                hit[lo + l] = np.uint8(h[l])
    return hit


@njit(parallel=True, cache=True)
def compact(hit, start):
    """Seeds start + i (uint32) of the non-zero ``hit`` entries, in order: a parallel np.nonzero."""
    n = hit.size
    parts = max(1, min(256, n // 65536))
    step = (n + parts - 1) // parts
    counts = np.zeros(parts, np.int64)
    for p in prange(parts):
        c = 0
        for i in range(p * step, min(n, (p + 1) * step)):
            c += hit[i] != 0
        counts[p] = c
    offsets = np.zeros(parts + 1, np.int64)
    for p in range(parts):
        offsets[p + 1] = offsets[p] + counts[p]
    out = np.empty(offsets[parts], np.uint32)
    for p in prange(parts):
        j = offsets[p]
        for i in range(p * step, min(n, (p + 1) * step)):
            if hit[i] != 0:
                out[j] = U32(start + i)
                j += 1
    return out


@njit(parallel=True, cache=True)
def outputs_at(fam, seeds, uidx, mod):
    """Outputs of every seed at the sorted, unique output numbers uidx: (n, len(uidx)) int64.

    With ``mod`` 0 the raw 32-bit outputs, else the draws ``output % mod``.
    """
    n = seeds.size
    result = np.empty((n, uidx.size), np.int64)
    nblk = (n + LANES - 1) // LANES
    need, rows = _mt_need_map(uidx)
    nwords = MT_N if fam == MT19937 else 4
    inv = 1.0 / np.float64(mod) if mod else 0.0
    modi = np.int64(mod)
    for g in prange((nblk + GROUP - 1) // GROUP):
        sl = np.empty(LANES, np.uint32)
        res = np.empty((max(uidx.size, 1), LANES), np.uint32)
        st32 = np.empty((nwords, LANES), np.uint32)
        st64 = np.empty((1, LANES), np.uint64)
        out = np.empty(LANES, np.uint32)
        cap = np.empty((max(rows, 1), LANES), np.uint32)
        for b in range(g * GROUP, min(nblk, (g + 1) * GROUP)):
            lo = b * LANES
            count = min(LANES, n - lo)
            _lanes(seeds, 0, lo, count, sl)
            _block_outputs(fam, sl, uidx, res, st32, st64, out, need, cap)
            for l in range(count):
                if modi:
                    for k in range(uidx.size):
                        result[lo + l, k] = _residue(res[k, l], inv, modi)
                else:
                    for k in range(uidx.size):
                        result[lo + l, k] = res[k, l]
    return result
