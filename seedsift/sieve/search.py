"""The two-stage seed sieve: which (family, seed, skip) hypotheses reproduce the draws.

A hypothesis is (family, seed, skip) with skip in [skip_min, skip_max]; history draw j is
output ``burn + j * (skip + 1)``. The forward window is train draws
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

from seedsift.prng import kernels
from seedsift.prng.families import family_id, output_index
from seedsift.stats import any_of, binom_sf

log = logging.getLogger(__name__)

CHUNK = 1 << 22


def required_matches(threshold, window):
    """Matches a window needs: ceil(threshold * window), robust to float noise, at least 1."""
    return max(1, math.ceil(round(threshold * window, 9)))


@dataclass(frozen=True)
class SieveSpec:
    """Everything one family's sieve needs besides the seed range."""

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
        """(uidx, tpos, tval, tslot): sorted output numbers and what each target compares.

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

    def expected_false(self, seeds_tested):
        """Expected survivors if the draws were uniform random: (forward, bidirectional).

        Per skip a window passes with the binomial tail P[Bin(window, 1/mod) >= required];
        skips are treated as independent tries (exact when window_start >= 1 keeps the
        skips' output numbers apart, a slight over-estimate otherwise).
        """
        p = binom_sf(self.required, self.window, 1.0 / self.mod)
        n_skips = self.skip_max - self.skip_min + 1
        return seeds_tested * any_of(p, n_skips), seeds_tested * any_of(p * p, n_skips)


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
        f, v = int(fwd[r, k]), int(rev[r, k])
        records.append({
            "seed": int(seeds[r]),
            "prng_type": spec.prng,
            "skip": int(spec.skips[k]),
            "burn": spec.burn,
            "window_start": spec.window_start,
            "window": spec.window,
            "forward_matches": f,
            "reverse_matches": v,
            "forward_match_rate": f / spec.window,
            "reverse_match_rate": v / spec.window,
            "bidirectional": bool(pass_b[r, k]),
        })
    return records


def sieve_seeds(spec, seeds):
    """Run stage 2 directly on explicit seeds (used for verification and tests)."""
    seeds = np.asarray(seeds, dtype=np.uint32)
    fam = family_id(spec.prng)
    uidx, tpos, tval, tslot = spec.targets(stage1=False)
    nslots = 2 * spec.skips.size
    counts = kernels.count_matches(fam, 0, 0, seeds, uidx, tpos, tval, tslot, nslots, np.uint64(spec.mod))
    return _select(seeds, counts, spec)


def sieve_range(spec, seed_start, seed_end, progress_every=5.0, label=""):
    """Sieve the seed range [seed_start, seed_end); returns (records, stats).

    Logs progress (share done, seeds/s, time left) at most every ``progress_every`` seconds.
    """
    fam = family_id(spec.prng)
    s1 = spec.targets(stage1=True)
    s2 = spec.targets(stage1=False)
    nslots = 2 * spec.skips.size
    mod = np.uint64(spec.mod)
    empty = np.empty(0, dtype=np.uint32)
    total = seed_end - seed_start
    records, stage1_pass = [], 0
    t0 = last = time.monotonic()
    done = 0
    chunk = CHUNK if fam != kernels.MT19937 else CHUNK // 8
    for lo in range(seed_start, seed_end, chunk):
        n = min(chunk, seed_end - lo)
        hit = kernels.any_match(fam, lo, n, empty, s1[0], s1[1], s1[2], mod)
        cand = kernels.compact(hit, lo)
        stage1_pass += cand.size
        if cand.size:
            counts = kernels.count_matches(fam, 0, 0, cand, s2[0], s2[1], s2[2], s2[3], nslots, mod)
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
