"""Reference PRNG families: readable scalar implementations of the standard algorithms.

Every family produces raw 32-bit outputs; a draw is ``output % mod``. These classes are
the ground truth that the numba kernels in :mod:`seedsift.prng.kernels` are tested against.

Skip convention (one convention everywhere): counting outputs from the first one after
seeding as output 0, history draw ``j`` (0-based over the whole history) is output number
``burn + j * (skip + 1)``.
"""

from seedsift.errors import ConfigError

M32 = 0xFFFFFFFF
M64 = 0xFFFFFFFFFFFFFFFF


def init_genrand(seed):
    """MT19937's 624 words after init_genrand(seed)."""
    mt = [0] * 624
    mt[0] = seed & M32
    for i in range(1, 624):
        mt[i] = (1812433253 * (mt[i - 1] ^ (mt[i - 1] >> 30)) + i) & M32
    return mt


class MT:
    """MT19937 from an initial state; ``legacy`` twists as PHP 5.2.1-7.0 did (``loBit(u)``, php mt_rand.c)."""

    def __init__(self, state, legacy=False):
        self.mt = list(state)
        self.index = 624
        self.legacy = legacy

    def _twist(self):
        mt = self.mt
        for i in range(624):
            u, v = mt[i], mt[(i + 1) % 624]
            y = (u & 0x80000000) | (v & 0x7FFFFFFF)
            odd = (u if self.legacy else v) & 1
            mt[i] = mt[(i + 397) % 624] ^ (y >> 1) ^ (0x9908B0DF if odd else 0)
        self.index = 0

    def next(self):
        if self.index >= 624:
            self._twist()
        y = self.mt[self.index]
        self.index += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C5680
        y ^= (y << 15) & 0xEFC60000
        y ^= y >> 18
        return y & M32


class MT19937(MT):
    """std::mt19937 seeded with init_genrand(seed)."""

    def __init__(self, seed):
        super().__init__(init_genrand(seed))


class JavaRandom:
    """java.util.Random(seed) with its seed scramble; output = nextInt() as unsigned 32-bit."""

    MULT = 0x5DEECE66D
    MASK = (1 << 48) - 1

    def __init__(self, seed):
        self.state = (seed ^ self.MULT) & self.MASK

    def next(self):
        self.state = (self.state * self.MULT + 0xB) & self.MASK
        return (self.state >> 16) & M32


class _MinStd:
    MULT = 0

    def __init__(self, seed):
        # std::linear_congruential_engine maps a seed of 0 (mod m) to 1.
        state = seed % 2147483647
        self.state = state if state else 1

    def next(self):
        self.state = (self.state * self.MULT) % 2147483647
        return self.state


class MinstdRand(_MinStd):
    """std::minstd_rand (multiplier 48271, modulus 2^31-1)."""

    MULT = 48271


class MinstdRand0(_MinStd):
    """std::minstd_rand0 (multiplier 16807, modulus 2^31-1)."""

    MULT = 16807


class Xorshift32:
    """Marsaglia xorshift32 with shifts 13/17/5; the state is the seed."""

    def __init__(self, seed):
        self.state = seed & M32

    def next(self):
        s = self.state
        s ^= (s << 13) & M32
        s ^= s >> 17
        s ^= (s << 5) & M32
        self.state = s
        return s


class Xorshift128:
    """Marsaglia xorshift128: x = seed, y/z/w the paper's constants."""

    def __init__(self, seed):
        self.x, self.y, self.z, self.w = seed & M32, 362436069, 521288629, 88675123

    def next(self):
        t = (self.x ^ (self.x << 11)) & M32
        self.x, self.y, self.z = self.y, self.z, self.w
        self.w = (self.w ^ (self.w >> 19) ^ t ^ (t >> 8)) & M32
        return self.w


class PCG32:
    """PCG32 (XSH-RR 64/32), seeded as pcg32_srandom(seed, 54) from the reference code."""

    MULT = 6364136223846793005
    STREAM = 54

    def __init__(self, seed):
        self.inc = ((self.STREAM << 1) | 1) & M64
        self.state = 0
        self.next()
        self.state = (self.state + seed) & M64
        self.next()

    def next(self):
        old = self.state
        self.state = (old * self.MULT + self.inc) & M64
        xorshifted = (((old >> 18) ^ old) >> 27) & M32
        rot = old >> 59
        return ((xorshifted >> rot) | (xorshifted << ((-rot) & 31))) & M32


def splitmix64(state):
    """One splitmix64 step: returns (new_state, output)."""
    state = (state + 0x9E3779B97F4A7C15) & M64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return state, z ^ (z >> 31)


def _rotl32(x, k):
    return ((x << k) | (x >> (32 - k))) & M32


class Xoshiro128pp:
    """xoshiro128++ 1.0; the 128-bit state is two splitmix64 outputs of the seed (low word first)."""

    def __init__(self, seed):
        sm, a = splitmix64(seed & M64)
        sm, b = splitmix64(sm)
        self.s = [a & M32, a >> 32, b & M32, b >> 32]

    def next(self):
        s = self.s
        result = (_rotl32((s[0] + s[3]) & M32, 7) + s[0]) & M32
        t = (s[1] << 9) & M32
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = _rotl32(s[3], 11)
        return result


# Family name -> (reference class, kernel id). Kernel ids index the switch in seedsift.prng.kernels.
FAMILIES = {
    "mt19937": (MT19937, 0),
    "java_random": (JavaRandom, 1),
    "minstd_rand": (MinstdRand, 2),
    "minstd_rand0": (MinstdRand0, 3),
    "xorshift32": (Xorshift32, 4),
    "xorshift128": (Xorshift128, 5),
    "pcg32": (PCG32, 6),
    "xoshiro128pp": (Xoshiro128pp, 7),
}

SEED_LIMIT = 1 << 32
"""Seeds are unsigned 32-bit integers: the sieve searches ranges inside [0, 2^32)."""


def family_id(name):
    """Kernel id of a family; an unknown name lists the valid ones."""
    try:
        return FAMILIES[name][1]
    except KeyError:
        raise ConfigError("prng", name, sorted(FAMILIES)) from None


def generator(name, seed):
    """A fresh reference generator of family ``name`` seeded with ``seed``."""
    if name not in FAMILIES:
        family_id(name)
    return FAMILIES[name][0](int(seed))


def raw_outputs(name, seed, n):
    """The first ``n`` raw 32-bit outputs of a family after seeding."""
    gen = generator(name, seed)
    return [gen.next() for _ in range(n)]


def output_index(position, skip, burn):
    """Output number that history draw ``position`` comes from (the skip convention)."""
    return burn + position * (skip + 1)


def draws_at(name, seed, positions, skip, burn, mod):
    """Draws (output % mod) of one hypothesis at the given history positions."""
    wanted = sorted(set(output_index(p, skip, burn) for p in positions))
    values = {}
    gen = generator(name, seed)
    index = 0
    for target in wanted:
        while index < target:
            gen.next()
            index += 1
        values[target] = gen.next()
        index += 1
    return [values[output_index(p, skip, burn)] % mod for p in positions]
