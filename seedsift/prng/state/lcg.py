"""java.util.Random's 48-bit state from its draws: lifting the low bits, then a bounded search.

The generator is ``s <- (a * s + c) mod 2^48`` and a draw reads ``r = s >> shift`` of the new
state (``shift`` 17 for ``next(31)``, so nextInt(mod); 16 for the raw ``nextInt()`` of the
``java_random`` family). Jumping n calls ahead is the same kind of map, so draws at any known
call numbers (skips) work alike.

* ``r % mod`` with ``2^t`` dividing ``mod``: ``draw mod 2^t`` is bits ``shift .. shift + t - 1``
  of the state, which depend only on the state's low ``shift + t`` bits (a power-of-two modulus
  carries no higher bit down). The low bits are found first, one bit at a time: every candidate
  for the low ``b + 1`` bits is kept when bit ``b`` of each draw's state agrees (one bit of
  evidence per draw per level). Then the ``48 - shift - t`` high bits are searched against the
  full draws (2^28 states per low candidate for nextInt(1000)). When ``mod`` is a power of two
  the high bits never reach a draw: every value of them gives the same draws forever.
* Everything else (a power-of-two bound of nextInt, which reads the *top* bits; an odd mod) has
  no low bits to lift: the search runs over the states the first draw allows, ``2^48 / mod`` of
  them, where that is at most :data:`SEARCH_LIMIT`.
"""

from dataclasses import dataclass

import numpy as np

MULT = 0x5DEECE66D
ADD = 0xB
BITS = 48
MASK = (1 << BITS) - 1
# The largest bounded search run (states tried): about 10 s on 2 cores.
SEARCH_LIMIT = 1 << 32
# Candidates kept at most: more means the draws do not pin the state.
MAX_FOUND = 64
# Low-bit candidates whose high bits are searched at most (each costs one search of the high bits).
MAX_LOW = 64
_BLOCK_BITS = 16  # states per block of the search kernel (seedsift.prng.state.lcg_kernel)

KIND_MOD = 0  # draw = (s >> shift) % mod
KIND_TOP = 1  # draw = s >> (48 - k), mod = 2^k (nextInt's power-of-two branch)


def jump(n):
    """(A, C) with state_{k+n} = A * state_k + C (mod 2^48)."""
    A, C = 1, 0
    a, c = MULT, ADD
    while n:
        if n & 1:
            A, C = (a * A) & MASK, (a * C + c) & MASK
        a, c = (a * a) & MASK, (a * c + c) & MASK
        n >>= 1
    return A, C


@dataclass(frozen=True)
class Readout:
    """How a draw reads the state: ``shift`` and ``out_bits`` of ``r``, the kind, the mod."""

    shift: int
    out_bits: int
    kind: int
    mod: int

    @property
    def lift_bits(self):
        """Draw bits that depend only on low state bits (0 for the top-bits kind and odd mods)."""
        if self.kind == KIND_TOP:
            return 0
        t = (self.mod & -self.mod).bit_length() - 1
        return min(t, self.out_bits)

    @property
    def odd_part(self):
        return self.mod >> self.lift_bits if self.kind == KIND_MOD else self.mod

    @property
    def k(self):
        return self.mod.bit_length() - 1

    def draw(self, s):
        """The draw the state after a call gives."""
        if self.kind == KIND_TOP:
            return s >> (BITS - self.k)
        return (s >> self.shift) % self.mod

    def search_size(self):
        """States tried by the search: (how, count)."""
        t = self.lift_bits
        if t:
            high = BITS - self.shift - t
            return ("lift", 0 if self.odd_part == 1 else 1 << high)
        if self.kind == KIND_TOP:
            return ("top", 1 << (BITS - self.k))
        return ("first draw", (1 << BITS) // self.mod)


def lift(readout, draws, calls):
    """Candidates for the low ``shift + t`` bits of the state before call 0 (uint64 array)."""
    shift, t = readout.shift, readout.lift_bits
    jumps = [jump(c + 1) for c in calls]
    bits0 = shift + 1
    cand = np.arange(1 << bits0, dtype=np.uint64)
    for level in range(t):
        b = shift + level
        if level:
            cand = np.concatenate([cand, cand | np.uint64(1 << b)])
        for (A, C), d in zip(jumps, draws):
            if cand.size == 0:
                return cand
            want = np.uint64((d >> level) & 1)
            s = cand * np.uint64(A) + np.uint64(C)
            cand = cand[((s >> np.uint64(b)) & np.uint64(1)) == want]
    return np.sort(cand)


def _run_search(b0, qs, nq, ls, nl_bits, readout, draws, calls):
    """States after call 0 that reproduce every draw; (states, total found)."""
    assert nq == 1 or nl_bits >= _BLOCK_BITS, "a block of the search must not span two values of q"
    c0 = calls[0]
    rel = [jump(c - c0) for c in calls]
    A = np.array([a for a, _ in rel], dtype=np.uint64)
    C = np.array([c for _, c in rel], dtype=np.uint64)
    from seedsift.prng.state.lcg_kernel import CAP, search

    found, counts = search(np.uint64(b0), np.uint64(qs), np.int64(nq), np.uint64(ls), np.int64(nl_bits), A, C,
                            np.asarray(draws, dtype=np.int64), np.int64(readout.kind), np.int64(readout.shift),
                            np.int64(readout.mod), np.int64(readout.k if readout.kind == KIND_TOP else 0))
    hits = [int(found[b, j]) for b in np.nonzero(counts)[0].tolist() for j in range(min(int(counts[b]), CAP))]
    return hits, int(counts.sum())


@dataclass
class LcgResult:
    """States before call 0 consistent with the draws, and how they were found."""

    states: list  # representatives, at most MAX_FOUND
    consistent: int  # how many 48-bit states fit the draws
    continuations: int  # how many different draw sequences those states give
    tried: int  # states the search tried
    how: str


def recover(readout, draws, calls):
    """The states before call 0 (call numbers ``calls``, increasing, from 0) that give ``draws``."""
    draws = [int(d) for d in draws]
    how, size = readout.search_size()
    t = readout.lift_bits
    if t:
        low = lift(readout, draws, calls)
        L = readout.shift + t
        if readout.odd_part == 1:
            # The high bits never reach a draw: one representative (high bits 0) per low candidate.
            free = BITS - L
            reps = [int(v) for v in low[:MAX_FOUND]]
            return LcgResult(reps, int(low.size) << free, int(low.size), 1 << (readout.shift + 1), "lift")
        if low.size > MAX_LOW:
            # The low bits are not pinned: searching the high bits of each would cost too much.
            return LcgResult([], int(low.size) << (BITS - L), int(low.size), 1 << (readout.shift + 1), "lift")
        A0, C0 = jump(calls[0] + 1)
        states, total = [], 0
        for v in low.tolist():
            b0 = (A0 * v + C0) & MASK
            hits, n = _run_search(b0, 0, 1, (A0 << L) & MASK, BITS - L, readout, draws, calls)
            states += [back_from(h, calls[0]) for h in hits]
            total += n
        return LcgResult(states[:MAX_FOUND], total, total, int(low.size) << (BITS - L), "lift + search")
    if readout.kind == KIND_TOP:
        free = BITS - readout.k
        hits, total = _run_search(draws[0] << free, 0, 1, 1, free, readout, draws, calls)
    else:
        nq = -(-((1 << readout.out_bits) - draws[0]) // readout.mod)
        hits, total = _run_search(draws[0] << readout.shift, readout.mod << readout.shift, nq, 1, readout.shift,
                                  readout, draws, calls)
    states = [back_from(h, calls[0]) for h in hits]
    return LcgResult(states[:MAX_FOUND], total, total, size, how)


def back_from(s_after_call0, call0):
    """The state before call 0 from the state after call number ``call0``."""
    A, C = jump(call0 + 1)
    inv = pow(A, -1, 1 << BITS)
    return (inv * (s_after_call0 - C)) & MASK
