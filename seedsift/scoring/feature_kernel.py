"""The numba kernel behind Step 3's per-survivor features, writing each feature to its named column.

``from_predictions`` maps every feature name the run asks for (``features.feature_names``) to
an output column and hands the kernel the column of each quantity it computes (-1: not asked
for), so no code depends on the position of a feature. Per survivor, one pass over the
training draws gathers the sums the features need (:func:`_gather`); each feature group is then
one small function of those sums.
"""

import math

# First: it sets the CPU target numba compiles for (seedsift/prng/cpu_target.py).
from seedsift.prng import cpu_target  # noqa: F401  # isort: skip

import numpy as np
from numba import njit, prange

from seedsift.prng import kernels

TEMPORAL_WINDOWS = 5
GROUP = 32  # survivors per parallel task: scratch buffers are allocated once per group
STAMP_LIMIT = 1 << 20  # distinct-value counting by stamps up to this modulus, by sorting above it

# Features with one value per survivor, in the order of their column ids (the ``col`` array).
SCALAR = (
    "exact_match_rate", "longest_match_run", "match_runs", "first_match_position", "last_match_position",
    "near_miss_1_rate", "near_miss_10_rate", "near_miss_100_rate", "match_position_spread",
    "temporal_stability_mean", "temporal_stability_std", "temporal_stability_min", "temporal_stability_max",
    "temporal_stability_trend",
    "pred_mean", "pred_std", "pred_min", "pred_max", "pred_unique_ratio", "pred_entropy", "pred_lag1_autocorr",
    "pred_mean_abs_step", "pred_actual_correlation",
    "residual_mean", "residual_std", "residual_abs_mean", "residual_max_abs", "residual_lag1_autocorr",
    "lane_agreement", "lane_both_rate",
    "digit_hundreds_match_rate", "digit_tens_match_rate", "digit_units_match_rate", "any_digit_match_rate",
    "box_match_rate",
)
# Features with one value per residue modulus m: residue_{m}_<suffix>, columns res_col[k, j].
PER_MODULUS = ("match_rate", "kl_divergence", "coherence")

(EXACT, LONGEST, RUNS, FIRST, LAST, NEAR1, NEAR10, NEAR100, SPREAD,
 T_MEAN, T_STD, T_MIN, T_MAX, T_TREND,
 P_MEAN, P_STD, P_MIN, P_MAX, P_UNIQUE, P_ENTROPY, P_AC1, P_STEP, P_CORR,
 R_MEAN, R_STD, R_ABS, R_MAX, R_AC1,
 LANE_AGREE, LANE_BOTH,
 D_HUNDREDS, D_TENS, D_UNITS, D_ANY, D_BOX) = range(len(SCALAR))

# Sums one pass gathers per survivor (slots of the ``s`` array).
(S_MATCHES, S_LONGEST, S_RUNS, S_FIRST, S_LAST, S_NEAR1, S_NEAR10, S_NEAR100,
 S_P_SUM, S_P_SQ, S_P_LO, S_P_HI, S_STEP, S_R_SUM, S_R_SQ, S_R_ABS, S_R_MAX,
 S_PA, S_PP1, S_CC1, S_C_PREV, S_C_FIRST, S_UNIQ,
 S_DH, S_DT, S_DU, S_ANYD, S_BOX) = range(28)
N_SUMS = 28


@njit(inline="always")
def _circ(d, mod):
    # Signed circular difference in [-(mod // 2), mod - mod // 2) of d in (-mod, mod); no division.
    if d >= mod - mod // 2:
        return d - mod
    if d < -(mod // 2):
        return d + mod
    return d


@njit(inline="always")
def _put(out, i, column, value):
    if column >= 0:
        out[i, column] = value


@njit(inline="always")
def _gather(p, act, mod, digits, i, s, match_pos, cum, bin_hist, bin_scale, stamp, use_stamp):
    """One pass over the training draws: the sums in ``s``, match positions and the match prefix count."""
    n = p.size
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
    # Products with the previous value give the lag-1 autocorrelations.
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
    bins = bin_hist.size
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
    s[S_MATCHES] = matches
    s[S_LONGEST] = longest
    s[S_RUNS] = runs
    s[S_FIRST] = first
    s[S_LAST] = last
    s[S_NEAR1] = near1
    s[S_NEAR10] = near10
    s[S_NEAR100] = near100
    s[S_P_SUM] = p_sum
    s[S_P_SQ] = p_sq
    s[S_P_LO] = p_lo
    s[S_P_HI] = p_hi
    s[S_STEP] = step
    s[S_R_SUM] = r_sum
    s[S_R_SQ] = r_sq
    s[S_R_ABS] = r_abs
    s[S_R_MAX] = r_max
    s[S_PA] = pa
    s[S_PP1] = pp1
    s[S_CC1] = cc1
    s[S_C_PREV] = c_prev
    s[S_C_FIRST] = c_first
    s[S_UNIQ] = uniq
    s[S_DH] = dh
    s[S_DT] = dt
    s[S_DU] = du
    s[S_ANYD] = anyd
    s[S_BOX] = box
    return matches


@njit(inline="always")
def _score_features(s, n, matches, match_pos, out, i, col):
    spread = 0.0
    if matches >= 2:
        mm = match_pos[:matches].mean()
        for j in range(matches):
            spread += (match_pos[j] - mm) ** 2
        spread = math.sqrt(spread / matches) / n
    first = np.int64(s[S_FIRST])
    last = np.int64(s[S_LAST])
    _put(out, i, col[EXACT], matches / n)
    _put(out, i, col[LONGEST], s[S_LONGEST])
    _put(out, i, col[RUNS], s[S_RUNS])
    _put(out, i, col[FIRST], first / n if first >= 0 else 1.0)
    _put(out, i, col[LAST], (last + 1) / n if last >= 0 else 0.0)
    _put(out, i, col[NEAR1], np.int64(s[S_NEAR1]) / n)
    _put(out, i, col[NEAR10], np.int64(s[S_NEAR10]) / n)
    _put(out, i, col[NEAR100], np.int64(s[S_NEAR100]) / n)
    _put(out, i, col[SPREAD], spread)


@njit(inline="always")
def _residue_features(p, act_res, res_mods, hist, touched, lane_hits, q, log_q, p0, base_kl, base_overlap,
                      out, i, col, res_col):
    """Per residue modulus: match rate, KL divergence and overlap of the residue histograms; the lanes."""
    n = p.size
    agree = 0
    both = 0
    for k in range(res_mods.size):
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
        kl = base_kl[k]
        overlap = base_overlap[k]
        z = n + 0.5 * m
        lp0 = math.log(p0[k])
        for j in range(n_touched):
            v = touched[j]
            pv = (hist[v] + 0.5) / z
            kl += pv * (math.log(pv) - log_q[k, v]) - p0[k] * (lp0 - log_q[k, v])
            overlap += min(pv, q[k, v]) - min(p0[k], q[k, v])
            hist[v] = 0.0
        _put(out, i, res_col[k, 0], same / n)
        _put(out, i, res_col[k, 1], max(kl, 0.0))
        _put(out, i, res_col[k, 2], min(overlap, 1.0))
    if res_mods.size >= 2:
        _put(out, i, col[LANE_AGREE], agree / n)
        _put(out, i, col[LANE_BOTH], both / n)


@njit(inline="always")
def _temporal_features(cum, n, wlen, stride, wr, out, i, col):
    for w in range(TEMPORAL_WINDOWS):
        lo = min(w * stride, n - wlen)
        wr[w] = (cum[lo + wlen] - cum[lo]) / wlen
    wmean = wr.mean()
    num = 0.0
    den = 0.0
    for w in range(TEMPORAL_WINDOWS):
        num += (w - (TEMPORAL_WINDOWS - 1) / 2.0) * (wr[w] - wmean)
        den += (w - (TEMPORAL_WINDOWS - 1) / 2.0) ** 2
    _put(out, i, col[T_MEAN], wmean)
    _put(out, i, col[T_STD], wr.std())
    _put(out, i, col[T_MIN], wr.min())
    _put(out, i, col[T_MAX], wr.max())
    _put(out, i, col[T_TREND], num / den)


@njit(inline="always")
def _prediction_features(p, s, fmod, a_mean, a_var, bin_hist, use_stamp, out, i, col):
    n = p.size
    bins = bin_hist.size
    p_sum = s[S_P_SUM]
    pm = p_sum / n
    pvar = max(s[S_P_SQ] / n - pm * pm, 0.0)
    # sum (p_t - pm)(a_t - a_mean) and sum_{t>0} (p_t - pm)(p_{t-1} - pm), from the pass's sums
    cov = s[S_PA] - n * pm * a_mean
    ac1 = s[S_PP1] - pm * (2.0 * p_sum - p[0] - p[n - 1]) + (n - 1) * pm * pm
    ent = 0.0
    for b in range(bins):
        if bin_hist[b] > 0:
            f = bin_hist[b] / n
            ent -= f * math.log(f)
    uniq = np.int64(s[S_UNIQ]) if use_stamp else np.unique(p).size
    _put(out, i, col[P_MEAN], pm / fmod)
    _put(out, i, col[P_STD], math.sqrt(pvar) / fmod)
    _put(out, i, col[P_MIN], s[S_P_LO] / fmod)
    _put(out, i, col[P_MAX], s[S_P_HI] / fmod)
    _put(out, i, col[P_UNIQUE], uniq / n)
    _put(out, i, col[P_ENTROPY], ent / math.log(bins) if bins > 1 else 0.0)
    _put(out, i, col[P_AC1], ac1 / (pvar * n) if pvar > 0 else 0.0)
    _put(out, i, col[P_STEP], s[S_STEP] / max(n - 1, 1) / fmod)
    _put(out, i, col[P_CORR], cov / math.sqrt(pvar * n * a_var) if pvar > 0 and a_var > 0 else 0.0)


@njit(inline="always")
def _residual_features(s, n, fmod, out, i, col):
    r_sum = s[S_R_SUM]
    rm = r_sum / n
    rvar = max(s[S_R_SQ] / n - rm * rm, 0.0)
    rac = s[S_CC1] - rm * (2.0 * r_sum - s[S_C_FIRST] - s[S_C_PREV]) + (n - 1) * rm * rm
    _put(out, i, col[R_MEAN], rm / fmod)
    _put(out, i, col[R_STD], math.sqrt(rvar) / fmod)
    _put(out, i, col[R_ABS], s[S_R_ABS] / n / fmod)
    _put(out, i, col[R_MAX], s[S_R_MAX] / fmod)
    _put(out, i, col[R_AC1], rac / (rvar * n) if rvar > 0 else 0.0)


@njit(inline="always")
def _digit_features(s, n, out, i, col):
    _put(out, i, col[D_HUNDREDS], np.int64(s[S_DH]) / n)
    _put(out, i, col[D_TENS], np.int64(s[S_DT]) / n)
    _put(out, i, col[D_UNITS], np.int64(s[S_DU]) / n)
    _put(out, i, col[D_ANY], np.int64(s[S_ANYD]) / n)
    _put(out, i, col[D_BOX], np.int64(s[S_BOX]) / n)


@njit(parallel=True, cache=True)
def _survivor_features(pred, act, act_res, res_mods, mod, out, col, res_col, digits):
    """Fill out[i, col[f]] with feature f of survivor i (and out[i, res_col[k, j]] per residue modulus)."""
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
    use_stamp = mod <= STAMP_LIMIT
    bin_scale = bins / fmod
    for g in prange((n_surv + GROUP - 1) // GROUP):
        hist = np.zeros(max_m)
        touched = np.empty(n, np.int64)
        bin_hist = np.zeros(bins)
        lane_hits = np.zeros((1, n), np.uint8)
        stamp = np.full(min(mod, STAMP_LIMIT), -1, np.int64)
        match_pos = np.empty(n, np.float64)
        cum = np.zeros(n + 1, np.int64)
        wr = np.zeros(TEMPORAL_WINDOWS)
        s = np.zeros(N_SUMS)
        for i in range(g * GROUP, min(n_surv, (g + 1) * GROUP)):
            p = pred[i]
            matches = _gather(p, act, mod, digits, i, s, match_pos, cum, bin_hist, bin_scale, stamp, use_stamp)
            _score_features(s, n, matches, match_pos, out, i, col)
            _residue_features(p, act_res, res_mods, hist, touched, lane_hits, q, log_q, p0, base_kl, base_overlap,
                              out, i, col, res_col)
            _temporal_features(cum, n, wlen, stride, wr, out, i, col)
            _prediction_features(p, s, fmod, a_mean, a_var, bin_hist, use_stamp, out, i, col)
            _residual_features(s, n, fmod, out, i, col)
            if digits:
                _digit_features(s, n, out, i, col)


def from_predictions(pred, train, mod, residue_mods, names):
    """Kernel-computed features of predicted training draws ``pred`` (n_survivors, n_train).

    ``names`` are the feature names wanted (any of SCALAR and residue_{m}_<PER_MODULUS> for m in
    ``residue_mods``); returns {name: column}.
    """
    pred = np.ascontiguousarray(pred, dtype=np.int64)
    act = np.asarray(train, dtype=np.int64)
    res_mods = np.asarray(residue_mods, dtype=np.int64).reshape(-1)
    act_res = np.stack([act % m for m in residue_mods]) if len(residue_mods) else np.zeros((0, act.size), np.int64)
    column = {name: c for c, name in enumerate(names)}
    unknown = set(names) - set(SCALAR) - {f"residue_{m}_{x}" for m in residue_mods for x in PER_MODULUS}
    if unknown:
        raise KeyError(f"not computed by the feature kernel: {sorted(unknown)}")
    col = np.array([column.get(name, -1) for name in SCALAR], dtype=np.int64)
    res_col = np.array([[column.get(f"residue_{m}_{x}", -1) for x in PER_MODULUS] for m in residue_mods],
                       dtype=np.int64).reshape(len(residue_mods), len(PER_MODULUS))
    out = np.zeros((pred.shape[0], len(names)))
    if pred.shape[0]:
        _survivor_features(pred, act, act_res, res_mods, np.int64(mod), out, col, res_col, mod == 1000)
    return dict(zip(names, out.T))
