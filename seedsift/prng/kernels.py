"""numba kernels: every generator and runtime call stepped in lock-step over blocks of LANES seeds.

A *call* is a generator and a mapping from its raw outputs to one draw (see
:mod:`seedsift.prng.runtimes`); it is described to the kernels by a small int64 array
(:func:`call_spec`): generator id, mapping id, mod and the mapping's parameters. One generation
routine, :func:`_block_outputs`, produces the raw outputs of a block of seeds at a sorted list of
output indices; :func:`_block_calls` turns them into the draws of a sorted list of *call* indices.
A mapping without a rejection loop uses one output per call; with one, a block whose outputs are
all accepted takes the same vectorised path, and a block with a rejection walks each seed's
outputs in order (generating more when a seed rejected many), so every draw is exact.

Seeds are uint64 (java.util.Random takes a long, CPython any int); 32-bit generators use the
seed's low 32 bits, as their runtimes do.

numba widens uint32 arithmetic to 64 bits and can turn mixed uint64/int constants into floats,
so every 32-bit operation is re-cast and every constant is an explicit numpy integer.
"""

# First: it sets the CPU target numba compiles for (seedsift/prng/cpu_target.py).
from seedsift.prng import cpu_target  # noqa: F401  # isort: skip

import numpy as np
from llvmlite import ir
from numba import get_num_threads, njit, prange, types
from numba.core import cgutils
from numba.cpython.unsafe.numbers import trailing_zeros
from numba.extending import intrinsic

# Seeds stepped in lock-step: enough independent chains to hide the Mersenne Twister's multiply
# latency (its init chain is 397 dependent steps), a power of two (java.util.Random's range path).
LANES = 256
GROUP = 64  # blocks per parallel task: buffers are allocated once per group, not per block
TASK = 8  # the fewest blocks a worker of the stage-1 sweep claims at a time (_claim)
TASKS_PER_THREAD = 64  # and tasks per thread a call is cut into at most, so a cheap generator's are longer

U32 = np.uint32
U64 = np.uint64
MASK32 = np.uint64(0xFFFFFFFF)

# Generators (the first eight are the raw families of seedsift.prng.families, in that order).
MT19937, JAVA_RANDOM, MINSTD_RAND, MINSTD_RAND0 = 0, 1, 2, 3
XORSHIFT32, XORSHIFT128, PCG32, XOSHIRO128PP = 4, 5, 6, 7
MT_CPYTHON, MT_PHP_LEGACY, GLIBC = 8, 9, 10

# Mappings from a raw output to a draw in [0, mod); -1 marks a rejected output.
MAP_MOD = 0  # raw % mod
MAP_JAVA_INT = 1  # Random.nextInt(bound) over next(31); a = 1 for a power-of-two bound, b = rejection limit
MAP_TOPBITS = 2  # raw >> a (CPython getrandbits(k), a = 32 - k)
MAP_RANDBELOW = 3  # raw >> a, rejected while >= mod (CPython _randbelow_with_getrandbits)
MAP_MASKED = 4  # raw & a, rejected while > mod - 1 (numpy legacy masked bounded integers)
MAP_PHP_RANGE = 5  # PHP rand_range32: a = limit (rejected while raw > limit); b = 1 power of two, 2 full range
MAP_PHP_SCALE = 6  # PHP <= 7.0 RAND_RANGE_BADSCALING of raw >> 1, in doubles
MAP_SHR1_MOD = 7  # (raw >> 1) % mod (PHP mt_rand() without arguments)
MAP_LEMIRE = 8  # libstdc++ _S_nd: (raw * mod) >> 32, rejected while the low word < a; b = 1 full range
MAP_MINSTD_DOWN = 9  # libstdc++ two-division downscaling of minstd: a = scaling, b = past; a = 0 direct

# Outputs generated beyond the last call a block needs, so rejections rarely need a second pass;
# only worth it where outputs are expensive (the Mersenne Twister's init chain).
MT_SLACK = 4

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
_INV_2_31 = 1.0 / 2147483648.0


def _genrand_state(seed):
    mt = np.empty(MT_N, np.uint32)
    mt[0] = seed
    for i in range(1, MT_N):
        mt[i] = (1812433253 * (int(mt[i - 1]) ^ (int(mt[i - 1]) >> 30)) + i) & 0xFFFFFFFF
    return mt


# CPython's init_by_array starts from init_genrand(19650218), the same for every seed.
CPYTHON_BASE = _genrand_state(19650218)


# --- The Mersenne Twister's init chains with their running words in registers -------------------
# numba vectorizes a loop over a block's lanes, but a chain of hundreds of dependent steps written
# as such a loop stores every lane's word at each step and loads it back at the next. These
# intrinsics emit the whole run as one LLVM loop whose words are SSA values: a group of 16-lane
# vectors stays in registers while the chain runs (enough independent chains to hide the
# multiply's latency), one group of lanes after another. The IR is target-neutral: LLVM lowers a
# 16-lane vector to one AVX-512 register, two AVX2 ones, and so on.

_I32 = ir.IntType(32)
_I64 = ir.IntType(64)
_VEC_LANES = 16
_MT_VECTORS = 16  # mt19937's chain: 256 lanes at once
_CPYTHON_VECTORS = 8  # CPython's passes also hold their key words and stream rows to memory
CPYTHON_GROUP_LANES = _VEC_LANES * _CPYTHON_VECTORS  # lanes seeded together, both passes (rows in L2)
_VEC = ir.VectorType(_I32, _VEC_LANES)


def _splat(builder, scalar):
    v = builder.insert_element(ir.Constant(_VEC, ir.Undefined), scalar, ir.Constant(_I32, 0))
    return builder.shuffle_vector(v, ir.Constant(_VEC, ir.Undefined), ir.Constant(_VEC, [0] * _VEC_LANES))


def _vectors(context, builder, arrtype, value):
    """A C-contiguous uint32 array's data as a pointer to 16-lane vectors."""
    return builder.bitcast(context.make_array(arrtype)(context, builder, value).data, _VEC.as_pointer())


def _tangle(builder, x, mult):
    # (x ^ (x >> 30)) * mult, the step every Mersenne Twister seeding shares.
    return builder.mul(builder.xor(x, builder.lshr(x, ir.Constant(_VEC, [30] * _VEC_LANES))),
                       ir.Constant(_VEC, [mult] * _VEC_LANES))


def _chain_run(builder, ptrs, lo, hi, body):
    """Emit ``for k in range(lo, hi): xs = body(k, xs)`` over the vectors at ``ptrs``: loaded once,
    kept in registers (phi nodes) for the whole loop, stored back at its end."""
    xs = _chain_loop(builder, [builder.load(p, align=4) for p in ptrs], lo, hi, body)
    for p, x in zip(ptrs, xs):
        builder.store(x, p, align=4)


def _chain_loop(builder, xs, lo, hi, body):
    """Emit ``for k in range(lo, hi): xs = body(k, xs)`` on vector values; returns the last ones."""
    fn = builder.function
    pre = builder.block
    head, loop, done = (fn.append_basic_block(name) for name in ("chain.head", "chain.body", "chain.done"))
    builder.branch(head)
    builder.position_at_end(head)
    k = builder.phi(_I64)
    k.add_incoming(lo, pre)
    phis = []
    for x in xs:
        p = builder.phi(_VEC)
        p.add_incoming(x, pre)
        phis.append(p)
    builder.cbranch(builder.icmp_signed("<", k, hi), loop, done)
    builder.position_at_end(loop)
    new = body(k, phis)
    end = builder.block
    for p, x in zip(phis, new):
        p.add_incoming(x, end)
    k.add_incoming(builder.add(k, ir.Constant(_I64, 1)), end)
    builder.branch(head)
    builder.position_at_end(done)
    return phis


def _lane_groups(vectors):
    """Vector indices of each group of ``vectors`` vectors a chain runs at once."""
    assert LANES % (_VEC_LANES * vectors) == 0
    return [[g * vectors + v for v in range(vectors)] for g in range(LANES // (_VEC_LANES * vectors))]


def _lanes_ok(*arrays):
    return all(isinstance(a, types.Array) and a.dtype == types.uint32 and a.layout == "C" for a in arrays)


@intrinsic
def _mt_init_keep(typingctx, x, need, cap):
    """The init chain from x[lane] = word 0 to word len(need) - 1, in registers (x ends as the last
    word): word w is stored in cap[need[w], lane] wherever need[w] >= 0.

    One loop over the whole chain, with a (rarely taken) store after each step: numba-level runs
    from one kept word to the next, each followed by a copy loop, measured 5-15% slower on one
    output's chain."""
    if not (_lanes_ok(x, cap) and x.ndim == 1 and cap.ndim == 2 and isinstance(need, types.Array)
            and need.dtype == types.int64 and need.ndim == 1 and need.layout == "C"):
        return None

    def codegen(context, builder, sig, args):
        xp, capp = _vectors(context, builder, sig.args[0], args[0]), _vectors(context, builder, sig.args[2], args[2])
        need_arr = context.make_array(sig.args[1])(context, builder, args[1])
        needp = need_arr.data
        top = builder.extract_value(need_arr.shape, 0)
        row = ir.Constant(_I64, LANES // _VEC_LANES)
        zero = ir.Constant(_I64, 0)
        for group in _lane_groups(_MT_VECTORS):
            def keep(w, xs, group=group):
                r = builder.load(builder.gep(needp, [w]))
                with builder.if_then(builder.icmp_signed(">=", r, zero), likely=False):
                    first = builder.mul(r, row)
                    for v, x in zip(group, xs):
                        builder.store(x, builder.gep(capp, [builder.add(first, ir.Constant(_I64, v))]), align=4)

            def body(w, xs):
                add = _splat(builder, builder.trunc(w, _I32))
                xs = [builder.add(_tangle(builder, x, 1812433253), add) for x in xs]
                keep(w, xs)
                return xs

            ptrs = [builder.gep(xp, [ir.Constant(_I32, v)]) for v in group]
            xs = [builder.load(p, align=4) for p in ptrs]
            with builder.if_then(builder.icmp_signed(">", top, zero)):
                keep(zero, xs)
            xs = _chain_loop(builder, xs, ir.Constant(_I64, 1), top, body)
            for p, x in zip(ptrs, xs):
                builder.store(x, p, align=4)
        return context.get_dummy_value()

    return types.void(x, need, cap), codegen


def _group_vectors(builder, group):
    """Vector indices (i64 values) of lane group ``group`` (a runtime index) of _CPYTHON_VECTORS vectors."""
    first = builder.mul(group, ir.Constant(_I64, _CPYTHON_VECTORS))
    return [builder.add(first, ir.Constant(_I64, v)) for v in range(_CPYTHON_VECTORS)]


@intrinsic
def _cpython_pass1_run(typingctx, x, add_a, add_b, st32, base, start, pairs, group):
    """CPython's init_by_array, first pass, on the lanes of ``group`` (CPYTHON_GROUP_LANES lanes):
    steps i = start + 2p and i + 1 for p in [0, pairs), x = (base[i] ^ ((x ^ (x >> 30)) *
    1664525)) + add, add_a at i and add_b at i + 1, each x stored in st32[i]."""
    if not (_lanes_ok(x, add_a, add_b, st32, base) and st32.ndim == 2):
        return None

    def codegen(context, builder, sig, args):
        xp, ap, bp, sp = (_vectors(context, builder, sig.args[j], args[j]) for j in range(4))
        basep = context.make_array(sig.args[4])(context, builder, args[4]).data
        start, pairs = args[5], args[6]
        row = ir.Constant(_I64, LANES // _VEC_LANES)
        vecs = _group_vectors(builder, args[7])
        adds_a = [builder.load(builder.gep(ap, [v]), align=4) for v in vecs]
        adds_b = [builder.load(builder.gep(bp, [v]), align=4) for v in vecs]

        def step(i, xs, adds):
            word = _splat(builder, builder.load(builder.gep(basep, [i])))
            at = builder.mul(i, row)
            out = []
            for v, x, add in zip(vecs, xs, adds):
                x = builder.add(builder.xor(word, _tangle(builder, x, 1664525)), add)
                builder.store(x, builder.gep(sp, [builder.add(at, v)]), align=4)
                out.append(x)
            return out

        def body(p, xs):
            i = builder.add(start, builder.add(p, p))
            xs = step(i, xs, adds_a)
            return step(builder.add(i, ir.Constant(_I64, 1)), xs, adds_b)

        _chain_run(builder, [builder.gep(xp, [v]) for v in vecs], ir.Constant(_I64, 0), pairs, body)
        return context.get_dummy_value()

    return types.void(x, add_a, add_b, st32, base, types.int64, types.int64, types.int64), codegen


def _cpython_pass2_intrinsic(store):
    def pass2(typingctx, x, st32, start, stop, group):
        if not (_lanes_ok(x, st32) and st32.ndim == 2):
            return None

        def codegen(context, builder, sig, args):
            xp, sp = (_vectors(context, builder, sig.args[j], args[j]) for j in range(2))
            row = ir.Constant(_I64, LANES // _VEC_LANES)
            vecs = _group_vectors(builder, args[4])

            def body(i, xs):
                sub = _splat(builder, builder.trunc(i, _I32))
                first = builder.mul(i, row)
                out = []
                for v, x in zip(vecs, xs):
                    at = builder.gep(sp, [builder.add(first, v)])
                    x = builder.sub(builder.xor(builder.load(at, align=4), _tangle(builder, x, 1566083941)), sub)
                    if store:
                        builder.store(x, at, align=4)
                    out.append(x)
                return out

            _chain_run(builder, [builder.gep(xp, [v]) for v in vecs], args[2], args[3], body)
            return context.get_dummy_value()

        return types.void(x, st32, types.int64, types.int64, types.int64), codegen

    pass2.__name__ = "_cpython_pass2_keep" if store else "_cpython_pass2_skip"
    pass2.__doc__ = ("CPython's init_by_array, second pass, on the lanes of ``group``, steps i in [start, "
                     "stop): x = (st32[i] ^ ((x ^ (x >> 30)) * 1566083941)) - i"
                     + (", stored back in st32[i]." if store else "."))
    return intrinsic(pass2)


_cpython_pass2_keep = _cpython_pass2_intrinsic(True)
_cpython_pass2_skip = _cpython_pass2_intrinsic(False)


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
def _mt_out(a, b, c, legacy):
    # Output from words mt[k], mt[k+1], mt[k+397] (valid while k + 397 < 624). PHP <= 7.0 took
    # the twist's odd bit from mt[k] instead of mt[k+1].
    y = U32(U32(a & U32(0x80000000)) | U32(b & U32(0x7FFFFFFF)))
    odd = U32(a & U32(1)) if legacy else U32(b & U32(1))
    mag = U32(0x9908B0DF) if odd else U32(0)
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
def _cpython_step1(st32, cur, word, i, add, l0):
    # mt[i] = (word ^ ((mt[i-1] ^ (mt[i-1] >> 30)) * 1664525)) + key + j, word = init_genrand's mt[i].
    for l in range(l0, l0 + CPYTHON_GROUP_LANES):
        p = cur[l]
        v = U32(U32(word ^ U32(U32(p ^ U32(p >> U32(30))) * U32(1664525))) + add[l])
        cur[l] = v
        st32[i, l] = v


@njit(inline="always")
def _cpython_pass2(st32, prev, start, stop, store, g):
    if store:
        _cpython_pass2_keep(prev, st32, start, stop, g)
    else:
        _cpython_pass2_skip(prev, st32, start, stop, g)


@njit
def _cpython_init(sl, st32, base, top):
    """init_by_array of every lane's key (the seed's 32-bit words, one or two) into st32.

    The lanes are seeded CPYTHON_GROUP_LANES at a time, both passes, so the rows the second pass
    reads back are those the first just wrote. With ``top`` < 227 only the words outputs 0..top-1
    read are kept from the second pass (mt[0], mt[1], mt[2..top], mt[397..396+top], and mt[623]
    for the last step); otherwise all 624.
    """
    add_even = np.empty(LANES, np.uint32)  # key word j = 0, plus j
    add_odd = np.empty(LANES, np.uint32)  # key word j = 1 (or 0 for a one-word key), plus j
    for l in range(LANES):
        s = sl[l]
        add_even[l] = U32(s & MASK32)
        add_odd[l] = U32(U32(s >> U64(32)) + U32(1)) if s >> U64(32) else add_even[l]
    cur = np.empty(LANES, np.uint32)
    prev = np.empty(LANES, np.uint32)
    for g in range(LANES // CPYTHON_GROUP_LANES):
        l0 = g * CPYTHON_GROUP_LANES
        l1 = l0 + CPYTHON_GROUP_LANES
        for l in range(l0, l1):
            st32[0, l] = base[0]
            cur[l] = base[0]
        # First pass, 624 steps: i = 1..623 (step t = i - 1 takes key word t % len(key)), then
        # mt[0] = mt[623] and step 623 again at i = 1. The running word stays in ``cur``.
        _cpython_pass1_run(cur, add_even, add_odd, st32, base, 1, (MT_N - 2) // 2, g)
        _cpython_step1(st32, cur, base[MT_N - 1], MT_N - 1, add_even, l0)
        for l in range(l0, l1):
            st32[0, l] = cur[l]
            p = cur[l]
            st32[1, l] = U32(U32(st32[1, l] ^ U32(U32(p ^ U32(p >> U32(30))) * U32(1664525))) + add_odd[l])
        # Second pass, 623 steps: i = 2..623, then mt[0] = mt[623] and i = 1; the running word stays
        # in ``prev`` and only words an output reads are stored.
        for l in range(l0, l1):
            prev[l] = st32[1, l]
        if top >= MT_STATELESS_LIMIT:
            _cpython_pass2(st32, prev, 2, MT_N, True, g)
        else:
            _cpython_pass2(st32, prev, 2, top + 1, True, g)
            _cpython_pass2(st32, prev, top + 1, MT_M, False, g)
            _cpython_pass2(st32, prev, MT_M, MT_M + top, True, g)
            _cpython_pass2(st32, prev, MT_M + top, MT_N - 1, False, g)
            _cpython_pass2(st32, prev, MT_N - 1, MT_N, True, g)
        for l in range(l0, l1):
            p = st32[MT_N - 1, l]
            st32[1, l] = U32(U32(st32[1, l] ^ U32(U32(p ^ U32(p >> U32(30))) * U32(1566083941))) - U32(1))
            st32[0, l] = U32(0x80000000)


_M31 = np.int64(2147483647)


@njit(cache=True)
def _glibc_seed(sl, st32):
    """srand(seed): the 31 words of glibc's TYPE_3 state.

    glibc computes r[i] = 16807 r[i-1] mod (2^31 - 1) by Schrage's method on int32; its result is
    the non-negative residue (r[0], the seed as an int32, may be negative; 0 becomes 1). Here the
    product is reduced as a Mersenne modulus (x mod 2^31-1 = (x & M) + (x >> 31), then one
    subtraction), lane by lane, which vectorizes; tests/prng/test_runtimes.py compares with glibc.
    """
    for l in range(LANES):
        s = np.int64(sl[l] & MASK32)
        if s == 0:
            s = np.int64(1)
        st32[0, l] = U32(s)
        word = s - np.int64(1 << 32) if s >= np.int64(1 << 31) else s
        # 16807 * word mod M for word in [-2^31, 2^31): shift by 2M to make it non-negative.
        x = np.int64(16807) * (word + np.int64(2) * _M31)
        x = (x & _M31) + (x >> np.int64(31))
        x = (x & _M31) + (x >> np.int64(31))
        if x >= _M31:
            x -= _M31
        st32[1, l] = U32(x)
    for i in range(2, 31):
        for l in range(LANES):
            x = np.int64(16807) * np.int64(st32[i - 1, l])
            x = (x & _M31) + (x >> np.int64(31))
            if x >= _M31:
                x -= _M31
            st32[i, l] = U32(x)


@njit(inline="always")
def _init(gen, sl, st32, st64, base, top):
    """Seed every lane's state (st32 rows are 32-bit words, st64 rows 64-bit words)."""
    if gen == MT19937 or gen == MT_PHP_LEGACY:
        cur = np.empty(LANES, np.uint32)
        for l in range(LANES):
            cur[l] = U32(sl[l] & MASK32)
            st32[0, l] = cur[l]
        for i in range(1, MT_N):
            for l in range(LANES):
                cur[l] = _mt_chain(cur[l], i)
                st32[i, l] = cur[l]
    elif gen == MT_CPYTHON:
        _cpython_init(sl, st32, base, top)
    elif gen == JAVA_RANDOM:
        for l in range(LANES):
            st64[0, l] = U64(sl[l] ^ _JAVA_MULT) & _JAVA_MASK
    elif gen == MINSTD_RAND or gen == MINSTD_RAND0:
        for l in range(LANES):
            s = U64(sl[l] & MASK32) % _MINSTD_M
            st64[0, l] = s if s != U64(0) else U64(1)
    elif gen == XORSHIFT32:
        for l in range(LANES):
            st32[0, l] = U32(sl[l] & MASK32)
    elif gen == XORSHIFT128:
        for l in range(LANES):
            st32[0, l] = U32(sl[l] & MASK32)
            st32[1, l] = U32(362436069)
            st32[2, l] = U32(521288629)
            st32[3, l] = U32(88675123)
    elif gen == PCG32:
        for l in range(LANES):
            s = U64(U64(U64(0) * _PCG_MULT) + _PCG_INC)
            s = U64(s + U64(sl[l] & MASK32))
            st64[0, l] = U64(U64(s * _PCG_MULT) + _PCG_INC)
    elif gen == XOSHIRO128PP:
        for l in range(LANES):
            x, a = _splitmix(U64(sl[l] & MASK32))
            x, b = _splitmix(x)
            st32[0, l] = U32(a & MASK32)
            st32[1, l] = U32(a >> U64(32))
            st32[2, l] = U32(b & MASK32)
            st32[3, l] = U32(b >> U64(32))


@njit
def _mt_twist(st32, legacy):
    for i in range(MT_N):
        j = i + 1 if i + 1 < MT_N else 0
        k = i + MT_M if i + MT_M < MT_N else i + MT_M - MT_N
        for l in range(LANES):
            u = st32[i, l]
            y = U32(U32(u & U32(0x80000000)) | U32(st32[j, l] & U32(0x7FFFFFFF)))
            odd = U32(u & U32(1)) if legacy else U32(st32[j, l] & U32(1))
            mag = U32(0x9908B0DF) if odd else U32(0)
            st32[i, l] = U32(U32(st32[k, l] ^ U32(y >> U32(1))) ^ mag)


@njit(inline="always")
def _next(gen, st32, st64, index, out):
    """Advance every lane by one output; ``index`` is the output number being produced."""
    if gen == MT19937 or gen == MT_CPYTHON or gen == MT_PHP_LEGACY:
        k = index % MT_N
        if k == 0:
            _mt_twist(st32, gen == MT_PHP_LEGACY)
        for l in range(LANES):
            out[l] = _temper(st32[k, l])
    elif gen == JAVA_RANDOM:
        for l in range(LANES):
            s = U64(U64(U64(st64[0, l] * _JAVA_MULT) + _JAVA_ADD) & _JAVA_MASK)
            st64[0, l] = s
            out[l] = U32(U64(s >> U64(16)) & MASK32)
    elif gen == MINSTD_RAND:
        for l in range(LANES):
            s = _minstd_step(st64[0, l], U64(48271))
            st64[0, l] = s
            out[l] = U32(s)
    elif gen == MINSTD_RAND0:
        for l in range(LANES):
            s = _minstd_step(st64[0, l], U64(16807))
            st64[0, l] = s
            out[l] = U32(s)
    elif gen == XORSHIFT32:
        for l in range(LANES):
            s = st32[0, l]
            s = U32(s ^ U32(s << U32(13)))
            s = U32(s ^ U32(s >> U32(17)))
            s = U32(s ^ U32(s << U32(5)))
            st32[0, l] = s
            out[l] = s
    elif gen == XORSHIFT128:
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
    elif gen == PCG32:
        for l in range(LANES):
            old = st64[0, l]
            st64[0, l] = U64(U64(old * _PCG_MULT) + _PCG_INC)
            out[l] = _pcg_output(old)
    elif gen == XOSHIRO128PP:
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


def glibc_coefficients(n_outputs):
    """(n_outputs, 31) uint32: rand() call k is (coef[k] . r mod 2^32) >> 1, r the 31 seeded words.

    glibc's TYPE_3 sequence is r[i] = r[i-31] for 31 <= i <= 33 and r[i] = r[i-31] + r[i-3] for
    i >= 34 (mod 2^32), and srand discards 310 values, so call k returns r[k + 344] >> 1: a fixed
    linear map of the seeded words, with no discards to run per seed.
    """
    total = 344 + max(int(n_outputs), 0)
    c = np.zeros((max(total, 31), 31), dtype=np.uint64)
    c[np.arange(31), np.arange(31)] = 1
    for i in range(31, total):
        c[i] = c[i - 31] if i <= 33 else (c[i - 31] + c[i - 3]) & 0xFFFFFFFF
    return np.ascontiguousarray(c[344:total].astype(np.uint32))


NO_COEF = np.zeros((0, 31), dtype=np.uint32)


@njit(inline="always")
def _block_outputs(gen, sl, uidx, res, st32, st64, out, need, cap, coef, base):
    """Fill res[k, lane] with the raw output number uidx[k] (sorted, unique) of each lane."""
    if uidx.size == 0:
        return
    if gen == GLIBC:
        _glibc_seed(sl, st32)
        for t in range(uidx.size):
            row = coef[uidx[t]]
            for l in range(LANES):
                res[t, l] = U32(0)
            for j in range(31):
                c = row[j]
                for l in range(LANES):
                    res[t, l] = U32(res[t, l] + U32(c * st32[j, l]))
            for l in range(LANES):
                res[t, l] = U32(res[t, l] >> U32(1))
        return
    if (gen == MT19937 or gen == MT_PHP_LEGACY) and uidx[-1] < MT_STATELESS_LIMIT:
        # php_mt_seed's trick: outputs < 227 need only init words, no array, no twist.
        legacy = gen == MT_PHP_LEGACY
        for l in range(LANES):
            out[l] = U32(sl[l] & MASK32)
        _mt_init_keep(out, need, cap)
        for t in range(uidx.size):
            k = uidx[t]
            ra, rb, rc = need[k], need[k + 1], need[k + MT_M]
            for l in range(LANES):
                res[t, l] = _mt_out(cap[ra, l], cap[rb, l], cap[rc, l], legacy)
        return
    _init(gen, sl, st32, st64, base, uidx[-1] + 1)
    if gen == MT_CPYTHON and uidx[-1] < MT_STATELESS_LIMIT:
        for t in range(uidx.size):
            k = uidx[t]
            for l in range(LANES):
                res[t, l] = _mt_out(st32[k, l], st32[k + 1, l], st32[k + MT_M, l], False)
        return
    t = 0
    for i in range(uidx[-1] + 1):
        _next(gen, st32, st64, i, out)
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
def _value(mp, raw, modi, inv, a, b):
    """The draw one raw output makes under mapping ``mp``, or -1 when the runtime rejects it."""
    if mp == MAP_MOD:
        return _residue(raw, inv, modi)
    if mp == MAP_JAVA_INT:
        r = np.int64(raw >> U32(1))
        if a:
            return (modi * r) >> np.int64(31)
        # Java rejects when u - u % bound + bound - 1 overflows an int: exactly when u >= b.
        return _residue(r, inv, modi) if r < b else np.int64(-1)
    if mp == MAP_TOPBITS:
        return np.int64(raw >> U32(a))
    if mp == MAP_RANDBELOW:
        r = np.int64(raw >> U32(a))
        return r if r < modi else np.int64(-1)
    if mp == MAP_MASKED:
        v = np.int64(raw & U32(a))
        return v if v < modi else np.int64(-1)
    if mp == MAP_PHP_RANGE:
        if b == 2:
            return np.int64(raw)
        if b == 1:
            return np.int64(raw) & (modi - 1)
        return _residue(raw, inv, modi) if np.int64(raw) <= a else np.int64(-1)
    if mp == MAP_PHP_SCALE:
        return np.int64(np.float64(modi) * (np.float64(raw >> U32(1)) * _INV_2_31))
    if mp == MAP_SHR1_MOD:
        return _residue(raw >> U32(1), inv, modi)
    if mp == MAP_LEMIRE:
        if b:
            return np.int64(raw)
        product = U64(U64(raw) * U64(modi))
        if np.int64(product & MASK32) < a:
            return np.int64(-1)
        return np.int64(product >> U64(32))
    # MAP_MINSTD_DOWN
    ret = np.int64(raw) - 1
    if a == 0:
        return ret
    return ret // a if ret < b else np.int64(-1)


@njit(inline="always")
def _rejected(mp, raw, modi, a, b):
    """Whether the runtime rejects this raw output (without computing the draw)."""
    if mp == MAP_JAVA_INT:
        return np.int64(raw >> U32(1)) >= b
    if mp == MAP_RANDBELOW:
        return np.int64(raw >> U32(a)) >= modi
    if mp == MAP_MASKED:
        return np.int64(raw & U32(a)) >= modi
    if mp == MAP_PHP_RANGE:
        return b == 0 and np.int64(raw) > a
    if mp == MAP_LEMIRE:
        return b == 0 and np.int64(U64(U64(raw) * U64(modi)) & MASK32) < a
    if mp == MAP_MINSTD_DOWN:
        return a != 0 and np.int64(raw) - 1 >= b
    return False


@njit(inline="always")
def _lanes(seeds, start, lo, count, sl):
    if seeds.size:
        for l in range(LANES):
            sl[l] = seeds[U64(lo) + U64(l)] if l < count else U64(0)
    else:
        first = U64(start + U64(lo))
        for l in range(LANES):
            sl[l] = U64(first + U64(l))


@njit(cache=True)
def _walk(mp, res, n_out, cidx, vals, modi, inv, a, b, lane):
    """Draws at call indices cidx of one lane from its raw outputs res[0..n_out); False if too few."""
    pos = 0
    t = 0
    call = 0
    last = cidx[cidx.size - 1]
    while call <= last:
        v = np.int64(-1)
        while v < 0:
            if pos >= n_out:
                return False
            v = _value(mp, res[pos, lane], modi, inv, a, b)
            pos += 1
        if cidx[t] == call:
            vals[t, lane] = v
            t += 1
        call += 1
    return True


@njit(inline="always")
def _map_rows(mp, res, rows, vals, modi, inv, a, b):
    """vals[t, lane] = the draw output res[rows[t], lane] makes (the mapping chosen outside the loops)."""
    if mp == MAP_MOD:
        for t in range(rows.size):
            k = rows[t]
            for l in range(LANES):
                vals[t, l] = _residue(res[k, l], inv, modi)
    elif mp == MAP_SHR1_MOD:
        for t in range(rows.size):
            k = rows[t]
            for l in range(LANES):
                vals[t, l] = _residue(res[k, l] >> U32(1), inv, modi)
    elif mp == MAP_JAVA_INT:
        for t in range(rows.size):
            k = rows[t]
            for l in range(LANES):
                vals[t, l] = _value(MAP_JAVA_INT, res[k, l], modi, inv, a, b)
    else:
        for t in range(rows.size):
            k = rows[t]
            for l in range(LANES):
                vals[t, l] = _value(mp, res[k, l], modi, inv, a, b)


@njit(inline="always")
def _map_prefix(mp, res, cidx, vals, modi, inv, a, b):
    """Draws of outputs 0..cidx[-1] as if no output were rejected, kept at rows cidx into vals;
    True when some output was rejected (then the draws are wrong and the block must walk).

    The mappings that rarely reject at common bounds have their own loops (a mapping chosen inside
    a loop keeps it from vectorizing; each loop adds to the kernels' compile time): Java's
    nextInt, PHP's mt_rand(a, b) and libstdc++'s uniform_int_distribution. CPython's and numpy's
    reject often enough that their blocks go straight to the lock-step walk (_lockstep).
    """
    bad = False
    t = 0
    last = cidx[cidx.size - 1]
    if mp == MAP_JAVA_INT and not a:
        # u = next(31), rejected when u >= b.
        for k in range(last + 1):
            if cidx[t] == k:
                for l in range(LANES):
                    r = np.int64(res[k, l] >> U32(1))
                    vals[t, l] = _residue(r, inv, modi)
                    if r >= b:
                        bad = True
                t += 1
            else:
                for l in range(LANES):
                    if np.int64(res[k, l] >> U32(1)) >= b:
                        bad = True
        return bad
    if mp == MAP_PHP_RANGE and b == 0:
        # rand_range32: rejected while the output > a, else output % mod.
        for k in range(last + 1):
            if cidx[t] == k:
                for l in range(LANES):
                    raw = np.int64(res[k, l])
                    vals[t, l] = _residue(raw, inv, modi)
                    if raw > a:
                        bad = True
                t += 1
            else:
                for l in range(LANES):
                    if np.int64(res[k, l]) > a:
                        bad = True
        return bad
    if mp == MAP_LEMIRE and b == 0:
        # _S_nd: product = output * mod, rejected while its low word < a, else its high word.
        for k in range(last + 1):
            if cidx[t] == k:
                for l in range(LANES):
                    product = U64(U64(res[k, l]) * U64(modi))
                    vals[t, l] = np.int64(product >> U64(32))
                    if np.int64(product & MASK32) < a:
                        bad = True
                t += 1
            else:
                for l in range(LANES):
                    if np.int64(U64(U64(res[k, l]) * U64(modi)) & MASK32) < a:
                        bad = True
        return bad
    for k in range(last + 1):
        if cidx[t] == k:
            for l in range(LANES):
                v = _value(mp, res[k, l], modi, inv, a, b)
                vals[t, l] = v
                bad |= v < 0
            t += 1
        else:
            for l in range(LANES):
                bad |= _rejected(mp, res[k, l], modi, a, b)
    return bad


@njit(inline="always")
def _lockstep_values(mp, res, k, v, a):
    # The value output k makes in each lane before the rejection test, the mapping chosen outside.
    if mp == MAP_MASKED:
        for l in range(LANES):
            v[l] = np.int64(res[k, l] & U32(a))
    else:
        for l in range(LANES):
            v[l] = np.int64(res[k, l] >> U32(a))


@njit
def _lockstep(mp, res, n_out, cidx, vals, modi, a):
    """Exact draws at call indices cidx of every lane at once, for the two mappings that reject
    outright (CPython's randbelow: raw >> a, numpy's masked: raw & a; rejected while >= mod):
    output k, when accepted, is call cnt[lane] of its lane. Vectorizes over the lanes, unlike
    walking them one by one. False if some lane had too few outputs."""
    last = cidx[cidx.size - 1]
    cnt = np.zeros(LANES, np.int64)
    v = np.empty(LANES, np.int64)
    for k in range(n_out):
        _lockstep_values(mp, res, k, v, a)
        for t in range(cidx.size):
            c = cidx[t]
            if c > k:
                break  # call c needs at least c + 1 outputs
            for l in range(LANES):
                vals[t, l] = v[l] if (cnt[l] == c) & (v[l] < modi) else vals[t, l]
        least = last + 1
        for l in range(LANES):
            cnt[l] += v[l] < modi
            least = min(least, cnt[l])
        if least > last:
            return True
    return False


@njit
def _walk_block(call, sl, cidx, vals, st64, out, coef, base, res):
    """Exact draws of a block in which some seed rejected: each seed's outputs walked in order."""
    gen, mp, modi, a, b = call[0], call[1], call[2], call[3], call[4]
    inv = 1.0 / np.float64(modi)
    n_out = res.shape[0]
    while True:
        if mp == MAP_MASKED or mp == MAP_RANDBELOW:
            done = _lockstep(mp, res, n_out, cidx, vals, modi, a)
        else:
            done = True
            for l in range(LANES):
                if not _walk(mp, res, n_out, cidx, vals, modi, inv, a, b, l):
                    done = False
        if done:
            return
        # A seed rejected more outputs than were generated: generate twice as many and walk again.
        n_out *= 2
        uidx = np.arange(n_out)
        res = np.empty((n_out, LANES), np.uint32)
        st32 = np.empty((MT_N, LANES), np.uint32)
        if (gen == MT19937 or gen == MT_PHP_LEGACY) and n_out <= MT_STATELESS_LIMIT:
            need, rows = _mt_need_map(uidx)
        else:
            need, rows = np.empty(0, np.int64), 0
        cap = np.empty((max(rows, 1), LANES), np.uint32)
        _block_outputs(gen, sl, uidx, res, st32, st64, out, need, cap, coef, base)


@njit(inline="always")
def _block_calls(call, sl, cidx, vals, st32, st64, out, coef, base, uidx, need, cap, res, rows):
    """Fill vals[t, lane] with the draw of call cidx[t] (sorted, unique) of each lane.

    ``uidx`` is cidx itself for a mapping that never rejects, else arange(len(res)) (see
    outputs_needed); ``rows`` is arange(len(cidx)) for the first case.
    """
    gen, mp, modi, a, b, rejects = call[0], call[1], call[2], call[3], call[4], call[5]
    inv = 1.0 / np.float64(modi)
    _block_outputs(gen, sl, uidx, res, st32, st64, out, need, cap, coef, base)
    if not rejects:
        _map_rows(mp, res, rows, vals, modi, inv, a, b)
    elif mp == MAP_MASKED or mp == MAP_RANDBELOW or _map_prefix(mp, res, cidx, vals, modi, inv, a, b):
        # Some seed of the block rejected an output before its last call (nearly every block, for
        # the two mappings that reject outright): walk every seed.
        _walk_block(call, sl, cidx, vals, st64, out, coef, base, res)
    # Otherwise call c is output c for every seed of the block, as _map_prefix assumed.


def outputs_needed(call, cidx):
    """The raw output indices a block generates first for these call indices."""
    if not call[5]:
        return np.asarray(cidx, dtype=np.int64)
    slack = MT_SLACK if call[0] in (MT19937, MT_CPYTHON, MT_PHP_LEGACY) else 0
    return np.arange(int(cidx[-1]) + 1 + slack, dtype=np.int64) if len(cidx) else np.empty(0, np.int64)


@njit(inline="always")
def _buffers(gen, uidx, ncidx):
    nwords = MT_N if gen in (MT19937, MT_CPYTHON, MT_PHP_LEGACY, GLIBC) else 4
    if uidx.size and (gen == MT19937 or gen == MT_PHP_LEGACY) and uidx[-1] < MT_STATELESS_LIMIT:
        need, rows = _mt_need_map(uidx)
    else:
        need, rows = np.empty(0, np.int64), 0
    return nwords, need, rows


@njit(inline="always")
def _block_buffers(uidx, cidx, nwords, rows):
    """One parallel task's buffers: lane seeds, raw outputs, draws, 32- and 64-bit states, one
    output per lane, and the Mersenne Twister's kept init words."""
    return (np.empty(LANES, np.uint64), np.empty((max(uidx.size, 1), LANES), np.uint32),
            np.empty((max(cidx.size, 1), LANES), np.int64), np.empty((nwords, LANES), np.uint32),
            np.empty((1, LANES), np.uint64), np.empty(LANES, np.uint32), np.empty((max(rows, 1), LANES), np.uint32))


@njit(inline="always")
def _block_draws(call, b, start, n, seeds, cidx, uidx, coef, base, sl, res, vals, st32, st64, out, need, cap,
                 rows_):
    """Draws vals[t, lane] of block b's seeds at calls cidx; returns (first seed's row, seeds in the block)."""
    lo = b * LANES
    count = min(LANES, n - lo)
    _lanes(seeds, start, lo, count, sl)
    if cidx.size:
        _block_calls(call, sl, cidx, vals, st32, st64, out, coef, base, uidx, need, cap, res, rows_)
    return lo, count


@njit(inline="always")
def _any_target(h, vals, tpos, tval):
    """h[lane] = 1 where some target t has vals[tpos[t], lane] == tval[t], else 0."""
    h[:] = 0
    for t in range(tpos.size):
        p = tpos[t]
        d = tval[t]
        for l in range(LANES):
            h[l] |= U32(vals[p, l] == d)


@njit(parallel=True, cache=True)
def count_matches(call, start, n, seeds, cidx, uidx, tpos, tval, tslot, nslots, coef, base):
    """Per seed and slot, how many targets match: counts[seed, slot] (uint16).

    Seeds are ``seeds`` when it is non-empty, else the range [start, start + n). Target t
    compares the draw of call number cidx[tpos[t]] with tval[t] and adds to slot tslot[t];
    ``uidx`` are the outputs a block generates first (``_outputs_needed``).
    """
    if seeds.size:
        n = seeds.size
    counts = np.zeros((n, nslots), np.uint16)
    nblk = (n + LANES - 1) // LANES
    nwords, need, rows = _buffers(call[0], uidx, cidx.size)
    rows_ = np.arange(cidx.size)
    for g in prange((nblk + GROUP - 1) // GROUP):
        sl, res, vals, st32, st64, out, cap = _block_buffers(uidx, cidx, nwords, rows)
        acc = np.empty((nslots, LANES), np.uint16)
        for b in range(g * GROUP, min(nblk, (g + 1) * GROUP)):
            lo, count = _block_draws(call, b, start, n, seeds, cidx, uidx, coef, base, sl, res, vals, st32, st64,
                                     out, need, cap, rows_)
            acc[:] = 0
            for t in range(tpos.size):
                p = tpos[t]
                d = tval[t]
                s = tslot[t]
                for l in range(LANES):
                    acc[s, l] += U32(vals[p, l] == d)
            for l in range(count):
                for s in range(nslots):
                    counts[U64(lo) + U64(l), s] = acc[s, l]
    return counts


# java.util.Random's stage 1 over a seed range (the kernels' fastest case, so it has its own path):
# after k + 1 steps the state is y * A_k + C_k (mod 2^48), y = (seed ^ 0x5DEECE66D) & (2^48 - 1).
# Over LANES consecutive seeds starting at S0 + r (S0 a multiple of LANES), y is one of two bases
# plus a small offset, so each state is a base plus a table entry: no multiply per seed.
JAVA_FAST_CALLS = 64  # call indices up to this use the path (its tables hold a row per output)


@njit
def _java_tables(top):
    """(A, C, O): the jumps of outputs 0..top and O[k, j] = (((j % L) ^ (0x5DEECE66D % L)) * A[k]) mod 2^48."""
    a = np.empty(top + 1, np.uint64)
    c = np.empty(top + 1, np.uint64)
    o = np.empty((top + 1, 2 * LANES), np.uint64)
    low = U64(LANES - 1)
    ak, ck = U64(1), U64(0)
    for k in range(top + 1):
        ak = U64(ak * _JAVA_MULT) & _JAVA_MASK
        ck = U64(U64(ck * _JAVA_MULT) + _JAVA_ADD) & _JAVA_MASK
        a[k], c[k] = ak, ck
        for j in range(2 * LANES):
            o[k, j] = U64(U64(U64(U64(j) & low) ^ U64(_JAVA_MULT & low)) * ak) & _JAVA_MASK
    return a, c, o


@njit(inline="always")
def _java_fast(call, seeds, cidx):
    return (call[0] == JAVA_RANDOM and (call[1] == MAP_JAVA_INT or call[1] == MAP_MOD) and seeds.size == 0
            and cidx.size > 0 and cidx[cidx.size - 1] < JAVA_FAST_CALLS)


@njit(inline="always")
def _java_raw(b0, b1, split, jo, k, r, l):
    # Output k, next(32), of lane l: its state is base 0 (lanes below split) or base 1, plus its offset.
    return U32(U64(U64(U64(b0 if l < split else b1) + jo[k, r + l]) & _JAVA_MASK) >> U64(16))


@njit(inline="always")
def _java_block(call, first, cidx, jvals, ja, jc, jo):
    """Draws jvals[t, lane] of calls cidx of seeds first + lane (LANES of them), as if no output
    were rejected; True when some output up to the last call was (then the block takes the exact path).
    Each mapping has its own loops: a mapping chosen inside them would not vectorize."""
    mp, modi, a, b, rejects = call[1], call[2], call[3], call[4], call[5]
    inv = 1.0 / np.float64(modi)
    low = U64(LANES - 1)
    r = np.int64(first & low)
    y0 = U64(U64(U64(first & ~low) ^ _JAVA_MULT) & _JAVA_MASK) & ~low
    y1 = U64(U64(U64(U64(first & ~low) + U64(LANES)) ^ _JAVA_MULT) & _JAVA_MASK) & ~low
    split = LANES - r  # lanes below this take base 0, the rest base 1
    bad = False
    t = 0
    for k in range(cidx[cidx.size - 1] + 1):
        if cidx[t] != k and not rejects:
            continue
        b0 = U64(U64(y0 * ja[k]) + jc[k])
        b1 = U64(U64(y1 * ja[k]) + jc[k])
        if cidx[t] != k:
            # An output no call here reads, checked for a rejection only (nextInt(bound): u >= b).
            for l in range(LANES):
                if np.int64(_java_raw(b0, b1, split, jo, k, r, l) >> U32(1)) >= b:
                    bad = True
            continue
        if mp == MAP_MOD:
            for l in range(LANES):
                jvals[t, l] = _residue(_java_raw(b0, b1, split, jo, k, r, l), inv, modi)
        elif a:
            # nextInt(bound), bound a power of two: (bound * next(31)) >> 31, never rejected.
            for l in range(LANES):
                jvals[t, l] = (modi * np.int64(_java_raw(b0, b1, split, jo, k, r, l) >> U32(1))) >> np.int64(31)
        else:
            for l in range(LANES):
                u = np.int64(_java_raw(b0, b1, split, jo, k, r, l) >> U32(1))
                jvals[t, l] = _residue(u, inv, modi)
                if u >= b:
                    bad = True
        t += 1
    return bad


@intrinsic
def _hit_mask(typingctx, h, masks, b):
    """masks[b * 16 + v] = the hit bits of lanes 16 v .. 16 v + 15 (bit j: h[16 v + j] != 0), one
    vector compare each."""
    if not (_lanes_ok(h) and h.ndim == 1 and isinstance(masks, types.Array) and masks.dtype == types.uint16
            and masks.ndim == 1 and masks.layout == "C" and isinstance(b, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        hp = _vectors(context, builder, sig.args[0], args[0])
        mp = context.make_array(sig.args[1])(context, builder, args[1]).data
        per_block = LANES // _VEC_LANES
        first = builder.mul(context.cast(builder, args[2], sig.args[2], types.int64), ir.Constant(_I64, per_block))
        zero = ir.Constant(_VEC, [0] * _VEC_LANES)
        for v in range(per_block):
            x = builder.load(builder.gep(hp, [ir.Constant(_I64, v)]), align=4)
            bits = builder.bitcast(builder.icmp_unsigned("!=", x, zero), ir.IntType(_VEC_LANES))
            builder.store(bits, builder.gep(mp, [builder.add(first, ir.Constant(_I64, v))]), align=2)
        return context.get_dummy_value()

    return types.void(h, masks, b), codegen


MASK_WORDS = LANES // _VEC_LANES  # uint16 hit masks per block


@njit(inline="always")
def _any_keep(h, b, count, masks, hits):
    """Block b's hit bits (none past the range's last seed), and its number of hits."""
    for l in range(count, LANES):
        h[l] = U32(0)
    c = np.int64(0)
    for l in range(LANES):
        c += np.int64(h[l])
    hits[b] = U32(c)
    _hit_mask(h, masks, b)


@njit(inline="always")
def _any_block(call, b, start, n, seeds, cidx, uidx, tpos, tval, coef, base, sl, res, vals, st32, st64, out,
               need, cap, rows_, h, masks, hits):
    lo, count = _block_draws(call, b, start, n, seeds, cidx, uidx, coef, base, sl, res, vals, st32, st64, out,
                             need, cap, rows_)
    _any_target(h, vals, tpos, tval)
    _any_keep(h, b, count, masks, hits)


@intrinsic
def _claim(typingctx, counter):
    """The value of counter[0] before adding 1 to it, atomically: the next task for a worker."""
    if not (isinstance(counter, types.Array) and counter.dtype == types.int64 and counter.ndim == 1):
        return None

    def codegen(context, builder, sig, args):
        arr = context.make_array(sig.args[0])(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, sig.args[0], arr, [ir.Constant(_I64, 0)])
        return builder.atomic_rmw("add", ptr, ir.Constant(_I64, 1), "monotonic")

    return types.int64(counter), codegen


@njit(inline="always")
def _any_task(call, task, size, nblk, fast, start, n, seeds, cidx, uidx, tpos, tval, coef, base, sl, res, vals, st32,
               st64, out, need, cap, rows_, h, masks, hits, ja, jc, jo):
    """Stage 1 of the blocks of task ``task`` (``size`` blocks)."""
    for b in range(task * size, min(nblk, (task + 1) * size)):
        lo = b * LANES
        # A whole block of a java.util.Random range takes its own path, unless a seed rejected.
        if fast and lo + LANES <= n and not _java_block(call, U64(start + U64(lo)), cidx, vals, ja, jc, jo):
            _any_target(h, vals, tpos, tval)
            _any_keep(h, b, LANES, masks, hits)
            continue
        _any_block(call, b, start, n, seeds, cidx, uidx, tpos, tval, coef, base, sl, res, vals, st32, st64,
                   out, need, cap, rows_, h, masks, hits)


def any_match(call, start, n, seeds, cidx, uidx, tpos, tval, coef, base):
    """Stage-1 filter: 1 where any target matches, else 0 (uint8 per seed).

    Seeds are ``seeds`` when it is non-empty, else the range [start, start + n). One task per
    thread, each claiming a run of blocks at a time until none are left (TASK blocks at least,
    TASKS_PER_THREAD runs per thread at most): a thread that runs slower (a shared core, a virtual
    machine's neighbour) takes fewer blocks, where an even split would leave the other threads
    waiting for it at the end of every call.
    """
    n = seeds.size if seeds.size else n
    return hit_bytes(_any_match(call, start, n, seeds, cidx, uidx, tpos, tval, coef, base, get_num_threads())[0])[:n]


def candidates(call, start, n, seeds, cidx, uidx, tpos, tval, coef, base):
    """The seeds that pass stage 1 (uint64, in order): any_match's seeds with a hit.

    Stage 1 keeps one bit per seed and counts each block's hits as it goes, so gathering the seeds
    reads only the bits of the blocks that have one. A byte per seed, read back by a separate pass,
    cost the light generators' sweeps a large share of their time: its array outgrew the caches,
    and the pass ran at about 1 G entries/s, as fast as their stage 1.
    """
    masks, hits = _any_match(call, start, n, seeds, cidx, uidx, tpos, tval, coef, base, get_num_threads())
    return _gather(masks, hits, start, seeds)


@njit(cache=True)
def hit_bytes(masks):
    """Stage 1's hit bits as one uint8 (0 or 1) per seed, whole blocks."""
    words = masks.view(np.uint64)
    out = np.empty(words.size * 64, np.uint8)
    for i in range(out.size):
        out[i] = np.uint8((words[i >> 6] >> U64(i & 63)) & U64(1))
    return out


@njit(cache=True)
def _gather(masks, hits, start, seeds):
    """Seeds of the set bits of ``masks``, in order, reading only the blocks with a hit."""
    total = 0
    for b in range(hits.size):
        total += hits[b]
    out = np.empty(total, np.uint64)
    words = masks.view(np.uint64)
    per_block = LANES // 64
    j = 0
    for b in range(hits.size):
        if hits[b] == 0:
            continue
        for w in range(b * per_block, (b + 1) * per_block):
            m = words[w]
            while m:
                i = np.int64(w * 64) + np.int64(trailing_zeros(m))
                out[j] = seeds[i] if seeds.size else U64(start + U64(i))
                j += 1
                m &= m - U64(1)
    return out


@njit(parallel=True, cache=True)
def _any_match(call, start, n, seeds, cidx, uidx, tpos, tval, coef, base, threads):
    """(hit bits, MASK_WORDS uint16 per block of LANES seeds, bit j of word v for lane 16 v + j;
    hits per block)."""
    if seeds.size:
        n = seeds.size
    nblk = (n + LANES - 1) // LANES
    masks = np.empty(nblk * MASK_WORDS, np.uint16)  # every word is written
    size = max(TASK, nblk // (TASKS_PER_THREAD * max(1, threads)))
    ntasks = (nblk + size - 1) // size
    nwork = min(threads, ntasks)
    nwords, need, rows = _buffers(call[0], uidx, cidx.size)
    rows_ = np.arange(cidx.size)
    fast = _java_fast(call, seeds, cidx)
    ja, jc, jo = _java_tables(cidx[cidx.size - 1] if fast else 0)
    hits = np.empty(nblk, np.uint32)  # and every block's
    counter = np.zeros(1, np.int64)
    for _w in prange(nwork):
        sl, res, vals, st32, st64, out, cap = _block_buffers(uidx, cidx, nwords, rows)
        h = np.empty(LANES, np.uint32)
        task = _claim(counter)
        while task < ntasks:
            _any_task(call, task, size, nblk, fast, start, n, seeds, cidx, uidx, tpos, tval, coef, base, sl, res, vals,
                      st32, st64, out, need, cap, rows_, h, masks, hits, ja, jc, jo)
            task = _claim(counter)
    return masks, hits


@njit(parallel=True, cache=True)
def calls_at(call, seeds, cidx, uidx, coef, base):
    """Draws of every seed at the sorted, unique call indices cidx: (n, len(cidx)) int64."""
    n = seeds.size
    result = np.empty((n, cidx.size), np.int64)
    nblk = (n + LANES - 1) // LANES
    nwords, need, rows = _buffers(call[0], uidx, cidx.size)
    rows_ = np.arange(cidx.size)
    for g in prange((nblk + GROUP - 1) // GROUP):
        sl, res, vals, st32, st64, out, cap = _block_buffers(uidx, cidx, nwords, rows)
        for b in range(g * GROUP, min(nblk, (g + 1) * GROUP)):
            lo, count = _block_draws(call, b, U64(0), n, seeds, cidx, uidx, coef, base, sl, res, vals, st32, st64,
                                     out, need, cap, rows_)
            for l in range(count):
                for k in range(cidx.size):
                    result[U64(lo) + U64(l), k] = vals[k, l]
    return result


@njit(parallel=True, cache=True)
def raw_at(gen, seeds, uidx, coef, base):
    """Raw outputs of every seed at the sorted, unique output numbers uidx: (n, len(uidx)) int64."""
    n = seeds.size
    result = np.empty((n, uidx.size), np.int64)
    nblk = (n + LANES - 1) // LANES
    nwords, need, rows = _buffers(gen, uidx, uidx.size)
    for g in prange((nblk + GROUP - 1) // GROUP):
        sl, res, _, st32, st64, out, cap = _block_buffers(uidx, uidx[:0], nwords, rows)
        for b in range(g * GROUP, min(nblk, (g + 1) * GROUP)):
            lo = b * LANES
            count = min(LANES, n - lo)
            _lanes(seeds, U64(0), lo, count, sl)
            _block_outputs(gen, sl, uidx, res, st32, st64, out, need, cap, coef, base)
            for l in range(count):
                for k in range(uidx.size):
                    result[U64(lo) + U64(l), k] = res[k, l]
    return result
