// seedsift sieve kernels, one seed per thread: the GPU form of seedsift/prng/kernels.py.
//
// One source for three compilers: NVRTC (CUDA) and hipRTC (ROCm), both through CuPy's RawModule,
// and g++ with cpu_prelude.h for the CPU build that the tests compare with the numba kernels.
// So it uses only what all three understand: C++14 without the standard library, templates,
// blockIdx/blockDim/threadIdx, atomicAdd on unsigned long long and __umul64hi.
//
// A call is a generator (GEN) and a mapping (MAP) from raw 32-bit outputs to draws; both are
// template parameters, so each call's kernels are compiled for it alone (SIEVE_GEN and SIEVE_MAP
// select one pair; without them every pair of SIEVE_CALLS is built). The ids are those of
// seedsift/prng/kernels.py. The mapping's numbers (mod, a, b, rejects, the fastmod constant) come
// in the int64 array prm, laid out as PRM_* below (seedsift/prng/gpu/plan.py writes it).
//
// Draws are made in call order per seed: a mapping without rejections asks the generator for the
// outputs at the call indices cidx only; one with rejections walks every output and counts the
// accepted ones, exactly as the runtime does. The targets of call index cidx[t] are
// tval[toff[t] .. toff[t+1]) (with slot tslot[...] in stage 2).

typedef unsigned int u32;
typedef unsigned long long u64;
typedef long long i64;
typedef unsigned short u16;

// Generators (seedsift.prng.kernels).
#define G_MT19937 0
#define G_JAVA_RANDOM 1
#define G_MINSTD_RAND 2
#define G_MINSTD_RAND0 3
#define G_XORSHIFT32 4
#define G_XORSHIFT128 5
#define G_PCG32 6
#define G_XOSHIRO128PP 7
#define G_MT_CPYTHON 8
#define G_MT_PHP_LEGACY 9
#define G_GLIBC 10

// Mappings (seedsift.prng.kernels).
#define M_MOD 0
#define M_JAVA_INT 1
#define M_TOPBITS 2
#define M_RANDBELOW 3
#define M_MASKED 4
#define M_PHP_RANGE 5
#define M_PHP_SCALE 6
#define M_SHR1_MOD 7
#define M_LEMIRE 8
#define M_MINSTD_DOWN 9

// Every (generator, mapping) pair a runtime call or raw family uses (seedsift.prng.runtimes.kernel_call).
#define SIEVE_CALLS(X) \
    X(0, 0) X(1, 0) X(2, 0) X(3, 0) X(4, 0) X(5, 0) X(6, 0) X(7, 0) \
    X(1, 1) X(8, 2) X(8, 3) X(0, 4) X(0, 5) X(9, 6) X(0, 7) X(9, 7) X(10, 0) X(0, 8) X(2, 9)

// Layout of prm.
#define PRM_MOD 0
#define PRM_A 1
#define PRM_B 2
#define PRM_REJECTS 3
#define PRM_FASTMOD 4
#define PRM_NCIDX 5
#define PRM_SIZE 6

#define MT_N 624
#define MT_M 397
#define MT_STATELESS 227  // outputs 0..226 need no twisted word (php_mt_seed's trick)

struct Ctx {
    i64 mod, a, b;
    u64 fastmod;
    int rejects, ncidx;
    const i64* cidx;
    const u32* coef;
    const u32* base;
};

__device__ __forceinline__ Ctx make_ctx(const i64* prm, const i64* cidx, const u32* coef, const u32* base) {
    Ctx c;
    c.mod = prm[PRM_MOD];
    c.a = prm[PRM_A];
    c.b = prm[PRM_B];
    c.rejects = (int)prm[PRM_REJECTS];
    c.fastmod = (u64)prm[PRM_FASTMOD];
    c.ncidx = (int)prm[PRM_NCIDX];
    c.cidx = cidx;
    c.coef = coef;
    c.base = base;
    return c;
}

// x % mod for x < 2^32 and 1 <= mod <= 2^32: Lemire's direct remainder, exact for these ranges
// (fastmod = 2^64 / mod rounded up, modulo 2^64).
__device__ __forceinline__ i64 fast_mod(u64 x, const Ctx& c) {
    return (i64)__umul64hi(c.fastmod * x, (u64)c.mod);
}

// -- mappings ------------------------------------------------------------------------------------
// The draw one raw output makes, or -1 when the runtime rejects it (kernels._value).
template <int MAP>
__device__ __forceinline__ i64 map_value(u32 raw, const Ctx& c) {
    if (MAP == M_MOD) return fast_mod(raw, c);
    if (MAP == M_JAVA_INT) {
        i64 r = (i64)(raw >> 1);
        if (c.a) return (c.mod * r) >> 31;
        i64 v = fast_mod((u64)r, c);
        return r - v + (c.mod - 1) < ((i64)1 << 31) ? v : -1;
    }
    if (MAP == M_TOPBITS) return c.a >= 32 ? 0 : (i64)(raw >> (u32)c.a);
    if (MAP == M_RANDBELOW) {
        i64 r = c.a >= 32 ? 0 : (i64)(raw >> (u32)c.a);
        return r < c.mod ? r : -1;
    }
    if (MAP == M_MASKED) {
        i64 v = (i64)(raw & (u32)c.a);
        return v < c.mod ? v : -1;
    }
    if (MAP == M_PHP_RANGE) {
        if (c.b == 2) return (i64)raw;
        if (c.b == 1) return (i64)raw & (c.mod - 1);
        return (i64)raw <= c.a ? fast_mod(raw, c) : -1;
    }
    if (MAP == M_PHP_SCALE) {
        // RAND_RANGE_BADSCALING in doubles; two products, nothing to fuse into an FMA.
        double x = (double)(raw >> 1) * (1.0 / 2147483648.0);
        return (i64)((double)c.mod * x);
    }
    if (MAP == M_SHR1_MOD) return fast_mod(raw >> 1, c);
    if (MAP == M_LEMIRE) {
        if (c.b) return (i64)raw;
        u64 product = (u64)raw * (u64)c.mod;
        if ((i64)(product & 0xFFFFFFFFull) < c.a) return -1;
        return (i64)(product >> 32);
    }
    // M_MINSTD_DOWN
    i64 ret = (i64)raw - 1;
    if (c.a == 0) return ret;
    return ret < c.b ? ret / c.a : -1;
}

// -- the Mersenne Twister ----------------------------------------------------------------------
__device__ __forceinline__ u32 mt_chain(u32 x, u32 i) { return 1812433253u * (x ^ (x >> 30)) + i; }

__device__ __forceinline__ u32 temper(u32 y) {
    y ^= y >> 11;
    y ^= (y << 7) & 0x9D2C5680u;
    y ^= (y << 15) & 0xEFC60000u;
    return y ^ (y >> 18);
}

// The twist's contribution of words mt[k], mt[k+1]; PHP <= 7.0 took the odd bit from mt[k].
__device__ __forceinline__ u32 twist_part(u32 u, u32 v, bool legacy) {
    u32 y = (u & 0x80000000u) | (v & 0x7FFFFFFFu);
    u32 odd = legacy ? (u & 1u) : (v & 1u);
    return (y >> 1) ^ (odd ? 0x9908B0DFu : 0u);
}

// The whole state in a per-thread array: outputs in increasing order, stateless below 227 while
// no twist has been needed, then twisted as the reference does.
struct FullMT {
    u32 mt[MT_N];
    int round;  // -1: mt holds the seeded words; r >= 0: mt holds outputs 624 r .. 624 r + 623
    bool legacy;

    __device__ void init_genrand(u32 seed) {
        mt[0] = seed;
        for (u32 i = 1; i < MT_N; ++i) mt[i] = mt_chain(mt[i - 1], i);
        round = -1;
    }

    // CPython's init_by_array of the key (the seed's 32-bit words, one or two) over init_genrand(19650218).
    __device__ void init_by_array(u64 seed, const u32* base) {
        u32 lo = (u32)seed, hi = (u32)(seed >> 32);
        int n = hi ? 2 : 1;
        for (int q = 0; q < MT_N; ++q) mt[q] = base[q];
        int i = 1, j = 0;
        for (int step = 0; step < MT_N; ++step) {
            u32 p = mt[i - 1];
            u32 add = j == 0 ? lo : hi + 1u;  // key[j] + j
            mt[i] = (mt[i] ^ ((p ^ (p >> 30)) * 1664525u)) + add;
            ++i;
            ++j;
            if (i >= MT_N) {
                mt[0] = mt[MT_N - 1];
                i = 1;
            }
            if (j >= n) j = 0;
        }
        for (int step = 0; step < MT_N - 1; ++step) {
            u32 p = mt[i - 1];
            mt[i] = (mt[i] ^ ((p ^ (p >> 30)) * 1566083941u)) - (u32)i;
            ++i;
            if (i >= MT_N) {
                mt[0] = mt[MT_N - 1];
                i = 1;
            }
        }
        mt[0] = 0x80000000u;
        round = -1;
    }

    __device__ void twist() {
        for (int i = 0; i < MT_N; ++i) {
            int j = i + 1 < MT_N ? i + 1 : 0;
            int k = i + MT_M < MT_N ? i + MT_M : i + MT_M - MT_N;
            mt[i] = mt[k] ^ twist_part(mt[i], mt[j], legacy);
        }
    }

    __device__ u32 at(i64 k) {
        if (round < 0 && k < MT_STATELESS) return temper(mt[k + MT_M] ^ twist_part(mt[k], mt[k + 1], legacy));
        while (k >= (i64)MT_N * (round + 1)) {
            twist();
            ++round;
        }
        return temper(mt[k - (i64)MT_N * round]);
    }
};

// init_genrand's outputs 0..226 without an array for every word: the chain runs once and each
// output's twist part is kept from the step that makes mt[k+1] to the step that makes mt[k+397].
// Outputs are asked for in increasing order; every one of them (a rejection walk) is kept, so
// ``overflow`` says when an output at or past 227 was asked for (the caller then starts over with FullMT).
struct StreamMT {
    u32 x;      // mt[i]
    u32 i;
    bool legacy, overflow;
    u32 part[MT_STATELESS];

    __device__ void init(u32 seed, bool legacy_) {
        x = seed;
        i = 0;
        legacy = legacy_;
        overflow = false;
    }

    __device__ u32 at(i64 k) {
        if (k >= MT_STATELESS) {
            overflow = true;
            return 0;
        }
        u32 stop = (u32)k + MT_M;
        while (i < stop) {
            u32 prev = x;
            ++i;
            x = mt_chain(x, i);
            if (i <= MT_STATELESS) part[i - 1] = twist_part(prev, x, legacy);
        }
        return temper(x ^ part[k]);
    }
};

// -- the other generators: one output per step, asked for in increasing order --------------------
template <int GEN>
struct Seq {
    u64 s;       // java, minstd, pcg
    u32 w[4];    // xorshift, xoshiro
    i64 pos;     // outputs made so far

    __device__ void init(u64 seed) {
        pos = 0;
        u32 lo = (u32)seed;
        if (GEN == G_JAVA_RANDOM) s = (seed ^ 0x5DEECE66Dull) & 0xFFFFFFFFFFFFull;
        if (GEN == G_MINSTD_RAND || GEN == G_MINSTD_RAND0) {
            s = (u64)lo % 2147483647ull;
            if (s == 0) s = 1;
        }
        if (GEN == G_XORSHIFT32) w[0] = lo;
        if (GEN == G_XORSHIFT128) {
            w[0] = lo;
            w[1] = 362436069u;
            w[2] = 521288629u;
            w[3] = 88675123u;
        }
        if (GEN == G_PCG32) {
            u64 st = 109ull;  // pcg32_srandom(seed, 54): state = 0 stepped once, + seed, stepped again
            st += (u64)lo;
            s = st * 6364136223846793005ull + 109ull;
        }
        if (GEN == G_XOSHIRO128PP) {
            u64 z = (u64)lo, a, b;
            z += 0x9E3779B97F4A7C15ull;
            a = splitmix(z);
            z += 0x9E3779B97F4A7C15ull;
            b = splitmix(z);
            w[0] = (u32)a;
            w[1] = (u32)(a >> 32);
            w[2] = (u32)b;
            w[3] = (u32)(b >> 32);
        }
    }

    __device__ static u64 splitmix(u64 z) {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }

    __device__ static u32 rotl(u32 v, int k) { return (v << k) | (v >> (32 - k)); }

    __device__ u32 next() {
        ++pos;
        if (GEN == G_JAVA_RANDOM) {
            s = (s * 0x5DEECE66Dull + 0xBull) & 0xFFFFFFFFFFFFull;
            return (u32)(s >> 16);
        }
        if (GEN == G_MINSTD_RAND || GEN == G_MINSTD_RAND0) {
            u64 x = s * (GEN == G_MINSTD_RAND ? 48271ull : 16807ull);
            u64 r = (x & 2147483647ull) + (x >> 31);
            s = r >= 2147483647ull ? r - 2147483647ull : r;
            return (u32)s;
        }
        if (GEN == G_XORSHIFT32) {
            u32 v = w[0];
            v ^= v << 13;
            v ^= v >> 17;
            v ^= v << 5;
            w[0] = v;
            return v;
        }
        if (GEN == G_XORSHIFT128) {
            u32 t = w[0] ^ (w[0] << 11);
            w[0] = w[1];
            w[1] = w[2];
            w[2] = w[3];
            w[3] = (w[3] ^ (w[3] >> 19)) ^ (t ^ (t >> 8));
            return w[3];
        }
        if (GEN == G_PCG32) {
            u64 old = s;
            s = old * 6364136223846793005ull + 109ull;
            u32 xs = (u32)(((old >> 18) ^ old) >> 27);
            u32 rot = (u32)(old >> 59);
            return (xs >> rot) | (xs << ((0u - rot) & 31u));
        }
        // G_XOSHIRO128PP
        u32 result = rotl(w[0] + w[3], 7) + w[0];
        u32 t = w[1] << 9;
        w[2] ^= w[0];
        w[3] ^= w[1];
        w[1] ^= w[2];
        w[0] ^= w[3];
        w[2] ^= t;
        w[3] = rotl(w[3], 11);
        return result;
    }

    __device__ u32 at(i64 k) {
        while (pos < k) next();
        return next();
    }
};

// glibc's rand(): output k is (coef[k] . r mod 2^32) >> 1, r the 31 words srand seeds
// (kernels.glibc_coefficients): any output directly, with no discards per seed.
struct Glibc {
    u32 r[31];
    const u32* coef;

    __device__ void init(u64 seed, const u32* coef_) {
        coef = coef_;
        i64 s = (i64)(seed & 0xFFFFFFFFull);
        if (s == 0) s = 1;
        i64 word = s >= ((i64)1 << 31) ? s - ((i64)1 << 32) : s;  // the int32_t srand holds
        r[0] = (u32)(u64)word;
#pragma unroll
        for (int i = 1; i < 31; ++i) {
            i64 hi = word / 127773;  // C division truncates toward zero
            i64 lo = word - hi * 127773;
            word = 16807 * lo - 2836 * hi;
            if (word < 0) word += 2147483647;
            r[i] = (u32)word;
        }
    }

    __device__ u32 at(i64 k) {
        const u32* row = coef + k * 31;
        u32 acc = 0;
#pragma unroll
        for (int j = 0; j < 31; ++j) acc += row[j] * r[j];
        return acc >> 1;
    }
};

// -- walks: the draws at the call indices, handed to a sink in order -----------------------------
// A sink's emit(t, v) takes the draw of call cidx[t] and returns true when the seed needs no more.

// Only StreamMT can run out (outputs past 226).
template <class G>
__device__ __forceinline__ bool overflowed(const G&) { return false; }
__device__ __forceinline__ bool overflowed(const StreamMT& g) { return g.overflow; }

// Calls from t_from on; returns -1 when done, else the call position reached when the generator
// overflowed (StreamMT only), so the caller can go on with another generator.
template <int MAP, class G, class Sink>
__device__ int walk(G& g, const Ctx& c, Sink& sink, int t_from, bool check_overflow) {
    if (!c.rejects) {
        for (int t = t_from; t < c.ncidx; ++t) {
            u32 raw = g.at(c.cidx[t]);
            if (check_overflow && overflowed(g)) return t;
            if (sink.emit(t, map_value<MAP>(raw, c))) return -1;
        }
        return -1;
    }
    // Every output in order; rejected ones are consumed without making a call.
    i64 pos = 0, call = 0;
    int t = 0;
    i64 next = c.cidx[0];
    for (;;) {
        u32 raw = g.at(pos++);
        if (check_overflow && overflowed(g)) return t;
        i64 v = map_value<MAP>(raw, c);
        if (v < 0) continue;
        if (call == next) {
            if (t >= t_from && sink.emit(t, v)) return -1;
            if (++t == c.ncidx) return -1;
            next = c.cidx[t];
        }
        ++call;
    }
}

// init_genrand outputs at the call indices of a mapping without rejections, all below 227: one run
// of the chain, stopping only where an output's words appear (php_mt_seed's loop).
template <int MAP, class Sink>
__device__ void mt_direct(u32 seed, bool legacy, const Ctx& c, Sink& sink) {
    u32 part[MT_STATELESS];
    int tp = 0, tf = 0, n = c.ncidx;
    u32 np = (u32)c.cidx[0] + 1, nf = (u32)c.cidx[0] + MT_M;
    u32 x = seed, i = 1;
    for (;;) {
        u32 stop = np < nf ? np : nf;
        for (; i < stop; ++i) x = mt_chain(x, i);
        u32 prev = x;
        x = mt_chain(x, i);  // mt[i], i == stop
        if (i == np) {
            part[tp] = twist_part(prev, x, legacy);
            ++tp;
            np = tp < n ? (u32)c.cidx[tp] + 1 : 0xFFFFFFFFu;
        }
        if (i == nf) {
            if (sink.emit(tf, map_value<MAP>(temper(x ^ part[tf]), c))) return;
            if (++tf == n) return;
            nf = (u32)c.cidx[tf] + MT_M;
        }
        ++i;
    }
}

template <int GEN, int MAP, class Sink>
__device__ void run_seed(u64 seed, const Ctx& c, Sink& sink) {
    if (c.ncidx == 0) return;
    if (GEN == G_MT19937 || GEN == G_MT_PHP_LEGACY) {
        bool legacy = GEN == G_MT_PHP_LEGACY;
        if (!c.rejects && c.cidx[c.ncidx - 1] < MT_STATELESS) {
            mt_direct<MAP>((u32)seed, legacy, c, sink);
            return;
        }
        int reached = 0;
        if (c.cidx[0] < MT_STATELESS) {
            StreamMT s;
            s.init((u32)seed, legacy);
            reached = walk<MAP>(s, c, sink, 0, true);
            if (reached < 0) return;
        }
        // Some output is at or past 227: the whole state, the walk again from the start (its
        // first calls were handed to the sink already).
        FullMT f;
        f.legacy = legacy;
        f.init_genrand((u32)seed);
        walk<MAP>(f, c, sink, reached, false);
        return;
    }
    if (GEN == G_MT_CPYTHON) {
        FullMT f;
        f.legacy = false;
        f.init_by_array(seed, c.base);
        walk<MAP>(f, c, sink, 0, false);
        return;
    }
    if (GEN == G_GLIBC) {
        Glibc g;
        g.init(seed, c.coef);
        walk<MAP>(g, c, sink, 0, false);
        return;
    }
    Seq<GEN> g;
    g.init(seed);
    walk<MAP>(g, c, sink, 0, false);
}

// -- sinks -------------------------------------------------------------------------------------------
struct AnySink {
    const i64* toff;
    const i64* tval;
    bool hit;
    __device__ bool emit(int t, i64 v) {
        for (i64 j = toff[t]; j < toff[t + 1]; ++j) {
            if (tval[j] == v) {
                hit = true;
                return true;
            }
        }
        return false;
    }
};

struct CountSink {
    const i64* toff;
    const i64* tval;
    const i64* tslot;
    u16* row;
    __device__ bool emit(int t, i64 v) {
        for (i64 j = toff[t]; j < toff[t + 1]; ++j) row[tslot[j]] += (u16)(tval[j] == v);
        return false;
    }
};

struct ValueSink {
    i64* row;
    __device__ bool emit(int t, i64 v) {
        row[t] = v;
        return false;
    }
};

// -- kernels -------------------------------------------------------------------------------------
// Stage 1: seeds start + i (i < n) with a match among the targets, appended to cand in any order
// (count says how many; only the first cap are written, so the caller reruns with more room).
#define SIEVE_STAGE1_PARAMS                                                                                  \
    const i64 *prm, u64 start, u64 n, const i64 *cidx, const i64 *toff, const i64 *tval, const u32 *coef, \
        const u32 *base, u64 *cand, u64 *count, u64 cap
#define SIEVE_STAGE1_ARGS prm, start, n, cidx, toff, tval, coef, base, cand, count, cap

// Stage 2: per seed and slot, how many targets match: counts[i * nslots + slot] (zeroed by the caller).
#define SIEVE_STAGE2_PARAMS                                                                                  \
    const i64 *prm, const u64 *seeds, u64 n, const i64 *cidx, const i64 *toff, const i64 *tval,          \
        const i64 *tslot, const u32 *coef, const u32 *base, u16 *counts, i64 nslots
#define SIEVE_STAGE2_ARGS prm, seeds, n, cidx, toff, tval, tslot, coef, base, counts, nslots

// The draws themselves: values[i * ncidx + t] is seed i's draw at call cidx[t].
#define SIEVE_VALUES_PARAMS const i64 *prm, const u64 *seeds, u64 n, const i64 *cidx, const u32 *coef, const u32 *base, i64 *values
#define SIEVE_VALUES_ARGS prm, seeds, n, cidx, coef, base, values

__device__ __forceinline__ u64 thread_index() { return (u64)blockIdx.x * blockDim.x + threadIdx.x; }

template <int GEN, int MAP>
__device__ void stage1_body(SIEVE_STAGE1_PARAMS) {
    u64 i = thread_index();
    if (i >= n) return;
    Ctx c = make_ctx(prm, cidx, coef, base);
    AnySink sink;
    sink.toff = toff;
    sink.tval = tval;
    sink.hit = false;
    run_seed<GEN, MAP>(start + i, c, sink);
    if (sink.hit) {
        u64 slot = atomicAdd(count, 1ull);
        if (slot < cap) cand[slot] = start + i;
    }
}

template <int GEN, int MAP>
__device__ void stage2_body(SIEVE_STAGE2_PARAMS) {
    u64 i = thread_index();
    if (i >= n) return;
    Ctx c = make_ctx(prm, cidx, coef, base);
    CountSink sink;
    sink.toff = toff;
    sink.tval = tval;
    sink.tslot = tslot;
    sink.row = counts + i * (u64)nslots;
    run_seed<GEN, MAP>(seeds[i], c, sink);
}

template <int GEN, int MAP>
__device__ void values_body(SIEVE_VALUES_PARAMS) {
    u64 i = thread_index();
    if (i >= n) return;
    Ctx c = make_ctx(prm, cidx, coef, base);
    ValueSink sink;
    sink.row = values + i * (u64)c.ncidx;
    run_seed<GEN, MAP>(seeds[i], c, sink);
}

#define SIEVE_KERNELS(G, M)                                                                                 \
    extern "C" __global__ void sieve_stage1_##G##_##M(SIEVE_STAGE1_PARAMS) { stage1_body<G, M>(SIEVE_STAGE1_ARGS); } \
    extern "C" __global__ void sieve_stage2_##G##_##M(SIEVE_STAGE2_PARAMS) { stage2_body<G, M>(SIEVE_STAGE2_ARGS); } \
    extern "C" __global__ void sieve_values_##G##_##M(SIEVE_VALUES_PARAMS) { values_body<G, M>(SIEVE_VALUES_ARGS); }
#define SIEVE_KERNELS_OF(G, M) SIEVE_KERNELS(G, M)

#if defined(SIEVE_GEN) && defined(SIEVE_MAP)
SIEVE_KERNELS_OF(SIEVE_GEN, SIEVE_MAP)
#else
SIEVE_CALLS(SIEVE_KERNELS)
#endif
