"""The two-stage seed sieve: which (runtime call, seed, skip) hypotheses reproduce the draws.

A hypothesis is (call, seed, skip) with skip in [skip_min, skip_max]; history draw j is the
call number ``burn + j * (skip + 1)`` (seedsift.prng.runtimes: a raw family's call is one
output ``% mod``; a runtime's call may consume several outputs). The forward window is train draws
[window_start, window_start + window); the reverse window is the last ``window`` train draws,
checked under the same hypothesis. A window passes with at least ``required`` matches.

Stage 1 is exact and cheap: a window can only reach ``required`` matches if one of its first
``window - required + 1`` draws matches, so only seeds with such a match (under any skip)
go on to stage 2, which counts every window draw for every skip.
"""

import logging
import math
import time
from dataclasses import dataclass

import numpy as np

from seedsift.prng import kernels, runtimes
from seedsift.prng.families import output_index
from seedsift.prng.gpu import plan as gpu_plan
from seedsift.sieve import chance

log = logging.getLogger(__name__)

CHUNK = 1 << 22


def required_matches(threshold, window):
    """Matches a window needs: ceil(threshold * window), robust to float noise, at least 1."""
    return max(1, math.ceil(round(threshold * window, 9)))


@dataclass(frozen=True)
class SieveSpec:
    """Everything one call's sieve needs besides the seed range (``train``: draws less low, in [0, mod))."""

    prng: str
    train: tuple
    mod: int
    skip_min: int
    skip_max: int
    burn: int
    window_start: int
    window: int
    threshold: float

    @property
    def match_probability(self):
        return runtimes.match_probability(self.prng, self.mod)

    def kernel_args(self, cidx):
        return runtimes.kernel_args(self.prng, self.mod, cidx)

    @property
    def required(self):
        return required_matches(self.threshold, self.window)

    @property
    def skips(self):
        return np.arange(self.skip_min, self.skip_max + 1, dtype=np.int64)

    @property
    def forward_positions(self):
        return np.arange(self.window_start, self.window_start + self.window, dtype=np.int64)

    @property
    def reverse_positions(self):
        n = len(self.train)
        return np.arange(n - self.window, n, dtype=np.int64)

    def targets(self, stage1):
        """(cidx, tpos, tval, tslot): sorted call numbers and what each target compares.

        Stage 1: the first ``window - required + 1`` forward draws of every skip, one slot.
        Stage 2: every forward (slot 2k) and reverse (slot 2k+1) draw of skip number k.
        """
        train = np.asarray(self.train, dtype=np.int64)
        idx, val, slot = [], [], []
        fwd = self.forward_positions[: self.window - self.required + 1] if stage1 else self.forward_positions
        for k, skip in enumerate(self.skips):
            windows = [(fwd, 0)] if stage1 else [(fwd, 2 * k), (self.reverse_positions, 2 * k + 1)]
            for positions, s in windows:
                idx.append(output_index(positions, int(skip), self.burn))
                val.append(train[positions])
                slot.append(np.full(positions.size, s, dtype=np.int64))
        idx, val, slot = np.concatenate(idx), np.concatenate(val), np.concatenate(slot)
        uidx, tpos = np.unique(idx, return_inverse=True)
        return uidx.astype(np.int64), tpos.astype(np.int64), val, slot

    def chance_units(self, bidirectional):
        """The skips as chance units (seedsift.sieve.chance): each a list of windows of (call, value)."""
        train = np.asarray(self.train, dtype=np.int64)
        windows = [self.forward_positions, self.reverse_positions] if bidirectional else [self.forward_positions]
        return [[list(zip(output_index(pos, int(skip), self.burn).tolist(), train[pos].tolist())) for pos in windows]
                for skip in self.skips]

    def pass_chance(self, bidirectional, required=None, work=chance.WORK):
        """PassChance (seedsift.sieve.chance) that one seed passes when the draws are uniform random.

        Forward: some skip has ``required`` (default: the spec's) forward matches; bidirectional:
        some skip has them in both windows. Each call matches a history value with
        ``match_probability`` (1/mod for uniform draws, slightly more for a call whose draws are
        not quite uniform, such as ``rand() % mod``), and the skips' shared calls are counted
        jointly. ``work=0`` asks for the Bonferroni bounds directly.
        """
        need = self.required if required is None else required
        return chance.pass_chance(self.chance_units(bidirectional), self.match_probability, need, work)

    def expected_false(self, seeds_tested):
        """Expected survivors if the draws were uniform random: (forward, bidirectional).

        Exact where the joint count of the shared calls is feasible, otherwise the upper
        Bonferroni bound (seedsift.sieve.chance), so the figure never understates chance.
        """
        return seeds_tested * self.pass_chance(False).high, seeds_tested * self.pass_chance(True).high

    def expected_by_forward_matches(self, seeds_tested, forward=None):
        """[(k, expected seeds whose best forward count is exactly k)] for k = required..window.

        seeds * (P[some skip has >= k] - P[some skip has >= k + 1]); P[>= required] is the
        forward figure of ``expected_false`` (``forward``: its PassChance when the caller has it),
        so the rows sum to it. P[>= k] for larger k is
        exact while the exact counts stay within ``chance.WORK`` transitions all told; past that,
        the least of the union bound and P[>= k - 1] (an upper bound, so a row is then an estimate).
        """
        units, q = self.chance_units(False), self.match_probability
        at_least = [(forward or self.pass_chance(False)).high]
        budget = chance.WORK
        for k in range(self.required + 1, self.window + 1):
            p, used = chance.exact_chance(units, q, k, budget) if budget > 0 else (None, 0)
            budget -= used
            if p is None:
                budget = 0
                p = min(chance.union_bound(units, q, k), at_least[-1])
            at_least.append(p)
        at_least.append(0.0)
        return [(k, seeds_tested * (at_least[i] - at_least[i + 1]))
                for i, k in enumerate(range(self.required, self.window + 1))]


def _select(seeds, counts, spec):
    """Best skip per seed and the survivor records of the seeds passing the forward window."""
    fwd = counts[:, 0::2].astype(np.int64)
    rev = counts[:, 1::2].astype(np.int64)
    need = spec.required
    pass_f = fwd >= need
    pass_b = pass_f & (rev >= need)
    # Prefer a skip passing both windows, then most matches; argmax takes the smallest skip on ties.
    score = np.where(pass_f, pass_b * (4 * spec.window + 4) + fwd + rev + 1, 0)
    best = score.argmax(axis=1)
    rows = np.nonzero(score[np.arange(len(seeds)), best] > 0)[0]
    records = []
    for r in rows.tolist():
        k = int(best[r])
        records.append(survivor_record(spec, int(seeds[r]), int(spec.skips[k]), spec.burn, int(fwd[r, k]),
                                       int(rev[r, k]), bool(pass_b[r, k])))
    return records


def survivor_record(spec, seed, skip, burn, forward, reverse, bidirectional):
    """The sieve's record of one hypothesis: its window matches forward and reversed."""
    return {
        "seed": seed,
        "prng_type": spec.prng,
        "skip": skip,
        "burn": burn,
        "window_start": spec.window_start,
        "window": spec.window,
        "forward_matches": forward,
        "reverse_matches": reverse,
        "forward_match_rate": forward / spec.window,
        "reverse_match_rate": reverse / spec.window,
        "bidirectional": bidirectional,
    }


def sieve_seeds(spec, seeds):
    """Run stage 2 directly on explicit seeds (used for verification and tests)."""
    seeds = np.asarray(seeds, dtype=np.uint64)
    cidx, tpos, tval, tslot = spec.targets(stage1=False)
    call, cidx, uidx, coef, base = spec.kernel_args(cidx)
    nslots = 2 * spec.skips.size
    counts = kernels.count_matches(call, np.uint64(0), 0, seeds, cidx, uidx, tpos, tval, tslot, nslots, coef, base)
    return _select(seeds, counts, spec)


def _chunk(call):
    # Seeds per kernel call: the Mersenne Twister's seeds cost ~400-1,250 chain steps each.
    return CHUNK // 8 if call[0] in (kernels.MT19937, kernels.MT_CPYTHON, kernels.MT_PHP_LEGACY, kernels.GLIBC) else CHUNK


def _numba_chunk(s1, p1, v1, s2, p2, v2, slot2, nslots, lo, n):
    """Stage 1 and stage 2 of one chunk on the CPU: (candidates, their counts)."""
    empty = np.empty(0, dtype=np.uint64)
    cand = kernels.candidates(s1[0], np.uint64(lo), n, empty, s1[1], s1[2], p1, v1, s1[3], s1[4])
    if not cand.size:
        return cand, None
    counts = kernels.count_matches(s2[0], np.uint64(0), 0, cand, s2[1], s2[2], p2, v2, slot2, nslots, s2[3], s2[4])
    return cand, counts


def sieve_range(spec, seed_start, seed_end, progress_every=5.0, label="", backend=None):
    """Sieve the seed range [seed_start, seed_end); returns (records, stats).

    ``backend`` runs both stages on a GPU (seedsift.prng.gpu: the same survivors, counts and order);
    None runs the numba kernels. Logs progress (share done, seeds/s, time left) at most every
    ``progress_every`` seconds.
    """
    c1, p1, v1, _ = spec.targets(stage1=True)
    s1 = spec.kernel_args(c1)
    c2, p2, v2, slot2 = spec.targets(stage1=False)
    s2 = spec.kernel_args(c2)
    nslots = 2 * spec.skips.size
    if backend is None:
        chunk = _chunk(s1[0])

        def run(lo, n):
            return _numba_chunk(s1, p1, v1, s2, p2, v2, slot2, nslots, lo, n)
    else:
        chunk = backend.chunk_seeds(int(s1[0][0]))
        d1 = backend.prepare(gpu_plan.make(s1, p1, v1))
        d2 = backend.prepare(gpu_plan.make(s2, p2, v2, slot2, nslots))

        def run(lo, n):
            return backend.sieve_chunk(d1, d2, lo, n)
    total = seed_end - seed_start
    records, stage1_pass = [], 0
    t0 = last = time.monotonic()
    done = 0
    for lo in range(seed_start, seed_end, chunk):
        n = min(chunk, seed_end - lo)
        cand, counts = run(lo, n)
        stage1_pass += cand.size
        if cand.size:
            records.extend(_select(cand, counts, spec))
        done += n
        now = time.monotonic()
        if now - last >= progress_every or done == total:
            rate = done / max(now - t0, 1e-9)
            log.info(
                "%s%.1f%% of %d seeds, %.1f M seeds/s, %.0f s left, %d survivors so far",
                label, 100.0 * done / total, total, rate / 1e6, (total - done) / rate, len(records),
            )
            last = now
    elapsed = time.monotonic() - t0
    stats = {
        "seeds_tested": total,
        "stage1_candidates": stage1_pass,
        "forward_survivors": len(records),
        "bidirectional_survivors": sum(r["bidirectional"] for r in records),
        "elapsed_s": elapsed,
        "seeds_per_s": total / elapsed if elapsed > 0 else None,
    }
    return records, stats


def shard_bounds(seed_start, seed_end, shards, index):
    """Half-open seed range of shard ``index`` of ``shards`` equal parts."""
    span = seed_end - seed_start
    lo = seed_start + span * index // shards
    hi = seed_start + span * (index + 1) // shards
    return lo, hi
