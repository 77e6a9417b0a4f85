"""Which runtime calls have a state method, what each needs, and the recovery itself.

A *state method* recovers the generator's state at the first draw of a history from the draws
alone, whatever the seed was. :func:`method_for` says which method applies to a call and mod
(or raises :class:`StateError` with the reason), :func:`recover` runs it and checks every
candidate against all the draws it was given with the runtime's own call (rejection loops
included), and :func:`state_draws` continues a recovered state.

The state is written as ``{"generator": name, "words": [...]}``: ``java_lcg48`` (the 48-bit
state), ``mt19937`` / ``mt19937_php_legacy`` (the 624 words x_0..x_623 whose tempering gives the
outputs of draws 0..623, next output = word 0), ``xorshift128`` (x, y, z, w) or ``xorshift32``.
"""

import dataclasses
import functools
import math
import time
from dataclasses import dataclass, field

import numpy as np

import seedsift.prng.state.gf2 as gf2
import seedsift.prng.state.lcg as lcg
import seedsift.prng.state.mt_needed as mt_needed
from seedsift.errors import SeedsiftError
from seedsift.prng import families, runtimes

# A recovery is trusted when fewer than this many states are expected to fit random draws.
CHANCE_BELOW = 0.01
# At most this many candidate states (2^4) are enumerated from a null space.
MAX_CANDIDATE_BITS = 4


class StateError(SeedsiftError):
    """No state can be recovered: the call has no method, the mod does not suit it, or too few draws."""

    def __init__(self, prng, method, problem, needed=None, given=None):
        self.prng, self.method, self.needed, self.given = prng, method, needed, given
        super().__init__(f"{prng}, {method}: {problem}")


# -- how each call's draw reads its generator ------------------------------------------------------
@dataclass(frozen=True)
class LinearReadout:
    """A draw that is a fixed function of one raw 32-bit output, with GF(2)-linear bits in it.

    ``kind``: ``mod`` (output % mod), ``top`` (output >> (32 - k), mod = 2^k) or ``shr1mod``
    ((output >> 1) % mod). Bits [shift, shift + nbits) of the output are the draw's low nbits bits.
    """

    kind: str
    mod: int

    @property
    def k(self):
        return self.mod.bit_length() - 1

    @property
    def shift(self):
        return {"mod": 0, "top": 32 - self.k, "shr1mod": 1}[self.kind]

    @property
    def nbits(self):
        if self.kind == "top":
            return self.k
        t = (self.mod & -self.mod).bit_length() - 1
        return min(t, 32 - self.shift)

    def draw(self, o):
        if self.kind == "mod":
            return o % self.mod
        if self.kind == "top":
            return o >> (32 - self.k)
        return (o >> 1) % self.mod

    def preimages(self, d):
        """Raw outputs that give draw ``d``, in increasing order."""
        if self.kind == "mod":
            return range(d, 1 << 32, self.mod)
        if self.kind == "top":
            return range(d << (32 - self.k), (d + 1) << (32 - self.k))
        return (2 * v + b for v in range(d, 1 << 31, self.mod) for b in (0, 1))


# Calls over the Mersenne Twister whose draw is one output, and how it reads it (None: no linear readout).
_MT_CALLS = {
    "mt19937": lambda mod: LinearReadout("mod", mod),
    "python.random.getrandbits": lambda mod: LinearReadout("top", mod),
    "numpy.random.RandomState.randint": lambda mod: LinearReadout("mod", mod) if _pow2(mod) else None,
    "php.mt_rand": lambda mod: LinearReadout("mod", mod) if _pow2(mod) else None,
    "php.mt_rand.legacy": lambda mod: LinearReadout("top", mod) if _pow2(mod) else None,
    "php.mt_rand.unbounded": lambda mod: LinearReadout("shr1mod", mod),
    "php.mt_rand.unbounded.legacy": lambda mod: LinearReadout("shr1mod", mod),
    "cpp.mt19937.uniform_int_distribution": lambda mod: LinearReadout("top", mod) if _pow2(mod) else None,
}
_LINEAR_FAMILIES = {"xorshift128": (gf2.SymbolicXorshift128, 128), "xorshift32": (gf2.SymbolicXorshift32, 32)}

# Why a call (or a mod of it) has no state method: the sentence the refusal gives.
NO_METHOD = {
    "python.random.randrange": "randrange(n) draws getrandbits(n.bit_length()) and redraws while the value is >= n "
                               "(randrange(1000) redraws 2.3% of its 10-bit draws, randrange(1024) half of its 11-bit "
                               "ones), so which outputs were drawn is hidden: no state method",
    "glibc.rand": "rand()'s additive generator is not linear over GF(2) (its sums carry) and is not searched here; "
                  "its 2^32 seeds are: use sieve.search: seeds",
    "cpp.minstd_rand.uniform_int_distribution": "std::minstd_rand's state is its seed (2^31 values): use sieve.search: "
                                                "seeds, which covers every state",
    "minstd_rand": "the state is the seed (2^31 values): use sieve.search: seeds, which covers every state",
    "minstd_rand0": "the state is the seed (2^31 values): use sieve.search: seeds, which covers every state",
    "pcg32": "PCG's output permutation is not linear and its 64-bit state is not searched here; its 2^32 seeds are: "
             "use sieve.search: seeds",
    "xoshiro128pp": "xoshiro128++'s state transition is linear over GF(2), but its output rotl(s0 + s3, 7) + s0 adds "
                    "modulo 2^32 (carries), so no output bit is a linear function of the state: no GF(2) method; its "
                    "2^32 seeds are: use sieve.search: seeds",
}
_REJECTING = {
    "numpy.random.RandomState.randint": "randint redraws masked outputs above mod - 1 unless mod is a power of two",
    "php.mt_rand": "mt_rand(min, max) redraws outputs above the last whole multiple of the range unless it is a power "
                   "of two",
    "php.mt_rand.legacy": "legacy mt_rand(min, max) scales in doubles, which reads fixed output bits only for a power "
                          "of two",
    "cpp.mt19937.uniform_int_distribution": "uniform_int_distribution multiplies (Lemire) and redraws unless mod is a "
                                            "power of two",
}


_TABLE_KIND = {"mod": "low", "top": "top", "shr1mod": "shr1"}


_TABLE_GENERATOR = {"mt19937": "standard", "mt19937_php_legacy": "legacy", "xorshift128": "xorshift128",
                    "xorshift32": "xorshift32"}


@functools.lru_cache(maxsize=None)
def _linear_needed(generator, kind, nbits, skip=0):
    """Consecutive draws after which a readout's equations have full rank: the table for no skip,
    else computed (the left-hand sides do not depend on the data; seconds for MT19937)."""
    key = (_TABLE_GENERATOR[generator], _TABLE_KIND[kind], nbits)
    if skip == 0:
        return mt_needed.NEEDED.get(key)
    import seedsift.prng.state.needed as needed

    return needed.compute(*key, skip=skip)


def _pow2(mod):
    return mod & (mod - 1) == 0


@dataclass(frozen=True)
class Method:
    """A state method for one call and mod: what it is, what it reads and what it needs."""

    prng: str
    mod: int
    name: str  # "untemper and clone", "GF(2) elimination", "lift + search", "bounded search"
    generator: str
    state_bits: int
    reads: str  # what one draw tells, in words
    bits_per_draw: float  # linear bits (GF(2)) or information (log2 of 1 / chance of a match) per draw
    needed: int  # consecutive draws needed with no skip
    readout: object = field(repr=False, default=None)
    chance_need: int = 0  # draws after which fewer than CHANCE_BELOW states fit random draws
    lower_bound: int = 0  # fewest draws any skip could need (GF(2): one equation per unknown)

    def need_sentence(self, given, skip=0):
        n = self.needed_for(skip)
        at = f" (skip {skip})" if skip and n != self.needed else ""
        return f"needs >= {n:,} consecutive draws{at}, the training part has {given:,}"

    def name_for(self, skip):
        """The method a skip leaves: outputs with a skip between them are not 624 consecutive words."""
        return "GF(2) elimination" if skip and self.name == "untemper and clone" else self.name

    def needed_for(self, skip):
        """Draws needed with ``skip``: the same for java.util.Random; for the GF(2) methods computed
        from the rank of the equations at that skip (a few seconds, then cached)."""
        if skip == 0 or self.generator == "java_lcg48":
            return self.needed
        need = _linear_needed(self.generator, self.readout.kind, self.readout.nbits, skip)
        if need is None:
            raise StateError(self.prng, self.name_for(skip), f"with skip {skip} the outputs' bits do not pin the "
                                                             f"state within {4 * self.state_bits // self.readout.nbits:,} draws")
        return max(need, self.chance_need)

    def fewest_needed(self, skips):
        """The fewest draws any of ``skips`` could need, known without computing (for a check before any job)."""
        return min(self.needed if k == 0 or self.generator == "java_lcg48" else self.lower_bound for k in skips)


def _needed_for_chance(state_bits, q):
    """Draws after which fewer than CHANCE_BELOW states fit random draws: 2^bits * q^n < CHANCE_BELOW."""
    return math.ceil((state_bits * math.log(2) - math.log(CHANCE_BELOW)) / -math.log(q))


def method_for(prng, mod):
    """The state method of call ``prng`` with ``mod``; raises StateError saying why there is none."""
    runtimes.check_name(prng)
    mod = int(mod)
    if mod < 2:
        raise StateError(prng, "state", f"mod {mod} draws carry no information (needs mod >= 2, given {mod})")
    if prng in NO_METHOD:
        raise StateError(prng, "state", NO_METHOD[prng])
    q = runtimes.match_probability(prng, mod)
    if prng in ("java.util.Random.nextInt", "java_random"):
        return _java_method(prng, mod, q)
    if prng in _LINEAR_FAMILIES or prng in _MT_CALLS:
        readout = _MT_CALLS[prng](mod) if prng in _MT_CALLS else LinearReadout("mod", mod)
        if readout is None:
            raise StateError(prng, "GF(2) elimination", f"{_REJECTING[prng]}, so which outputs were drawn is "
                                                        f"hidden (needs mod a power of two, given {mod})")
        if readout.nbits == 0:
            raise StateError(prng, "GF(2) elimination",
                             f"an odd mod {mod} leaves no output bit fixed by the draw (needs an even mod, given {mod})")
        if prng in _LINEAR_FAMILIES:
            _, bits = _LINEAR_FAMILIES[prng]
            generator, name, legacy = prng, "GF(2) elimination", False
        else:
            legacy = prng.endswith(".legacy")
            generator = "mt19937_php_legacy" if legacy else "mt19937"
            bits = 624 * 32
            name = "untemper and clone" if readout.nbits == 32 else "GF(2) elimination"
        b = readout.nbits
        rank_need = 624 if name == "untemper and clone" else _linear_needed(generator, readout.kind, b)
        if rank_need is None:
            raise StateError(prng, name, f"bits {readout.shift}..{readout.shift + b - 1} of the outputs do not pin the "
                                         f"state within {4 * bits // b:,} draws")
        chance = _needed_for_chance(bits, q)
        needed = max(rank_need, chance)
        future = bits - (31 if generator == "mt19937" else 30 if generator == "mt19937_php_legacy" else 0)
        lower = max(-(-future // b) + (1 if future < bits else 0), chance)
        reads = f"bits {readout.shift}..{readout.shift + b - 1} of one 32-bit output" if b < 32 else "one 32-bit output"
        return Method(prng, mod, name, generator, bits, reads, float(b), needed, readout, chance, lower)
    raise StateError(prng, "state", "no state method")


def _java_method(prng, mod, q):
    nextint = prng == "java.util.Random.nextInt"
    shift, out_bits = (17, 31) if nextint else (16, 32)
    kind = lcg.KIND_TOP if nextint and _pow2(mod) else lcg.KIND_MOD
    readout = lcg.Readout(shift, out_bits, kind, mod)
    how, size = readout.search_size()
    t = readout.lift_bits
    info = math.log2(1 / q)
    if t:
        name = "lift + search" if readout.odd_part > 1 else "lift"
        bits = 48 if readout.odd_part > 1 else shift + t  # higher bits never reach a draw of a power of two
        lift_need = math.ceil((shift + t) / t)
        needed = max(lift_need, _needed_for_chance(bits, q))
        reads = (f"draw mod 2^{t} = state bits {shift}..{shift + t - 1} (a function of the low {shift + t} bits)"
                 + (f", the rest by a search of 2^{48 - shift - t} high bits" if readout.odd_part > 1 else ""))
    else:
        name = "bounded search"
        if size > lcg.SEARCH_LIMIT:
            even = "an even mod that is not a power of two" if nextint else "an even mod"
            what = f"a power-of-two mod {mod} reads the top {readout.k} state bits" if kind == lcg.KIND_TOP else \
                f"an odd mod {mod} fixes no state bit"
            raise StateError(prng, name, f"{what}, which leaves 2^{math.log2(size):.1f} states after the first draw, "
                                         f"more than the 2^{int(math.log2(lcg.SEARCH_LIMIT))} searched (needs {even}, or "
                                         f"mod >= 65536, given {mod}); such mods need a lattice method, which seedsift "
                                         f"does not have")
        bits = 48
        needed = _needed_for_chance(bits, q)
        reads = (f"the top {readout.k} state bits" if kind == lcg.KIND_TOP else f"r % {mod}") + \
            f"; the search tries the 2^{math.log2(size):.1f} states the first draw allows"
    return Method(prng, mod, name, "java_lcg48", 48, reads, info, needed, readout, needed, needed)


def method_check(prng, mod, n_train, skips=(0,)):
    """The call's state method, or StateError naming the call, the method, what it needs and what it
    has: refused when the training part is shorter than any skip in ``skips`` could need (a skip's
    exact need is computed by its job). Runs no kernel: config validation calls it."""
    method = method_for(prng, mod)
    skips = list(skips)
    fewest = method.fewest_needed(skips)
    if n_train < fewest:
        span = f" (with any skip in {min(skips)}..{max(skips)})" if len(skips) > 1 else ""
        raise StateError(prng, method.name, f"needs >= {fewest:,} consecutive draws{span}, the training part has "
                                            f"{n_train:,}", fewest, n_train)
    return method


# -- generators from a state ------------------------------------------------------------------------
_GENERATORS = {
    "java.util.Random.nextInt": "java_lcg48", "java_random": "java_lcg48", "xorshift128": "xorshift128",
    "xorshift32": "xorshift32",
}
_WORDS = {"java_lcg48": (1, 48), "mt19937": (624, 32), "mt19937_php_legacy": (624, 32), "xorshift128": (4, 32),
          "xorshift32": (1, 32)}


def generator_of(prng):
    """The state generator name of call ``prng`` (None when it has no state method at any mod)."""
    if prng in _GENERATORS:
        return _GENERATORS[prng]
    if prng in _MT_CALLS:
        return "mt19937_php_legacy" if prng.endswith(".legacy") else "mt19937"
    return None


def check_state(prng, state):
    """None when ``state`` is a valid state of call ``prng``, else the problem in words."""
    want = generator_of(prng)
    if want is None:
        return f"{prng} has no state method"
    if not isinstance(state, dict) or set(state) != {"generator", "words"}:
        return "not an object with 'generator' and 'words'"
    if state["generator"] != want:
        return f"generator {state['generator']!r} is not {want!r}, the generator of {prng}"
    count, width = _WORDS[want]
    words = state["words"]
    if not isinstance(words, list) or len(words) != count:
        return f"'words' is not a list of {count} integers"
    for w in words:
        if isinstance(w, bool) or not isinstance(w, int) or not 0 <= w < 1 << width:
            return f"'words' holds {w!r}, not an integer in [0, 2^{width})"
    return None


def _generator(prng, state):
    kind, words = state["generator"], state["words"]
    if kind == "java_lcg48":
        gen = runtimes.JavaLCG(0) if prng == "java.util.Random.nextInt" else families.JavaRandom(0)
        gen.state = words[0]
        return gen
    if kind in ("mt19937", "mt19937_php_legacy"):
        if prng == "mt19937":
            gen = families.MT19937(0)
            gen.mt = list(words)
        else:
            gen = runtimes.MT(words, legacy=kind == "mt19937_php_legacy")
        gen.index = 0
        return gen
    if kind == "xorshift128":
        gen = families.Xorshift128(0)
        gen.x, gen.y, gen.z, gen.w = words
        return gen
    return families.Xorshift32(words[0])


def state_draws(prng, state, mod, calls):
    """Draws in [0, mod) of call ``prng`` continued from ``state`` at sorted call numbers ``calls``
    (call 0 makes the first draw)."""
    nxt = runtimes.call_on(prng, _generator(prng, state), int(mod))
    out, done = [], 0
    for c in calls:
        c = int(c)
        while done < c:
            nxt()
            done += 1
        out.append(nxt())
        done += 1
    return out


# -- the recovery ------------------------------------------------------------------------------------
@dataclass
class Recovery:
    """What a state recovery found: verified states, how many fit, and the statement of the run."""

    prng: str
    mod: int
    skip: int
    method: Method
    draws_given: int
    draws_used: int
    states: list  # verified states (dicts), best first
    consistent: str  # how many states fit the draws used: "1", "12", "2^31"
    continuations: int  # distinct draw sequences among the verified states
    outcome: str  # "unique", "candidates", "none", "underdetermined"
    statement: str
    elapsed_s: float = 0.0
    detail: dict = field(default_factory=dict)


def recover(prng, draws, mod, skip=0, enforce_need=True):
    """Recover the state at history draw 0 from ``draws`` (values in [0, mod), oldest first), with
    ``skip`` unrecorded calls between two draws. Raises StateError when there is no method or too few
    draws; otherwise returns a Recovery whose outcome may be "none" (no state fits: the draws were not
    made by this call) or "underdetermined"."""
    t0 = time.perf_counter()
    method = method_for(prng, mod)
    draws = [int(d) for d in draws]
    given = len(draws)
    need = method.needed_for(skip)
    if given < need and enforce_need:  # the benchmark measures below the stated figure
        raise StateError(prng, method.name_for(skip), method.need_sentence(given, skip), need, given)
    if method.generator == "java_lcg48":
        rec = _recover_lcg(method, draws, skip)
    else:
        rec = _recover_linear(method, draws, skip)
    rec.elapsed_s = time.perf_counter() - t0
    return rec


def _calls(n, skip):
    return [j * (skip + 1) for j in range(n)]


def _verify(method, candidates, draws, skip):
    """Candidates that reproduce every draw with the runtime's own call, without repeats."""
    calls = _calls(len(draws), skip)
    kept, seen = [], set()
    for st in candidates:
        key = tuple(st["words"])
        if key in seen:
            continue
        seen.add(key)
        if state_draws(method.prng, st, method.mod, calls) == draws:
            kept.append(st)
    return kept


def _statement(method, rec_outcome, given, used, consistent, continuations, extra="", skip=0):
    head = (f"{method.prng} (mod {method.mod}), {method.name}: reads {method.reads}; "
            f"{method.need_sentence(given, skip)} (the first {used:,} solved, all checked)")
    if rec_outcome == "unique":
        tail = "one state reproduces them" if consistent == "1" else \
            f"{consistent} states fit, all with the same draws: the state is known as far as the draws can tell"
    elif rec_outcome == "candidates":
        tail = f"{continuations} candidate states reproduce them ({consistent} fit the draws used)"
    elif rec_outcome == "underdetermined":
        tail = f"{consistent} states fit: the draws do not pin the state, more draws are needed"
    else:
        tail = "no consistent state: the draws were not made by this call (or not consecutively, or with another skip)"
    return f"{head}: {tail}{extra}."


def _recover_lcg(method, draws, skip):
    readout = method.readout
    n_use = min(len(draws), max(method.needed + 8, 24))
    used = draws[:n_use]
    res = lcg.recover(readout, used, _calls(n_use, skip))
    cands = [{"generator": "java_lcg48", "words": [s]} for s in res.states]
    kept = _verify(method, cands, draws, skip)
    too_many = res.consistent > lcg.MAX_FOUND and res.continuations > lcg.MAX_FOUND
    if too_many:
        outcome = "underdetermined"
    elif not kept:
        outcome = "none"
    elif len(kept) == 1 or res.continuations == 1:
        outcome = "unique"
    else:
        outcome = "candidates"
    consistent = _count(res.consistent)
    stmt = _statement(method, outcome, len(draws), n_use, consistent, len(kept))
    return Recovery(method.prng, method.mod, skip, method, len(draws), n_use, kept if not too_many else [],
                    consistent, len(kept), outcome, stmt, detail={"searched": res.tried, "how": res.how})


def _count(n):
    return str(n) if n < 1 << 20 else f"2^{math.log2(n):.0f}"


def _symbolic(generator):
    if generator == "mt19937":
        return gf2.SymbolicMT(legacy=False)
    if generator == "mt19937_php_legacy":
        return gf2.SymbolicMT(legacy=True)
    return _LINEAR_FAMILIES[generator][0]()


def untemper(y):
    """The MT19937 word whose tempering is ``y`` (numpy arrays of uint64 or a Python int)."""
    y = np.asarray(y, dtype=np.uint64)
    m32 = np.uint64(0xFFFFFFFF)
    y = y ^ (y >> np.uint64(18))
    y = y ^ ((y << np.uint64(15)) & np.uint64(0xEFC60000))
    x = y
    for _ in range(5):
        x = y ^ ((x << np.uint64(7)) & np.uint64(0x9D2C5680))
    y = x & m32
    x = y
    for _ in range(3):
        x = y ^ (x >> np.uint64(11))
    return x & m32


def _recover_linear(method, draws, skip):
    readout = method.readout
    b = readout.nbits
    n_words, _ = _WORDS[method.generator]
    if method.name == "untemper and clone" and skip == 0:
        words = [int(w) for w in untemper(draws[:624]).tolist()]
        kept = _verify(method, [{"generator": method.generator, "words": words}], draws, skip)
        outcome = "unique" if kept else "none"
        stmt = _statement(method, outcome, len(draws), 624, "1", len(kept))
        return Recovery(method.prng, method.mod, skip, method, len(draws), 624, kept, "1", len(kept), outcome, stmt,
                        detail={"equations": 0})
    method = dataclasses.replace(method, name=method.name_for(skip))
    n_use = min(len(draws), method.needed_for(skip) + math.ceil(64 / b))
    sym = _symbolic(method.generator)
    # Draw 0 fixes only x_0's own low bits, which no other draw reads: it is left to _first_word.
    first = 1 if sym.draw0_only else 0
    calls = _calls(n_use, skip)[first:]
    rows = gf2.equations(sym, calls, [d & ((1 << b) - 1) for d in draws[first:n_use]], readout.shift, b)
    sol = gf2.solve(rows, sym.nvars, per=b, ignore=sym.draw0_only)
    measured = sol.reached + first if sol.reached >= 0 else None
    detail = {"equations": sol.n_equations, "unknowns": sol.nvars - len(sym.draw0_only), "rank": sol.rank,
              "pinned_after_draws": measured}
    if not sol.consistent:
        stmt = _statement(method, "none", len(draws), n_use, "0", 0, skip=skip, extra=
                          f" (the linear system of {sol.n_equations:,} equations in {sol.nvars - len(sym.draw0_only):,} "
                          f"unknowns is inconsistent: {sol.contradictions:,} equations reduce to 0 = 1)")
        return Recovery(method.prng, method.mod, skip, method, len(draws), n_use, [], "0", 0, "none", stmt,
                        detail=detail)
    consistent = "1" if sol.free == 0 else f"2^{sol.free}"
    if sol.free > MAX_CANDIDATE_BITS:
        stmt = _statement(method, "underdetermined", len(draws), n_use, consistent, 0, skip=skip)
        return Recovery(method.prng, method.mod, skip, method, len(draws), n_use, [], consistent, 0,
                        "underdetermined", stmt, detail=detail)
    cands = []
    for mask in range(1 << len(sol.null)):
        x = sol.x.copy()
        for i, v in enumerate(sol.null):
            if mask >> i & 1:
                x ^= v
        words = gf2.as_words32(x, n_words)
        if sym.draw0_only:
            words[0] = _first_word(words[0], readout, draws[0], sym.draw0_only)
        cands.append({"generator": method.generator, "words": words})
    kept = _verify(method, cands, draws, skip)
    outcome = "none" if not kept else ("unique" if len(kept) == 1 else "candidates")
    extra = f" (the equations pinned it after {measured:,} draws)" if measured and outcome != "none" else ""
    stmt = _statement(method, outcome, len(draws), n_use, consistent, len(kept), extra, skip=skip)
    return Recovery(method.prng, method.mod, skip, method, len(draws), n_use, kept, consistent, len(kept), outcome,
                    stmt, detail=detail)


def _first_word(x0, readout, d0, draw0_only):
    """x_0 with its draw-0-only bits chosen so that draw 0 is reproduced (the others kept)."""
    keep = ~sum(1 << b for b in draw0_only) & 0xFFFFFFFF
    for tries, o in enumerate(readout.preimages(d0)):
        w = int(untemper(o))
        if w & keep == x0 & keep:
            return w
        if tries > 256:  # each try fits with probability 1/2 (1/4 for the legacy twist)
            break
    return x0
