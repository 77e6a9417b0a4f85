"""Step 3 features: how well one survivor's hypothesis reproduces the TRAINING draws.

Every per-survivor feature is computed from the training draws only, under the survivor's
own hypothesis (family, seed, skip, burn): the generator's predicted draw at every training
position is compared with the actual draw. The label (``holdout_quality``) is measured on
the holdout draws, which no feature reads. Each feature is described once, in FEATURES;
``manifests/feature_registry.json`` is generated from it.

Positions are 0-based over the whole history; training positions are 0..n_train-1 and the
holdout positions continue right after them.
"""

import math

import numpy as np
from numba import njit, prange

from seedsift.prng import kernels

# name -> (category, range, higher_is_better, description). ``{m}`` is a residue modulus.
FEATURES = {
    "exact_match_rate": ("score_metrics", [0, 1], True,
                         "Share of training draws the hypothesis reproduces exactly (the record's `score`)."),
    "longest_match_run": ("score_metrics", [0, None], True, "Longest run of consecutive exact matches."),
    "match_runs": ("score_metrics", [0, None], True, "Number of separate runs of exact matches."),
    "first_match_position": ("score_metrics", [0, 1], False,
                             "Position of the first exact match / n_train (1 when there is none)."),
    "last_match_position": ("score_metrics", [0, 1], True,
                            "(Position of the last exact match + 1) / n_train (0 when there is none)."),
    "near_miss_1_rate": ("near_miss", [0, 1], True, "Share of draws within circular distance 1 of the prediction."),
    "near_miss_10_rate": ("near_miss", [0, 1], True, "Share of draws within circular distance 10 of the prediction."),
    "near_miss_100_rate": ("near_miss", [0, 1], True,
                           "Share of draws within circular distance 100 of the prediction."),
    "match_position_spread": ("score_metrics", [0, 1], None,
                              "Std of the positions of exact matches / n_train (0 with fewer than 2 matches)."),
    "forward_match_rate": ("sieve", [0, 1], True, "Match rate of the sieve's forward window under this hypothesis."),
    "reverse_match_rate": ("sieve", [0, 1], True, "Match rate of the sieve's reverse window under this hypothesis."),
    "skip": ("sieve", [0, None], None, "The hypothesis' skip (outputs discarded between draws)."),
    "residue_{m}_match_rate": ("residue", [0, 1], True,
                               "Share of draws whose residue mod {m} equals the prediction's "
                               "(omitted when {m} is a multiple of mod: it would equal exact_match_rate)."),
    "residue_{m}_kl_divergence": ("residue", [0, None], False,
                                  "KL divergence (nats) of the predicted residues mod {m} from the actual ones "
                                  "(histograms with add-0.5 smoothing)."),
    "residue_{m}_coherence": ("residue", [0, 1], True,
                              "Overlap sum(min(p, q)) of the predicted and actual residue histograms mod {m}."),
    "temporal_stability_mean": ("temporal", [0, 1], True, "Mean exact-match rate over 5 overlapping windows."),
    "temporal_stability_std": ("temporal", [0, None], False, "Std of the exact-match rate over the 5 windows."),
    "temporal_stability_min": ("temporal", [0, 1], True, "Lowest window exact-match rate."),
    "temporal_stability_max": ("temporal", [0, 1], True, "Highest window exact-match rate."),
    "temporal_stability_trend": ("temporal", [None, None], None,
                                 "Least-squares slope of the window match rates against window number."),
    "pred_mean": ("prediction", [0, 1], None, "Mean predicted draw / mod."),
    "pred_std": ("prediction", [0, 1], None, "Std of the predicted draws / mod."),
    "pred_min": ("prediction", [0, 1], None, "Smallest predicted draw / mod."),
    "pred_max": ("prediction", [0, 1], None, "Largest predicted draw / mod."),
    "pred_unique_ratio": ("prediction", [0, 1], None, "Distinct predicted draws / n_train."),
    "pred_entropy": ("prediction", [0, 1], None,
                     "Entropy of the predicted draws binned into min(mod, 1000) bins / ln(bins)."),
    "pred_lag1_autocorr": ("prediction", [-1, 1], None, "Lag-1 autocorrelation of the predicted draws."),
    "pred_mean_abs_step": ("prediction", [0, 1], None, "Mean |pred[t] - pred[t-1]| / mod."),
    "pred_actual_correlation": ("prediction", [-1, 1], True, "Pearson correlation of predicted and actual draws."),
    "residual_mean": ("residual", [-0.5, 0.5], None,
                      "Mean circular residual (pred - actual wrapped into [-mod/2, mod/2)) / mod."),
    "residual_std": ("residual", [0, 0.5], False, "Std of the circular residuals / mod."),
    "residual_abs_mean": ("residual", [0, 0.5], False, "Mean |circular residual| / mod."),
    "residual_max_abs": ("residual", [0, 0.5], False, "Largest |circular residual| / mod."),
    "residual_lag1_autocorr": ("residual", [-1, 1], None, "Lag-1 autocorrelation of the circular residuals."),
    "lane_agreement": ("lane", [0, 1], True,
                       "Share of draws where the two smallest residue lanes agree on match vs miss."),
    "lane_both_rate": ("lane", [0, 1], True, "Share of draws matching in both of the two smallest residue lanes."),
    "digit_hundreds_match_rate": ("digits", [0, 1], True, "mod 1000 only: share of draws with the same hundreds digit."),
    "digit_tens_match_rate": ("digits", [0, 1], True, "mod 1000 only: share of draws with the same tens digit."),
    "digit_units_match_rate": ("digits", [0, 1], True, "mod 1000 only: share of draws with the same units digit."),
    "any_digit_match_rate": ("digits", [0, 1], True,
                             "mod 1000 only: share of draws with at least one digit equal in place."),
    "box_match_rate": ("digits", [0, 1], True,
                       "mod 1000 only: share of draws whose three digits are a permutation of the prediction's."),
}

GLOBAL_FEATURES = {
    "residue_{m}_entropy": "Shannon entropy of the training draws mod {m} / ln(m).",
    "frequency_bias_ratio": "Most / least frequent value count over the values that occur (binned to <= 1000 bins).",
    "suspicious_gap_share": "Share of bins never seen, or last seen more than 500 draws before the end.",
    "regime_change_kl": "KL divergence (add-one smoothing) between the first and second half of the training draws.",
    "chi2_uniformity_p": "p-value of a chi-square test that the training draws are uniform (binned to <= 1000 bins).",
    "lag1_serial_correlation": "Lag-1 serial correlation of the training draws.",
}

TEMPORAL_WINDOWS = 5


def feature_names(mod, residue_mods):
    """Names of the per-survivor features for a run, in column order.

    Residue features are grouped per modulus (rate, KL, coherence), as the kernel writes them.
    """
    names = []
    residue = [p for p in FEATURES if "{m}" in p]
    for pattern in FEATURES:
        if pattern == residue[0]:
            for m in residue_mods:
                for rp in residue:
                    if rp == "residue_{m}_match_rate" and m % mod == 0:
                        continue
                    names.append(rp.format(m=m))
        elif "{m}" in pattern:
            continue
        elif pattern.startswith(("digit_", "box_")):
            if mod == 1000:
                names.append(pattern)
        elif pattern.startswith("lane_"):
            if len(residue_mods) >= 2:
                names.append(pattern)
        else:
            names.append(pattern)
    return names


def registry(mod, residue_mods):
    """The feature registry document (manifests/feature_registry.json for the default config)."""
    per_seed = {}
    for pattern, (category, rng, better, text) in FEATURES.items():
        for m in (residue_mods if "{m}" in pattern else [None]):
            name = pattern.format(m=m) if m is not None else pattern
            if name in feature_names(mod, residue_mods):
                per_seed[name] = {
                    "category": category,
                    "range": rng,
                    "higher_is_better": better,
                    "description": text.format(m=m) if m is not None else text,
                }
    globals_ = {}
    for pattern, text in GLOBAL_FEATURES.items():
        for m in (residue_mods if "{m}" in pattern else [None]):
            name = pattern.format(m=m) if m is not None else pattern
            globals_[name] = {"description": text.format(m=m) if m is not None else text}
    return {
        "version": "1.0.0",
        "mod": mod,
        "residue_mods": list(residue_mods),
        "feature_count": len(per_seed),
        "label": {
            "field": "holdout_quality",
            "description": "Top-level, never a feature: share of holdout draws the hypothesis reproduces "
                           "exactly, generator positions continuing right after the training draws.",
        },
        "per_survivor_features": per_seed,
        "global_features": globals_,
        "notes": "Per-survivor features read the training draws only. Global features are constant within a run: "
                 "they are run diagnostics in results/scoring/global_features.json, not model inputs.",
    }


@njit(inline="always")
def _circ(d, mod):
    # Signed circular difference in [-(mod // 2), mod - mod // 2) of d in (-mod, mod); no division.
    if d >= mod - mod // 2:
        return d - mod
    if d < -(mod // 2):
        return d + mod
    return d


GROUP = 32  # survivors per parallel task: scratch buffers are allocated once per group
STAMP_LIMIT = 1 << 20  # distinct-value counting by stamps up to this modulus, by sorting above it


@njit(parallel=True, cache=True)
def _survivor_features(pred, act, act_res, res_mods, mod, out, keep_res_rate, digits):
    """Fill out[i, :] with the kernel-computed features of survivor i, in feature_names order
    (without forward_match_rate, reverse_match_rate and skip, which come from the records)."""
    n_surv, n = pred.shape
    n_mods = res_mods.size
    fmod = np.float64(mod)
    wlen = max(1, n // 4)
    stride = max(1, (n - wlen) // (TEMPORAL_WINDOWS - 1))
    bins = min(mod, 1000)
    max_m = 1
    for k in range(n_mods):
        max_m = max(max_m, res_mods[k])
    # Actual residue histograms are shared by every survivor; with add-0.5 smoothing every
    # predicted bin that no draw hits has the same probability p0, so the KL divergence and the
    # overlap only need a loop over the bins a survivor's predictions touch.
    log_q = np.zeros((n_mods, max_m))
    q = np.zeros((n_mods, max_m))
    p0 = np.zeros(n_mods)
    base_kl = np.zeros(n_mods)
    base_overlap = np.zeros(n_mods)
    for k in range(n_mods):
        m = res_mods[k]
        z = n + 0.5 * m
        for t in range(n):
            q[k, act_res[k, t]] += 1.0
        p0[k] = 0.5 / z
        for v in range(m):
            q[k, v] = (q[k, v] + 0.5) / z
            log_q[k, v] = math.log(q[k, v])
            base_kl[k] += p0[k] * (math.log(p0[k]) - log_q[k, v])
            base_overlap[k] += min(p0[k], q[k, v])
    a_mean = 0.0
    for t in range(n):
        a_mean += act[t]
    a_mean /= n
    a_var = 0.0
    for t in range(n):
        a_var += (act[t] - a_mean) ** 2
    n_groups = (n_surv + GROUP - 1) // GROUP
    for g in prange(n_groups):
        hist = np.zeros(max_m)
        touched = np.empty(n, np.int64)
        bin_hist = np.zeros(bins)
        lane_hits = np.zeros((1, n), np.uint8)
        stamp = np.full(min(mod, STAMP_LIMIT), -1, np.int64)
        match_pos = np.empty(n, np.float64)
        cum = np.zeros(n + 1, np.int64)
        wr = np.zeros(TEMPORAL_WINDOWS)
        bin_scale = bins / fmod
        use_stamp = mod <= STAMP_LIMIT
        for i in range(g * GROUP, min(n_surv, (g + 1) * GROUP)):
            p = pred[i]
            matches = 0
            run = 0
            longest = 0
            runs = 0
            first = -1
            last = -1
            near1 = 0
            near10 = 0
            near100 = 0
            p_sum = 0.0
            p_sq = 0.0
            p_lo = p[0]
            p_hi = p[0]
            step = 0.0
            r_sum = 0.0
            r_sq = 0.0
            r_abs = 0.0
            r_max = 0.0
            # One pass gathers the sums the later features need (products with the previous
            # value give the lag-1 autocorrelations, a prefix count the window match rates).
            pa = 0.0
            pp1 = 0.0
            cc1 = 0.0
            c_prev = 0
            c_first = 0
            uniq = 0
            dh = 0
            dt = 0
            du = 0
            anyd = 0
            box = 0
            bin_hist[:] = 0.0
            for t in range(n):
                x = p[t]
                d = x - act[t]
                if d == 0:
                    match_pos[matches] = t
                    matches += 1
                    run += 1
                    if run == 1:
                        runs += 1
                    if run > longest:
                        longest = run
                    if first < 0:
                        first = t
                    last = t
                else:
                    run = 0
                cum[t + 1] = matches
                c = _circ(d, mod)
                ac = abs(c)
                near1 += ac <= 1
                near10 += ac <= 10
                near100 += ac <= 100
                p_sum += x
                p_sq += np.float64(x) * x
                p_lo = min(p_lo, x)
                p_hi = max(p_hi, x)
                if t > 0:
                    step += abs(x - p[t - 1])
                    pp1 += np.float64(x) * p[t - 1]
                    cc1 += np.float64(c) * c_prev
                else:
                    c_first = c
                c_prev = c
                r_sum += c
                r_sq += np.float64(c) * c
                r_abs += ac
                r_max = max(r_max, np.float64(ac))
                pa += np.float64(x) * act[t]
                bin_hist[min(bins - 1, np.int64(x * bin_scale))] += 1.0
                if use_stamp and stamp[x] != i:
                    stamp[x] = i
                    uniq += 1
                if digits:
                    y = act[t]
                    a0, a1, a2 = x // 100, (x // 10) % 10, x % 10
                    b0, b1, b2 = y // 100, (y // 10) % 10, y % 10
                    dh += a0 == b0
                    dt += a1 == b1
                    du += a2 == b2
                    anyd += (a0 == b0) | (a1 == b1) | (a2 == b2)
                    # equal sorted digits: the two draws are permutations of each other
                    lo_a, hi_a = min(a0, a1, a2), max(a0, a1, a2)
                    lo_b, hi_b = min(b0, b1, b2), max(b0, b1, b2)
                    box += (lo_a == lo_b) & (hi_a == hi_b) & (a0 + a1 + a2 == b0 + b1 + b2)
            spread = 0.0
            if matches >= 2:
                mm = match_pos[:matches].mean()
                for j in range(matches):
                    spread += (match_pos[j] - mm) ** 2
                spread = math.sqrt(spread / matches) / n
            out[i, 0] = matches / n
            out[i, 1] = longest
            out[i, 2] = runs
            out[i, 3] = first / n if first >= 0 else 1.0
            out[i, 4] = (last + 1) / n if last >= 0 else 0.0
            out[i, 5] = near1 / n
            out[i, 6] = near10 / n
            out[i, 7] = near100 / n
            out[i, 8] = spread
            col = 9
            agree = 0
            both = 0
            for k in range(n_mods):
                m = res_mods[k]
                inv = 1.0 / np.float64(m)
                n_touched = 0
                same = 0
                for t in range(n):
                    r = kernels._residue(p[t], inv, np.int64(m))
                    if hist[r] == 0.0:
                        touched[n_touched] = r
                        n_touched += 1
                    hist[r] += 1.0
                    hit = r == act_res[k, t]
                    same += hit
                    if k == 0:
                        lane_hits[0, t] = hit
                    elif k == 1:
                        agree += lane_hits[0, t] == hit
                        both += lane_hits[0, t] & hit
                z = n + 0.5 * m
                kl = base_kl[k]
                overlap = base_overlap[k]
                lp0 = math.log(p0[k])
                for j in range(n_touched):
                    v = touched[j]
                    pv = (hist[v] + 0.5) / z
                    kl += pv * (math.log(pv) - log_q[k, v]) - p0[k] * (lp0 - log_q[k, v])
                    overlap += min(pv, q[k, v]) - min(p0[k], q[k, v])
                    hist[v] = 0.0
                if keep_res_rate[k]:
                    out[i, col] = same / n
                    col += 1
                out[i, col] = max(kl, 0.0)
                out[i, col + 1] = min(overlap, 1.0)
                col += 2
            for w in range(TEMPORAL_WINDOWS):
                lo = min(w * stride, n - wlen)
                wr[w] = (cum[lo + wlen] - cum[lo]) / wlen
            wmean = wr.mean()
            num = 0.0
            den = 0.0
            for w in range(TEMPORAL_WINDOWS):
                num += (w - (TEMPORAL_WINDOWS - 1) / 2.0) * (wr[w] - wmean)
                den += (w - (TEMPORAL_WINDOWS - 1) / 2.0) ** 2
            out[i, col] = wmean
            out[i, col + 1] = wr.std()
            out[i, col + 2] = wr.min()
            out[i, col + 3] = wr.max()
            out[i, col + 4] = num / den
            col += 5
            pm = p_sum / n
            pvar = max(p_sq / n - pm * pm, 0.0)
            # sum (p_t - pm)(a_t - a_mean) and sum_{t>0} (p_t - pm)(p_{t-1} - pm), from the pass's sums
            cov = pa - n * pm * a_mean
            ac1 = pp1 - pm * (2.0 * p_sum - p[0] - p[n - 1]) + (n - 1) * pm * pm
            ent = 0.0
            for b in range(bins):
                if bin_hist[b] > 0:
                    f = bin_hist[b] / n
                    ent -= f * math.log(f)
            if not use_stamp:
                uniq = np.unique(p).size
            out[i, col] = pm / fmod
            out[i, col + 1] = math.sqrt(pvar) / fmod
            out[i, col + 2] = p_lo / fmod
            out[i, col + 3] = p_hi / fmod
            out[i, col + 4] = uniq / n
            out[i, col + 5] = ent / math.log(bins) if bins > 1 else 0.0
            out[i, col + 6] = ac1 / (pvar * n) if pvar > 0 else 0.0
            out[i, col + 7] = step / max(n - 1, 1) / fmod
            out[i, col + 8] = cov / math.sqrt(pvar * n * a_var) if pvar > 0 and a_var > 0 else 0.0
            col += 9
            rm = r_sum / n
            rvar = max(r_sq / n - rm * rm, 0.0)
            rac = cc1 - rm * (2.0 * r_sum - c_first - c_prev) + (n - 1) * rm * rm
            out[i, col] = rm / fmod
            out[i, col + 1] = math.sqrt(rvar) / fmod
            out[i, col + 2] = r_abs / n / fmod
            out[i, col + 3] = r_max / fmod
            out[i, col + 4] = rac / (rvar * n) if rvar > 0 else 0.0
            col += 5
            if n_mods >= 2:
                out[i, col] = agree / n
                out[i, col + 1] = both / n
                col += 2
            if digits:
                out[i, col] = dh / n
                out[i, col + 1] = dt / n
                out[i, col + 2] = du / n
                out[i, col + 3] = anyd / n
                out[i, col + 4] = box / n


RECORD_FEATURES = ("forward_match_rate", "reverse_match_rate", "skip")


def from_predictions(pred, train, mod, residue_mods):
    """Kernel-computed features of predicted training draws ``pred`` (n_survivors, n_train).

    Returns {name: column} for every feature except those copied from the sieve record.
    """
    names = [n for n in feature_names(mod, residue_mods) if n not in RECORD_FEATURES]
    pred = np.ascontiguousarray(pred, dtype=np.int64)
    act = np.asarray(train, dtype=np.int64)
    res_mods = np.asarray(residue_mods, dtype=np.int64).reshape(-1)
    act_res = np.stack([act % m for m in residue_mods]) if len(residue_mods) else np.zeros((0, act.size), np.int64)
    keep = np.array([m % mod != 0 for m in residue_mods], dtype=np.bool_)
    out = np.zeros((pred.shape[0], len(names)))
    if pred.shape[0]:
        _survivor_features(pred, act, act_res, res_mods, np.int64(mod), out, keep, mod == 1000)
    return dict(zip(names, out.T))


def compute(records, train, holdout, mod, residue_mods):
    """Features, score and label of survivor ``records`` (dicts with prng_type, seed, skip, burn).

    Returns (names, X, score, holdout_matches): X is (n, len(names)) float64 with features
    from the training draws only; holdout_matches counts exact matches on the holdout draws,
    whose generator positions continue right after the training draws.
    """
    from seedsift.prng.hypothesis import hypothesis_draws

    names = feature_names(mod, residue_mods)
    n_train = len(train)
    X = np.zeros((len(records), len(names)))
    holdout_matches = np.zeros(len(records), dtype=np.int64)
    positions = np.arange(n_train + len(holdout))
    hold = np.asarray(holdout, dtype=np.int64)
    groups = {}
    for row, rec in enumerate(records):
        groups.setdefault(rec["prng_type"], []).append(row)
    for prng, rows in groups.items():
        rows = np.asarray(rows)
        pick = [records[r] for r in rows]
        pred = hypothesis_draws(prng, [r["seed"] for r in pick], positions, [r["skip"] for r in pick],
                                [r["burn"] for r in pick], mod)
        for name, column in from_predictions(pred[:, :n_train], train, mod, residue_mods).items():
            X[rows, names.index(name)] = column
        holdout_matches[rows] = (pred[:, n_train:] == hold).sum(axis=1)
    for name in RECORD_FEATURES:
        X[:, names.index(name)] = [float(r[name]) for r in records]
    score = X[:, names.index("exact_match_rate")].copy()
    return names, X, score, holdout_matches


def global_features(train, mod, residue_mods):
    """History-level diagnostics (constant within a run, so not model inputs)."""
    from scipy.stats import chi2

    draws = np.asarray(train, dtype=np.int64)
    n = draws.size
    out = {}
    for m in residue_mods:
        counts = np.bincount(draws % m, minlength=m).astype(float)
        p = counts[counts > 0] / n
        out[f"residue_{m}_entropy"] = float(-(p * np.log(p)).sum() / math.log(m)) if m > 1 else 0.0
    bins = min(mod, 1000)
    binned = (draws * bins) // mod
    counts = np.bincount(binned, minlength=bins).astype(float)
    seen = counts[counts > 0]
    out["frequency_bias_ratio"] = float(seen.max() / seen.min()) if seen.size else 0.0
    last_seen = np.full(bins, -1)
    last_seen[binned] = np.arange(n)
    stale = (last_seen < 0) | (n - 1 - last_seen > 500)
    out["suspicious_gap_share"] = float(stale.mean())
    half = n // 2
    a = np.bincount(binned[:half], minlength=bins) + 1.0
    b = np.bincount(binned[half:], minlength=bins) + 1.0
    a, b = a / a.sum(), b / b.sum()
    out["regime_change_kl"] = float((b * np.log(b / a)).sum())
    edges = (np.arange(bins + 1) * mod + bins - 1) // bins
    expected = np.diff(edges) / mod * n
    stat = float(((counts - expected) ** 2 / expected).sum())
    out["chi2_uniformity_p"] = float(chi2.sf(stat, bins - 1))
    x = draws.astype(float)
    out["lag1_serial_correlation"] = float(np.corrcoef(x[:-1], x[1:])[0, 1]) if n > 2 and x.std() > 0 else 0.0
    return out
