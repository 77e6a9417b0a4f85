"""Linear algebra over GF(2), bit-packed, and the generators that are linear over it.

A linear generator's raw output bits are XORs of its initial state bits. Each symbolic word here
is a (32, W) uint64 array: row ``b`` is the bit vector (over the ``nvars`` unknown state bits,
packed 64 per word, least significant first) whose XOR is bit ``b`` of the word. Observed output
bits give equations ``row . x = value``; :func:`solve` brings them to echelon form with a numba
kernel and returns one solution, the null space and whether the system is consistent.

Generators: MT19937 (the state at the first draw as the 624 words x_0..x_623 whose tempering
gives outputs 0..623, with the standard or PHP 5.2.1-7.0 twist), Marsaglia's xorshift128 and
xorshift32. All three are linear in their state, tempering and twist included. The numba
kernels are in :mod:`seedsift.prng.state.gf2_kernels` (imported when a system is solved).
"""

from dataclasses import dataclass

import numpy as np

U64 = np.uint64
ONE = np.uint64(1)


def words_for(nbits):
    """uint64 words that hold ``nbits`` bits."""
    return (nbits + 63) // 64


# -- symbolic words ------------------------------------------------------------------------------
def identity_words(nwords_state, width):
    """Symbolic 32-bit words 0..nwords_state-1 of the unknown state: word i bit b is variable 32 i + b."""
    sym = np.zeros((nwords_state, 32, width), dtype=U64)
    for i in range(nwords_state):
        for b in range(32):
            v = 32 * i + b
            sym[i, b, v >> 6] = ONE << U64(v & 63)
    return sym


def shl(y, s):
    """Symbolic ``y << s`` (32-bit): bit b comes from bit b - s."""
    out = np.zeros_like(y)
    out[s:] = y[: 32 - s]
    return out


def shr(y, s):
    """Symbolic ``y >> s``: bit b comes from bit b + s."""
    out = np.zeros_like(y)
    out[: 32 - s] = y[s:]
    return out


def rows_of(mask):
    """Bit positions set in a 32-bit constant."""
    return [b for b in range(32) if (mask >> b) & 1]


def band(y, mask):
    """Symbolic ``y & mask`` for a constant mask."""
    out = np.zeros_like(y)
    keep = rows_of(mask)
    out[keep] = y[keep]
    return out


_TEMPER_B = 0x9D2C5680
_TEMPER_C = 0xEFC60000
_MT_A = 0x9908B0DF
_MT_A_ROWS = rows_of(_MT_A)


def temper(y):
    """Symbolic MT19937 tempering."""
    y = y ^ shr(y, 11)
    y = y ^ band(shl(y, 7), _TEMPER_B)
    y = y ^ band(shl(y, 15), _TEMPER_C)
    return y ^ shr(y, 18)


class SymbolicMT:
    """MT19937 outputs in order, as symbolic words over x_0..x_623 (19,968 unknowns)."""

    nvars = 624 * 32
    draw0_only = tuple(range(31))  # x_0's low 31 bits reach output 0 only (not with the PHP legacy twist's bit 0)

    def __init__(self, legacy=False):
        self.legacy = legacy
        self.width = words_for(self.nvars)
        self.buf = identity_words(624, self.width)
        self.next_word = 624  # index of the next word the recurrence makes
        if legacy:
            self.draw0_only = tuple(range(1, 31))

    def _extend(self):
        n = self.next_word
        u = self.buf[(n - 624) % 624]
        v = self.buf[(n - 623) % 624]
        new = self.buf[(n - 227) % 624].copy()
        # y = upper bit of u | lower 31 bits of v; new ^= y >> 1 ^ (odd ? A : 0)
        new[0:30] ^= v[1:31]
        new[30] ^= u[31]
        odd = (u if self.legacy else v)[0]
        new[_MT_A_ROWS] ^= odd
        self.buf[n % 624] = new
        self.next_word += 1

    def output(self, n):
        """Symbolic raw output n (outputs must be asked for in increasing order)."""
        while self.next_word <= n:
            self._extend()
        if n < self.next_word - 624:
            raise ValueError(f"output {n} is no longer held (outputs must be asked for in increasing order)")
        return temper(self.buf[n % 624])


class SymbolicXorshift128:
    """Marsaglia's xorshift128 over its state (x, y, z, w) at the first draw (128 unknowns)."""

    nvars = 128
    draw0_only = ()

    def __init__(self):
        self.width = words_for(self.nvars)
        self.x, self.y, self.z, self.w = identity_words(4, self.width)
        self.done = 0  # outputs made so far
        self.last = None

    def output(self, n):
        while self.done <= n:
            t = self.x ^ shl(self.x, 11)
            self.x, self.y, self.z = self.y, self.z, self.w
            self.w = self.w ^ shr(self.w, 19) ^ t ^ shr(t, 8)
            self.done += 1
            self.last = self.w
        if n != self.done - 1:
            raise ValueError("xorshift128 outputs must be asked for in increasing order")
        return self.last


class SymbolicXorshift32:
    """Marsaglia's xorshift32 (13/17/5) over its 32-bit state at the first draw."""

    nvars = 32
    draw0_only = ()

    def __init__(self):
        self.width = words_for(self.nvars)
        self.s = identity_words(1, self.width)[0]
        self.done = 0
        self.last = None

    def output(self, n):
        while self.done <= n:
            s = self.s
            s = s ^ shl(s, 13)
            s = s ^ shr(s, 17)
            s = s ^ shl(s, 5)
            self.s = s
            self.done += 1
            self.last = s
        if n != self.done - 1:
            raise ValueError("xorshift32 outputs must be asked for in increasing order")
        return self.last


# -- the equations -------------------------------------------------------------------------------
def equations(sym, outputs, values, shift, nbits):
    """Rows (R, W + 1) for ``nbits`` observed bits per output: bits [shift, shift + nbits) of raw
    output ``outputs[j]`` equal the low ``nbits`` bits of ``values[j]``; the right-hand side is
    the bit at column ``sym.nvars`` (the word after the variables when nvars is a multiple of 64)."""
    nvars = sym.nvars
    width = words_for(nvars + 1)
    rows = np.zeros((len(outputs) * nbits, width), dtype=U64)
    rhs_word, rhs_bit = nvars >> 6, ONE << U64(nvars & 63)
    r = 0
    for out, value in zip(outputs, values):
        word = sym.output(int(out))
        rows[r:r + nbits, : sym.width] = word[shift:shift + nbits]
        for i in range(nbits):
            if (int(value) >> i) & 1:
                rows[r + i, rhs_word] |= rhs_bit
        r += nbits
    return rows


# -- elimination ---------------------------------------------------------------------------------
@dataclass
class Solution:
    """One solution of a GF(2) system, its null space, and whether the system was consistent."""

    consistent: bool
    rank: int
    n_equations: int
    nvars: int
    x: np.ndarray  # uint64 words of one solution (free variables 0); None when inconsistent
    null: list  # uint64 word vectors spanning the null space (outside ``ignore``)
    free: int  # free variables outside ``ignore``
    contradictions: int  # equations that reduced to 0 = 1
    reached: int  # groups of equations (draws) after which the rank reached its target, -1 if never


def solve(rows, nvars, per=1, ignore=(), max_null=64):
    """Solve ``rows`` (R, W), right-hand side at column ``nvars``, taking the rows in order.

    ``ignore`` are variables no row involves (they stay 0 and are not counted as free); ``per``
    rows form one draw, for ``reached``: the draws after which the rank was full. The null space is
    returned when it has at most ``max_null`` dimensions.
    """
    target = nvars - len(ignore)
    from seedsift.prng.state.gf2_kernels import back_substitute, online

    basis = np.zeros((nvars, rows.shape[1]), dtype=U64)
    has = np.zeros(nvars, dtype=np.bool_)
    rank, contradictions, _, reached = online(rows, nvars, per, target, False, basis, has, 0)
    free = target - rank
    if contradictions:
        return Solution(False, rank, rows.shape[0], nvars, None, [], free, contradictions, reached)
    var_width = words_for(nvars)
    x = back_substitute(basis, has, np.zeros(var_width, dtype=U64), nvars, True)
    null = []
    if 0 < free <= max_null:
        skip = set(ignore)
        for f in np.nonzero(~has)[0].tolist():
            if f in skip:
                continue
            v = np.zeros(var_width, dtype=U64)
            v[f >> 6] = ONE << U64(f & 63)
            null.append(back_substitute(basis, has, v, nvars, False))
    return Solution(True, rank, rows.shape[0], nvars, x, null, free, 0, reached)


def draws_to_full_rank(sym, calls, shift, nbits, target, chunk=2048):
    """Draws (at ``calls``, in order) after which bits [shift, shift + nbits) of the outputs of a
    symbolic generator give equations of rank ``target`` (-1 if ``calls`` run out first). The
    left-hand sides do not depend on the data, so this is a property of the readout."""
    from seedsift.prng.state.gf2_kernels import online

    width = words_for(sym.nvars + 1)
    basis = np.zeros((sym.nvars, width), dtype=U64)
    has = np.zeros(sym.nvars, dtype=np.bool_)
    rank = 0
    for lo in range(0, len(calls), chunk):
        part = calls[lo:lo + chunk]
        rows = equations(sym, part, np.zeros(len(part), dtype=np.int64), shift, nbits)
        rank, _, _, reached = online(rows, sym.nvars, nbits, target, True, basis, has, rank)
        if reached >= 0:
            return lo + int(reached)
    return -1


def as_words32(x, nwords):
    """A solution's uint64 words as ``nwords`` 32-bit state words (variable 32 i + b = word i bit b)."""
    return [int(w) for w in np.ascontiguousarray(x).view(np.uint32)[:nwords]]
