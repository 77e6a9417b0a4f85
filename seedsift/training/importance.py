"""Model-agnostic feature importance (seed Addenda G, H): one document for every compared type.

Two measures, both normalised to shares that sum to 1 (``|v| / sum |v|``; all zeros when
nothing matters, e.g. a model fitted to a constant label):

* native importance of the tree models: total gain for xgboost (``get_score('total_gain')``,
  the summed loss reduction of every split on the feature, which is what LightGBM's
  ``feature_importance('gain')`` measures; xgboost's plain 'gain' is the *average* per
  split and lets a feature used once look as important as one used everywhere), LightGBM's
  gain, CatBoost's ``PredictionValuesChange`` (its default ``get_feature_importance()``);
* permutation importance for every type, the neural net's only measure: the increase of
  the MSE on rows the model was not fitted on when one feature's column is shuffled, the
  mean over ``n_repeats`` seeded shuffles. Shuffles that *lower* the MSE (noise) count as
  zero before normalising; the raw increases are kept beside the shares.

Every type is scored with the same shuffles on the same rows, so permutation shares are
comparable across types; the drift between types is measured on them.

Model-type detection lives only here: callers pass fitted wrappers and never ask which
backend a model has.
"""

import itertools
import logging

import numpy as np

log = logging.getLogger(__name__)

FORMAT = "seedsift.feature_importance/1"
N_REPEATS = 5
# Rows the permutation scores are computed on at most (a seeded sample beyond that): keeps the
# cost at n_features x n_repeats predictions of at most this many rows per type.
MAX_ROWS = 5000
TOP = 10
DRIFT_TOP = 5
NATIVE_METHODS = {
    "xgboost": "total_gain",
    "lightgbm": "gain",
    "catboost": "PredictionValuesChange",
}
PERMUTATION_METHOD = "permutation"
NORMALISATION = ("share = |v| / sum |v| over the features (all zero when the sum is zero); permutation increases "
                 "below zero are set to zero first")


def native_method(model_type):
    """Name of the native measure of ``model_type`` (None when it has none, e.g. the neural net)."""
    return NATIVE_METHODS.get(model_type)


def native_importance(model, n_features):
    """Raw native importance of a fitted wrapper as an array of ``n_features`` (None without one)."""
    kind = model.model_type
    backend = model.model_
    if kind == "xgboost":
        scores = backend.get_score(importance_type="total_gain")
        names = backend.feature_names
        out = np.zeros(n_features)
        for key, value in scores.items():
            # Boosters trained on bare arrays name features f0, f1, ...; named ones use their names.
            index = names.index(key) if names and key in names else int(key.lstrip("f"))
            out[index] = value
        return out
    if kind == "lightgbm":
        return np.asarray(backend.feature_importance(importance_type="gain"), dtype=np.float64)
    if kind == "catboost":
        return np.asarray(backend.get_feature_importance(), dtype=np.float64)
    return None


def normalise(values):
    """Shares ``|v| / sum |v|`` (zeros when the sum is zero or not finite)."""
    values = np.abs(np.asarray(values, dtype=np.float64))
    total = values.sum()
    if not np.isfinite(total) or total <= 0:
        return np.zeros_like(values)
    return values / total


def _mse(y, p):
    return float(np.mean((np.asarray(p, dtype=np.float64) - y) ** 2))


def eval_rows(n, seed, max_rows=MAX_ROWS):
    """Indices of the rows the permutation scores use: all, or a seeded sample of ``max_rows``."""
    if n <= max_rows:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_rows, replace=False))


def permutation_importance(model, X, y, seed, n_repeats=N_REPEATS):
    """(mean MSE increase, its std over repeats, MSE without shuffling) per feature.

    The shuffles depend only on (seed, feature, repeat), so two models scored on the same rows
    see the same shuffled columns.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    base = _mse(y, model.predict(X))
    n_rows, n_features = X.shape
    increases = np.zeros((n_features, n_repeats))
    shuffled = X.copy()
    for j in range(n_features):
        rng = np.random.default_rng([seed, j])
        for r in range(n_repeats):
            shuffled[:, j] = X[rng.permutation(n_rows), j]
            increases[j, r] = _mse(y, model.predict(shuffled)) - base
        shuffled[:, j] = X[:, j]
    return increases.mean(axis=1), increases.std(axis=1), base


def _named(names, shares):
    return {name: float(v) for name, v in zip(names, shares)}


def top(importance, n=TOP):
    """The ``n`` largest non-zero shares as [{feature, importance}] (ties: feature order)."""
    ranked = sorted(importance.items(), key=lambda item: -item[1])
    return [{"feature": name, "importance": value} for name, value in ranked[:n] if value > 0]


def type_importance(model, feature_names, X_eval, y_eval, seed, n_repeats=N_REPEATS):
    """One type's entry: its main measure (native if it has one, else permutation) and the
    permutation block every type has."""
    names = list(feature_names)
    mean, std, base = permutation_importance(model, X_eval, y_eval, seed, n_repeats)
    perm = _named(names, normalise(np.clip(mean, 0.0, None)))
    permutation = {
        "method": PERMUTATION_METHOD,
        "importance": perm,
        "top_10": top(perm),
        "mse_increase": _named(names, mean),
        "mse_increase_std": _named(names, std),
        "baseline_mse": base,
    }
    native = native_importance(model, len(names))
    if native is None:
        entry = {"method": PERMUTATION_METHOD, "importance": perm, "top_10": top(perm)}
    else:
        shares = _named(names, normalise(native))
        entry = {"method": native_method(model.model_type), "importance": shares, "top_10": top(shares)}
    if not any(entry["importance"].values()):
        entry["note"] = "every share is zero: the model's predictions do not depend on any feature"
    entry["permutation"] = permutation
    return entry


def drift(per_type, basis="permutation", n=DRIFT_TOP):
    """How much the importance shares of two types differ, for every pair of types.

    ``basis`` "permutation" compares the permutation shares (one method for every type);
    "main" compares each type's main measure. Gainers are features with a larger share in
    ``b`` than in ``a``, losers the reverse.
    """
    pairs = []
    for a, b in itertools.combinations(per_type, 2):
        sa, sb = (_basis(per_type[t], basis) for t in (a, b))
        names = list(sa)
        diff = np.array([sb[f] - sa[f] for f in names])
        ranked = np.argsort(diff, kind="stable")
        pairs.append({
            "a": a, "b": b,
            "mean_abs_difference": float(np.mean(np.abs(diff))) if names else 0.0,
            "max_abs_difference": float(np.max(np.abs(diff))) if names else 0.0,
            "top_10_overlap": len({r["feature"] for r in top(sa)} & {r["feature"] for r in top(sb)}),
            "top_gainers": [{"feature": names[i], "change": float(diff[i])} for i in ranked[::-1][:n] if diff[i] > 0],
            "top_losers": [{"feature": names[i], "change": float(diff[i])} for i in ranked[:n] if diff[i] < 0],
        })
    return {"basis": basis, "pairs": pairs}


def _basis(entry, basis):
    return entry["permutation"]["importance"] if basis == "permutation" else entry["importance"]


def importance_document(models, chosen, feature_names, X_eval, y_eval, seed, part, n_repeats=N_REPEATS):
    """The feature_importance.json document for fitted ``models`` ({model_type: wrapper}).

    ``X_eval``/``y_eval`` are rows none of the models was fitted on (``part`` names them).
    """
    rows = eval_rows(len(y_eval), seed)
    X_eval, y_eval = np.asarray(X_eval)[rows], np.asarray(y_eval)[rows]
    per_type = {}
    for model_type, model in models.items():
        per_type[model_type] = type_importance(model, feature_names, X_eval, y_eval, seed, n_repeats)
        log.info("%s: top features %s", model_type, [r["feature"] for r in per_type[model_type]["top_10"][:3]])
    return {
        "format": FORMAT,
        "status": "ok",
        "chosen": chosen,
        "features": list(feature_names),
        "normalisation": NORMALISATION,
        "methods": {t: e["method"] for t, e in per_type.items()},
        "permutation": {"part": part, "n_rows": len(rows), "n_repeats": n_repeats, "seed": seed,
                        "metric": "increase of the MSE when the feature's column is shuffled"},
        "per_type": per_type,
        "drift": drift(per_type),
    }


def no_model_document(reason):
    """The document written when no model was trained (degenerate label)."""
    return {"format": FORMAT, "status": "no_model", "reason": reason, "chosen": None, "features": [],
            "normalisation": NORMALISATION, "methods": {}, "permutation": None, "per_type": {},
            "drift": {"basis": "permutation", "pairs": []}}
