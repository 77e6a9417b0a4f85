"""Runtime calls: the bounded draws real programs make, as each runtime's own source makes them.

A runtime call is a generator, its seeding and the mapping from raw outputs to one draw in
``[low, low + mod)``, including rejection loops that consume a variable number of outputs. This
module is the readable reference (pure Python, one function per runtime, from the runtime's
source); the numba kernels in :mod:`seedsift.prng.kernels` are tested against it, and it is
tested against the real runtimes (a JVM, CPython, numpy, php-cli, g++ with libstdc++ and glibc).

Skip convention for runtime calls: history draw ``j`` is call number ``burn + j * (skip + 1)``
of the same call (``skip`` other calls that the history did not record between two draws).

The family names of :mod:`seedsift.prng.families` are runtime calls too: ``draw = low + output
% mod``, one output per call.
"""

from dataclasses import dataclass

import numpy as np

from seedsift.errors import ConfigError
from seedsift.prng import families
from seedsift.prng.families import M32, M64, MT, init_genrand

MASK48 = (1 << 48) - 1
# java.util.Random takes a long (and keeps its low 48 bits), CPython any int: their seeds are searched
# in [0, 2^63), which holds every timestamp in nanoseconds (JSON readers keep 64-bit signed integers).
SEED_LIMIT_64 = 1 << 63


# -- generators with their runtime's seeding ----------------------------------------------------
class JavaLCG:
    """java.util.Random: ``new Random(seed)`` scrambles the long seed; ``next(bits)`` (Random.java)."""

    MULT = 0x5DEECE66D

    def __init__(self, seed):
        self.state = (seed ^ self.MULT) & MASK48

    def next_bits(self, bits):
        self.state = (self.state * self.MULT + 0xB) & MASK48
        return self.state >> (48 - bits)


def cpython_init_by_array(key):
    """CPython's ``init_by_array`` (Modules/_randommodule.c), the state ``random.seed(int)`` makes."""
    mt = init_genrand(19650218)
    n = len(key)
    i, j = 1, 0
    for _ in range(max(624, n)):
        mt[i] = ((mt[i] ^ (((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1664525) & M32)) + key[j] + j) & M32
        i += 1
        j += 1
        if i >= 624:
            mt[0] = mt[623]
            i = 1
        if j >= n:
            j = 0
    for _ in range(623):
        mt[i] = ((mt[i] ^ (((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1566083941) & M32)) - i) & M32
        i += 1
        if i >= 624:
            mt[0] = mt[623]
            i = 1
    mt[0] = 0x80000000
    return mt


def cpython_key(seed):
    """The 32-bit words ``random.seed(seed)`` passes to init_by_array: abs(seed), least significant first."""
    n = abs(int(seed))
    words = max(1, (n.bit_length() + 31) // 32)
    return [(n >> (32 * k)) & M32 for k in range(words)]


class GlibcRandom:
    """glibc ``srand(seed); rand()``: the TYPE_3 additive generator of stdlib/random_r.c."""

    def __init__(self, seed):
        seed &= M32
        if seed == 0:
            seed = 1
        word = seed - (1 << 32) if seed >= 1 << 31 else seed  # the int32_t the C code holds
        r = [word]
        for _ in range(30):
            hi = _cdiv(word, 127773)
            lo = word - hi * 127773
            word = 16807 * lo - 2836 * hi
            if word < 0:
                word += 2147483647
            r.append(word)
        self.state = [w & M32 for w in r]
        self.f, self.r = 3, 0
        for _ in range(310):
            self.next()

    def next(self):
        """One ``random()`` value in [0, 2^31): the sum's top 31 bits."""
        s = self.state
        s[self.f] = (s[self.f] + s[self.r]) & M32
        out = s[self.f] >> 1
        self.f = (self.f + 1) % 31
        self.r = (self.r + 1) % 31
        return out


def _cdiv(a, b):
    # C integer division: truncates toward zero.
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


# -- the runtime calls ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Runtime:
    """One runtime call: what the program did, its seed space and the draws it can make."""

    name: str
    summary: str
    seed_limit: int  # seeds are integers in [0, seed_limit)
    mod_max: int  # largest mod the call can produce
    source: str  # where its seeding and mapping are read from


RUNTIMES = {r.name: r for r in (
    Runtime("java.util.Random.nextInt", "new Random(seed); low + nextInt(mod)", SEED_LIMIT_64, (1 << 31) - 1,
            "OpenJDK java/util/Random.java: Random(long), next(int), nextInt(int)"),
    Runtime("python.random.getrandbits", "random.seed(seed); low + getrandbits(k), mod = 2^k", SEED_LIMIT_64, 1 << 32,
            "CPython Modules/_randommodule.c: random_seed, init_by_array, _random_Random_getrandbits_impl"),
    Runtime("python.random.randrange", "random.seed(seed); randrange(low, low + mod)", SEED_LIMIT_64, (1 << 32) - 1,
            "CPython Lib/random.py: randrange, _randbelow_with_getrandbits"),
    Runtime("numpy.random.RandomState.randint", "RandomState(seed).randint(low, low + mod)", 1 << 32, 1 << 32,
            "numpy random/_mt19937.pyx _legacy_seeding; random/src/distributions/distributions.c "
            "random_bounded_uint64_fill (masked rejection)"),
    Runtime("php.mt_rand", "PHP 7.1+: mt_srand(seed); mt_rand(low, low + mod - 1)", 1 << 32, 1 << 32,
            "php-src ext/random/mt19937.c (ext/standard/mt_rand.c before 8.2): php_mt_initialize, "
            "php_mt_reload, rand_range32"),
    Runtime("php.mt_rand.legacy", "PHP 5.2.1-7.0: mt_srand(seed); mt_rand(low, low + mod - 1)", 1 << 32, 1 << 31,
            "php-src ext/standard/mt_rand.c (PHP 7.0): twist_php, RAND_RANGE_BADSCALING"),
    Runtime("php.mt_rand.unbounded", "PHP 7.1+: mt_srand(seed); low + mt_rand() (output >> 1)", 1 << 32, 1 << 31,
            "php-src: php_mt_rand() >> 1"),
    Runtime("php.mt_rand.unbounded.legacy", "PHP 5.2.1-7.0: mt_srand(seed); low + mt_rand()", 1 << 32, 1 << 31,
            "php-src ext/standard/mt_rand.c (PHP 7.0): twist_php, php_mt_rand() >> 1"),
    Runtime("glibc.rand", "srand(seed); low + rand() % mod", 1 << 32, 1 << 31,
            "glibc stdlib/random_r.c: __srandom_r, __random_r (TYPE_3)"),
    Runtime("cpp.mt19937.uniform_int_distribution",
            "std::uniform_int_distribution<int>(low, low + mod - 1) over std::mt19937(seed), libstdc++ (GCC 11+)",
            1 << 32, 1 << 32, "libstdc++ bits/uniform_int_dist.h: operator(), _S_nd (Lemire)"),
    Runtime("cpp.minstd_rand.uniform_int_distribution",
            "std::uniform_int_distribution<int>(low, low + mod - 1) over std::minstd_rand(seed), libstdc++",
            1 << 32, 2147483646, "libstdc++ bits/uniform_int_dist.h: operator() downscaling (two divisions)"),
)}
"""The runtime calls by name; the raw families of seedsift.prng.families are calls too."""

# A raw family's draw is output % mod; every family makes 32-bit outputs but minstd (31 bits).
FAMILY_MOD_MAX = {name: 1 << 32 for name in families.FAMILIES}


def names():
    """Every accepted call name: the runtime calls, then the raw families."""
    return list(RUNTIMES) + list(families.FAMILIES)


def check_name(name, key="prng"):
    """``name`` if it is a runtime call or a family; else one error listing the valid names."""
    if name not in RUNTIMES and name not in families.FAMILIES:
        raise ConfigError(key, name, f"one of {names()}")
    return name


def seed_limit(name):
    """Seeds are integers in [0, seed_limit) for this call."""
    return RUNTIMES[name].seed_limit if name in RUNTIMES else families.SEED_LIMIT


def mod_limit(name):
    """The largest mod this call can produce."""
    if name in RUNTIMES:
        return RUNTIMES[name].mod_max
    return FAMILY_MOD_MAX[name]


# The type of the value a call returns: Java's int, C's int for rand() and uniform_int_distribution<int>;
# numpy's int64 and PHP's zend_long; CPython's int and the raw families have no limit here.
_INT32 = (-(1 << 31), (1 << 31) - 1)
_INT64 = (-(1 << 63), (1 << 63) - 1)
VALUE_RANGE = {
    "java.util.Random.nextInt": _INT32, "glibc.rand": _INT32,
    "cpp.mt19937.uniform_int_distribution": _INT32, "cpp.minstd_rand.uniform_int_distribution": _INT32,
}


def value_range(name):
    """[lowest, highest] value the program's call can return (so low + mod - 1 must fit)."""
    return VALUE_RANGE.get(name, _INT64)


def check_mod(name, mod, key="mod"):
    """Refuse a mod the call cannot produce (naming the key and the limit)."""
    limit = mod_limit(name)
    if mod > limit:
        raise ConfigError(key, mod, f"at most {limit} for {name}")
    if name == "python.random.getrandbits" and mod & (mod - 1):
        raise ConfigError(key, mod, f"a power of two (mod = 2^k, k <= 32) for {name}")
    return mod


# -- one call, from the runtime's source ---------------------------------------------------------
def _java_next_int(gen, bound):
    r = gen.next_bits(31)
    m = bound - 1
    if bound & m == 0:
        return (bound * r) >> 31
    u = r
    while True:
        r = u % bound
        # Java: u - r + m < 0 in 32-bit int arithmetic, i.e. the sum overflows past 2^31 - 1.
        if u - r + m < 1 << 31:
            return r
        u = gen.next_bits(31)


def _randbelow(raw, n):
    k = n.bit_length()
    while True:
        r = raw() >> (32 - k)
        if r < n:
            return r


def _numpy_masked(raw, n):
    rng = n - 1
    if rng == M32:
        return raw()
    mask = rng
    for shift in (1, 2, 4, 8, 16):
        mask |= mask >> shift
    while True:
        v = raw() & mask
        if v <= rng:
            return v


def _php_range32(raw, n):
    result = raw()
    if n == 1 << 32:
        return result
    if n & (n - 1) == 0:
        return result & (n - 1)
    limit = M32 - (M32 % n) - 1
    while result > limit:
        result = raw()
    return result % n


def _php_legacy_range(raw, n):
    # RAND_RANGE_BADSCALING(n, min, max, PHP_MT_RAND_MAX) over php_mt_rand() >> 1, in doubles.
    x = raw() >> 1
    return int(float(n) * (x / 2147483648.0))


def _lemire32(raw, n):
    if n == 1 << 32:
        return raw()
    product = raw() * n
    low = product & M32
    if low < n:
        threshold = ((1 << 32) - n) % n
        while low < threshold:
            product = raw() * n
            low = product & M32
    return product >> 32


def _minstd_downscale(raw, n):
    urngrange = 2147483646 - 1
    if n - 1 == urngrange:
        return raw() - 1
    scaling = urngrange // n
    past = n * scaling
    while True:
        ret = raw() - 1
        if ret < past:
            return ret // scaling


def seeded_generator(name, seed):
    """The generator of call ``name`` as its runtime seeds it with ``seed``."""
    seed = int(seed)
    if name in families.FAMILIES:
        return families.generator(name, seed & M32)
    if name == "java.util.Random.nextInt":
        return JavaLCG(seed & M64)
    if name.startswith("python.random."):
        return MT(cpython_init_by_array(cpython_key(seed)))
    if name in ("numpy.random.RandomState.randint", "cpp.mt19937.uniform_int_distribution"):
        return MT(init_genrand(seed & M32))
    if name.startswith("php.mt_rand"):
        return MT(init_genrand(seed & M32), legacy=name.endswith(".legacy"))
    if name == "glibc.rand":
        return GlibcRandom(seed)
    if name == "cpp.minstd_rand.uniform_int_distribution":
        return families.MinstdRand(seed & M32)
    check_name(name)
    raise AssertionError(name)


def call_on(name, gen, mod):
    """A function returning successive draws in [0, mod) of call ``name`` made with generator ``gen``
    (seeded by :func:`seeded_generator`, or set to a recovered state)."""
    if name in families.FAMILIES:
        return lambda: gen.next() % mod
    if name == "java.util.Random.nextInt":
        return lambda: _java_next_int(gen, mod)
    if name == "python.random.getrandbits":
        k = mod.bit_length() - 1
        return lambda: gen.next() >> (32 - k) if k else 0
    if name == "python.random.randrange":
        return lambda: _randbelow(gen.next, mod)
    if name == "numpy.random.RandomState.randint":
        return lambda: _numpy_masked(gen.next, mod)
    if name.startswith("php.mt_rand"):
        if ".unbounded" in name:
            return lambda: (gen.next() >> 1) % mod
        return lambda: (_php_legacy_range if name.endswith(".legacy") else _php_range32)(gen.next, mod)
    if name == "glibc.rand":
        return lambda: gen.next() % mod
    if name == "cpp.mt19937.uniform_int_distribution":
        return lambda: _lemire32(gen.next, mod)
    if name == "cpp.minstd_rand.uniform_int_distribution":
        return lambda: _minstd_downscale(gen.next, mod)
    check_name(name)
    raise AssertionError(name)


def call_stream(name, seed, mod):
    """A function returning successive draws in [0, mod) of runtime call ``name`` seeded with ``seed``."""
    return call_on(name, seeded_generator(name, seed), mod)


def draws(name, seed, n_calls, mod, low=0):
    """The first ``n_calls`` draws (low + value) of one runtime call."""
    nxt = call_stream(name, seed, mod)
    return [low + nxt() for _ in range(n_calls)]


def hypothesis_draws(name, seed, positions, skip, burn, mod, low=0):
    """Draws of hypothesis (name, seed, skip, burn) at history ``positions`` (the skip convention)."""
    calls = [burn + p * (skip + 1) for p in positions]
    top = max(calls, default=-1) + 1
    every = draws(name, seed, top, mod, low)
    return [every[c] for c in calls]


# -- the chance of a match -------------------------------------------------------------------------
def match_probability(name, mod):
    """P(a hypothesis' draw equals a draw of an unrelated run of the same call): sum over v of p_v^2.

    Rejection loops make every value equally likely (1/mod); ``% mod`` of a raw range that mod
    does not divide, and PHP's legacy float scaling, favour some values slightly, which raises the
    chance of a match above 1/mod. Raw outputs are taken as uniform over the generator's range.
    Under uniform random data the chance is exactly 1/mod whatever the call; the larger of the two
    is the honest figure for expected false survivors.
    """
    if name in families.FAMILIES:
        lo, hi = (1, 2147483646) if name in ("minstd_rand", "minstd_rand0") else (0, (1 << 32) - 1)
        return _modulo_collision(lo, hi, mod)
    if name in ("php.mt_rand.unbounded", "php.mt_rand.unbounded.legacy", "glibc.rand"):
        return _modulo_collision(0, (1 << 31) - 1, mod)
    if name == "php.mt_rand.legacy":
        return _scaling_collision(1 << 31, mod)
    return 1.0 / mod


def _modulo_collision(lo, hi, mod):
    """sum p_v^2 of x % mod for x uniform on [lo, hi]."""
    total = hi - lo + 1
    # x in [lo, hi] with x % mod == v: (q_hi - [v > r_hi]) - (q_lo - [v > r_lo]), from floor divisions.
    q_hi, r_hi = divmod(hi, mod)
    q_lo, r_lo = divmod(lo - 1, mod)
    cuts = sorted({0, min(r_hi + 1, mod), min(r_lo + 1, mod), mod})
    s = 0
    for a, b in zip(cuts, cuts[1:]):
        count = (q_hi - (a > r_hi)) - (q_lo - (a > r_lo))
        s += (b - a) * count * count
    return s / total**2


def _scaling_collision(span, mod):
    """sum p_v^2 of floor(mod * x / span) for x uniform on [0, span).

    Exact scaling gives every value floor(span / mod) or one more inputs (span % mod values get
    one more); PHP computes it in doubles, which moves single inputs at most.
    """
    q, r = divmod(span, mod)
    return (r * (q + 1) ** 2 + (mod - r) * q**2) / span**2


# -- the kernels' description of a call -------------------------------------------------------------
def kernel_call(name, mod):
    """The int64 array the numba kernels take for call ``name`` with ``mod``: (gen, map, mod, a, b, rejects)."""
    from seedsift.prng import kernels as k

    mod = int(mod)
    pow2 = mod & (mod - 1) == 0
    if name in families.FAMILIES:
        spec = (families.FAMILIES[name][1], k.MAP_MOD, mod, 0, 0, 0)
    elif name == "java.util.Random.nextInt":
        # A non-power-of-two bound rejects next(31) >= the largest multiple of the bound <= 2^31.
        spec = (k.JAVA_RANDOM, k.MAP_JAVA_INT, mod, int(pow2), ((1 << 31) // mod) * mod, int(not pow2))
    elif name == "python.random.getrandbits":
        spec = (k.MT_CPYTHON, k.MAP_TOPBITS, mod, 32 - (mod.bit_length() - 1), 0, 0)
    elif name == "python.random.randrange":
        # k = mod.bit_length() bits, rejected while >= mod: randrange(2^j) rejects half its draws.
        spec = (k.MT_CPYTHON, k.MAP_RANDBELOW, mod, 32 - mod.bit_length(), 0, 1)
    elif name == "numpy.random.RandomState.randint":
        mask = (1 << max(mod - 1, 1).bit_length()) - 1 if mod < 1 << 32 else M32
        spec = (k.MT19937, k.MAP_MASKED, mod, mask, 0, int(not pow2))
    elif name in ("php.mt_rand", "php.mt_rand.legacy"):
        if name.endswith(".legacy"):
            spec = (k.MT_PHP_LEGACY, k.MAP_PHP_SCALE, mod, 0, 0, 0)
        elif mod == 1 << 32:
            spec = (k.MT19937, k.MAP_PHP_RANGE, mod, 0, 2, 0)
        elif pow2:
            spec = (k.MT19937, k.MAP_PHP_RANGE, mod, 0, 1, 0)
        else:
            spec = (k.MT19937, k.MAP_PHP_RANGE, mod, M32 - (M32 % mod) - 1, 0, 1)
    elif name in ("php.mt_rand.unbounded", "php.mt_rand.unbounded.legacy"):
        gen = k.MT_PHP_LEGACY if name.endswith(".legacy") else k.MT19937
        spec = (gen, k.MAP_SHR1_MOD, mod, 0, 0, 0)
    elif name == "glibc.rand":
        spec = (k.GLIBC, k.MAP_MOD, mod, 0, 0, 0)
    elif name == "cpp.mt19937.uniform_int_distribution":
        full = mod == 1 << 32
        threshold = 0 if full else ((1 << 32) - mod) % mod
        spec = (k.MT19937, k.MAP_LEMIRE, mod, threshold, int(full), int(threshold > 0))
    elif name == "cpp.minstd_rand.uniform_int_distribution":
        urngrange = 2147483646 - 1
        if mod - 1 == urngrange:
            spec = (k.MINSTD_RAND, k.MAP_MINSTD_DOWN, mod, 0, 0, 0)
        else:
            scaling = urngrange // mod
            past = mod * scaling
            spec = (k.MINSTD_RAND, k.MAP_MINSTD_DOWN, mod, scaling, past, int(past <= urngrange))
    else:
        check_name(name)
        raise AssertionError(name)
    return np.array(spec, dtype=np.int64)


def kernel_args(name, mod, cidx):
    """Everything the kernels need for draws of call ``name`` at sorted unique call indices ``cidx``:
    (call spec, cidx, the outputs a block generates first, glibc's coefficients, CPython's base state)."""
    from seedsift.prng import kernels as k

    call = kernel_call(name, mod)
    cidx = np.ascontiguousarray(cidx, dtype=np.int64)
    uidx = k.outputs_needed(call, cidx)
    coef = k.glibc_coefficients(int(uidx[-1]) + 1) if call[0] == k.GLIBC and uidx.size else k.NO_COEF
    return call, cidx, uidx, coef, k.CPYTHON_BASE
