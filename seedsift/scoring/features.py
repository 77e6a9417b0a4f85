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

from seedsift.scoring import feature_kernel

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


RECORD_FEATURES = ("forward_match_rate", "reverse_match_rate", "skip")


def from_predictions(pred, train, mod, residue_mods):
    """Kernel-computed features of predicted training draws ``pred`` (n_survivors, n_train).

    Returns {name: column} for every feature except those copied from the sieve record.
    """
    names = [n for n in feature_names(mod, residue_mods) if n not in RECORD_FEATURES]
    return feature_kernel.from_predictions(pred, train, mod, residue_mods, names)


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
                                [r["burn"] for r in pick], mod, states=[r.get("state") for r in pick])
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
