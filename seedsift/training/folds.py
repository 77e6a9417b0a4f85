"""Step 5, one job each: the hyper-parameters of a trial, one fold's fit, and a trial's summary."""

import hashlib
import logging
import math
import time

import numpy as np

from models.model_factory import create_model
from models.model_selector import regression_metrics
from seedsift.errors import ConfigError, InputError
from seedsift.training.plan import check_table_matches, early_stopping_split, split_of
from seedsift.training.table import open_training_table

log = logging.getLogger(__name__)


# -- hyper-parameters ----------------------------------------------------------------------------
def trial_seed(seed, model_type, trial):
    """A 63-bit seed from (seed, model_type, trial) via SHA-256 (stable across processes)."""
    digest = hashlib.sha256(f"{seed}:{model_type}:{trial}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def _sample(bound, rng):
    kind = bound["type"]
    if kind == "categorical":
        return bound["choices"][int(rng.integers(len(bound["choices"])))]
    lo, hi = bound["min"], bound["max"]
    if bound.get("log") and lo > 0:
        value = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    else:
        value = rng.uniform(lo, hi)
    if kind == "int":
        return int(min(hi, max(lo, round(value))))
    return float(value)


def sample_params(model_type, trial, plan):
    """Hyper-parameters of (model_type, trial): trial 0 = the defaults, others sampled.

    Sampling is deterministic: the RNG is seeded from (plan seed, model_type, trial) with
    SHA-256, never Python's hash(). Returns the wrapper config (with seed, without n_jobs).
    """
    space = plan["search_space"][model_type]
    seed = trial_seed(plan["seed"], model_type, trial)
    rng = np.random.default_rng(seed)
    params = {name: (space[name]["default"] if trial == 0 else _sample(space[name], rng)) for name in sorted(space)}
    if model_type == "neural_net":
        width, layers = params.pop("hidden_width"), params.pop("n_layers")
        params["hidden_layers"] = [max(8, int(width) >> i) for i in range(int(layers))]
    params.update(plan["fixed"].get(model_type, {}))
    params["seed"] = seed % (2**31)
    return params


# -- one fold ---------------------------------------------------------------------------------
def positive_auc(y, predictions, threshold):
    """Share of (positive, other) pairs the predictions order correctly (ties count half).

    0.5 is what a model that knows nothing gives, 1.0 a model that puts every positive
    (label >= ``threshold``) above every other row. Unlike the MSE, one positive moves it by
    at most its share of the pairs. None when the rows hold no positive or no other row.
    """
    from scipy.stats import rankdata

    y = np.asarray(y, dtype=np.float64)
    pos = y >= threshold
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(np.asarray(predictions, dtype=np.float64))
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _fold_metrics(y_fit, p_fit, y_val, p_val, threshold):
    train = regression_metrics(y_fit, p_fit)
    val = regression_metrics(y_val, p_val)
    baseline = regression_metrics(y_val, np.full_like(y_val, y_fit.mean()))
    ratio = val["mae"] / train["mae"] if train["mae"] > 1e-12 else None
    return {
        "train_mse": train["mse"], "train_mae": train["mae"], "train_r2": train["r2"],
        "val_mse": val["mse"], "val_mae": val["mae"], "val_r2": val["r2"], "val_rmse": val["rmse"],
        "val_positive_auc": positive_auc(y_val, p_val, threshold),
        "baseline_val_mse": baseline["mse"],
        "overfit_ratio": ratio,
    }


def _label_counts(y, threshold):
    return {"n": int(y.size), "variance": float(y.var()) if y.size else 0.0, "nonzero": int(np.count_nonzero(y)),
            "positives": int(np.sum(y >= threshold)), "constant": bool(y.size == 0 or y.std() < 1e-12)}


def skip_reason(plan, trial):
    """Why (model_type, trial) is not trained under ``plan``, or None when it is."""
    if plan["training"]["status"] != "ok":
        return plan["training"]["reason"]
    if trial > 0 and not plan["selection"]["enabled"]:
        return "only trial 0 is trained: " + plan["selection"]["reason"]
    return None


def run_fold(table_dir, plan, model_type, trial, fold, n_jobs=1, device="auto"):
    """Train (model_type, trial) on all folds but ``fold`` and validate on ``fold``; a result dict.

    Early stopping watches a stratified split of the training folds' rows (plan.early_stopping_split),
    so the validation fold that scores the model, and whose out-of-fold predictions become Step 6's
    priors, chose nothing.
    """
    if model_type not in plan["model_types"]:
        raise ConfigError("model_type", model_type, f"one of the plan's model_types {plan['model_types']}")
    if not 0 <= trial < plan["trials"] or not 0 <= fold < plan["k_folds"]:
        raise ConfigError("trial/fold", (trial, fold), f"trial < {plan['trials']} and fold < {plan['k_folds']}")
    params = sample_params(model_type, trial, plan)
    base = {"model_type": model_type, "trial": trial, "fold": fold, "params": params}
    reason = skip_reason(plan, trial)
    if reason:
        return {**base, "status": "skipped", "reason": reason}
    threshold = plan["signal_quality"]["positive_threshold"]
    table = open_training_table(table_dir)
    check_table_matches(table, plan)
    assignment = split_of(table, plan)
    train_rows = np.flatnonzero((assignment >= 0) & (assignment != fold))
    val_rows = np.flatnonzero(assignment == fold)
    stop = early_stopping_split(table.y[train_rows], plan["seed"], fold)
    fit_rows, stop_rows = train_rows[~stop], train_rows[stop]
    X_fit, y_fit = np.asarray(table.X[fit_rows]), table.y[fit_rows]
    X_val, y_val = np.asarray(table.X[val_rows]), table.y[val_rows]
    start = time.perf_counter()
    model = create_model(model_type, {**params, "n_jobs": n_jobs}, device=device)
    if stop_rows.size:
        model.fit(X_fit, y_fit, np.asarray(table.X[stop_rows]), table.y[stop_rows])
    else:
        model.fit(X_fit, y_fit)
    p_val = model.predict(X_val)
    metrics = _fold_metrics(y_fit, model.predict(X_fit), y_val, p_val, threshold)
    log.info("%s trial %d fold %d: %.2f s on %s", model_type, trial, fold, time.perf_counter() - start, model.device_)
    notes = list(model.notes_)
    if _label_counts(y_val, threshold)["constant"]:
        notes.append("the validation fold's label is constant: R2 is undefined, MSE compares with that constant")
    if not stop_rows.size:
        notes.append(f"{train_rows.size} training rows: too few to set any aside, so no early stopping")
    return {
        **base, "status": "ok", **metrics,
        "best_iteration": model.best_iteration_,
        "early_stopping": {"fit_rows": int(fit_rows.size), "stop_rows": int(stop_rows.size),
                           "watched": "a stratified split of the training folds" if stop_rows.size else None},
        "train_label": _label_counts(y_fit, threshold), "stop_label": _label_counts(table.y[stop_rows], threshold),
        "val_label": _label_counts(y_val, threshold),
        "device": model.device_, "device_note": model.device_note_,
        "n_jobs": n_jobs, "notes": notes,
        # Out-of-fold predictions: Step 6's prior for these rows comes from a model that neither
        # trained nor stopped on their labels (see out_of_sample_priors).
        "val_rows": val_rows.tolist(), "val_predictions": [round(float(v), 9) for v in p_val],
    }


def _mean(values):
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _pooled_auc(folds):
    """Mean of the folds' positive AUC weighted by their positives (folds without one carry no weight)."""
    pairs = [(r["val_positive_auc"], r["val_label"]["positives"]) for r in folds if r["val_positive_auc"] is not None]
    weight = sum(w for _, w in pairs)
    return float(sum(a * w for a, w in pairs) / weight) if weight else None


def summarize_trial(fold_results):
    """Mean and spread of a trial's fold results; all folds must be of one (type, trial)."""
    if not fold_results:
        raise InputError("fold results", "", "no fold results to summarise")
    first = fold_results[0]
    key = (first["model_type"], first["trial"])
    folds = sorted(fold_results, key=lambda r: r["fold"])
    for r in folds:
        if (r["model_type"], r["trial"]) != key or r["params"] != first["params"]:
            raise InputError("fold results", f"fold {r['fold']}",
                             f"belongs to {r['model_type']} trial {r['trial']}, not {key[0]} trial {key[1]}")
    indices = [r["fold"] for r in folds]
    if indices != list(range(len(folds))):
        raise InputError("fold results", "fold", f"folds {indices} are not 0..{len(folds) - 1} exactly once")
    summary = {"model_type": key[0], "trial": key[1], "params": first["params"], "k_folds": len(folds)}
    if any(r["status"] != "ok" for r in folds):
        return {**summary, "status": "skipped", "reason": next(r.get("reason") for r in folds if r["status"] != "ok"),
                "mean_val_mse": None, "mean_val_positive_auc": None, "folds": folds}
    val_mse = [r["val_mse"] for r in folds]
    summary.update({
        "status": "ok",
        "mean_val_positive_auc": _pooled_auc(folds),
        "mean_val_mse": float(np.mean(val_mse)),
        "std_val_mse": float(np.std(val_mse)),
        "mean_train_mse": _mean(r["train_mse"] for r in folds),
        "mean_val_mae": _mean(r["val_mae"] for r in folds),
        "mean_val_r2": _mean(r["val_r2"] for r in folds),
        "mean_baseline_val_mse": _mean(r["baseline_val_mse"] for r in folds),
        "mean_overfit_ratio": _mean(r["overfit_ratio"] for r in folds),
        "mean_best_iteration": _mean(r["best_iteration"] for r in folds),
        "val_positives": sum(r["val_label"]["positives"] for r in folds),
        "folds_without_positive": sum(1 for r in folds if r["val_label"]["positives"] == 0),
        "devices": sorted({r["device"] for r in folds}),
        "folds": [{k: r[k] for k in ("fold", "val_mse", "val_mae", "val_r2", "val_positive_auc", "train_mse",
                                     "overfit_ratio", "best_iteration", "device")} for r in folds],
        "out_of_fold": {"rows": [i for r in folds for i in r["val_rows"]],
                        "predictions": [v for r in folds for v in r["val_predictions"]]},
    })
    return summary
