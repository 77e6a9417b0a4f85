"""Step 5, one job each: the hyper-parameters of a trial, one fold's fit, and a trial's summary."""

import hashlib
import math
import time

import numpy as np

from models.model_factory import create_model
from models.model_selector import regression_metrics
from seedsift.errors import ConfigError, InputError
from seedsift.training.plan import POSITIVE_LABEL, check_table_matches, split_of
from seedsift.training.table import open_training_table


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
def _fold_metrics(y_train, p_train, y_val, p_val):
    train = regression_metrics(y_train, p_train)
    val = regression_metrics(y_val, p_val)
    baseline = regression_metrics(y_val, np.full_like(y_val, y_train.mean()))
    ratio = val["mae"] / train["mae"] if train["mae"] > 1e-12 else None
    return {
        "train_mse": train["mse"], "train_mae": train["mae"], "train_r2": train["r2"],
        "val_mse": val["mse"], "val_mae": val["mae"], "val_r2": val["r2"], "val_rmse": val["rmse"],
        "baseline_val_mse": baseline["mse"],
        "overfit_ratio": ratio,
    }


def _label_counts(y):
    return {"n": int(y.size), "variance": float(y.var()), "nonzero": int(np.count_nonzero(y)),
            "positives": int(np.sum(y >= POSITIVE_LABEL)), "constant": bool(y.std() < 1e-12)}


def run_fold(table_dir, plan, model_type, trial, fold, n_jobs=1, device="auto"):
    """Train (model_type, trial) on all folds but ``fold`` and validate on ``fold``; a result dict."""
    if model_type not in plan["model_types"]:
        raise ConfigError("model_type", model_type, f"one of the plan's model_types {plan['model_types']}")
    if not 0 <= trial < plan["trials"] or not 0 <= fold < plan["k_folds"]:
        raise ConfigError("trial/fold", (trial, fold), f"trial < {plan['trials']} and fold < {plan['k_folds']}")
    params = sample_params(model_type, trial, plan)
    base = {"model_type": model_type, "trial": trial, "fold": fold, "params": params}
    if plan["signal_quality"]["degenerate"]:
        return {**base, "status": "skipped", "reason": plan["signal_quality"]["reason"]}
    table = open_training_table(table_dir)
    check_table_matches(table, plan)
    assignment = split_of(table, plan)
    train_rows = np.flatnonzero((assignment >= 0) & (assignment != fold))
    val_rows = np.flatnonzero(assignment == fold)
    X_train, y_train = np.asarray(table.X[train_rows]), table.y[train_rows]
    X_val, y_val = np.asarray(table.X[val_rows]), table.y[val_rows]
    start = time.perf_counter()
    model = create_model(model_type, {**params, "n_jobs": n_jobs}, device=device)
    model.fit(X_train, y_train, X_val, y_val)
    p_val = model.predict(X_val)
    metrics = _fold_metrics(y_train, model.predict(X_train), y_val, p_val)
    duration = time.perf_counter() - start
    notes = list(model.notes_)
    if _label_counts(y_val)["constant"]:
        notes.append("the validation fold's label is constant: R2 is undefined, MSE compares with that constant")
    return {
        **base, "status": "ok", **metrics,
        "best_iteration": model.best_iteration_,
        "train_label": _label_counts(y_train), "val_label": _label_counts(y_val),
        "duration_s": round(duration, 3), "device": model.device_, "device_note": model.device_note_,
        "n_jobs": n_jobs, "notes": notes,
        # Out-of-fold predictions: Step 6's prior for these rows comes from a model that did not
        # train on their labels (see out_of_sample_priors).
        "val_rows": val_rows.tolist(), "val_predictions": [round(float(v), 9) for v in p_val],
    }


def _mean(values):
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


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
                "mean_val_mse": None, "folds": folds}
    val_mse = [r["val_mse"] for r in folds]
    summary.update({
        "status": "ok",
        "mean_val_mse": float(np.mean(val_mse)),
        "std_val_mse": float(np.std(val_mse)),
        "mean_train_mse": _mean(r["train_mse"] for r in folds),
        "mean_val_mae": _mean(r["val_mae"] for r in folds),
        "mean_val_r2": _mean(r["val_r2"] for r in folds),
        "mean_baseline_val_mse": _mean(r["baseline_val_mse"] for r in folds),
        "mean_overfit_ratio": _mean(r["overfit_ratio"] for r in folds),
        "mean_best_iteration": _mean(r["best_iteration"] for r in folds),
        "folds_without_positive": sum(1 for r in folds if r["val_label"]["positives"] == 0),
        "total_duration_s": round(sum(r["duration_s"] for r in folds), 3),
        "devices": sorted({r["device"] for r in folds}),
        "folds": [{k: r[k] for k in ("fold", "val_mse", "val_mae", "val_r2", "train_mse", "overfit_ratio",
                                     "best_iteration", "duration_s", "device")} for r in folds],
        "out_of_fold": {"rows": [i for r in folds for i in r["val_rows"]],
                        "predictions": [v for r in folds for v in r["val_predictions"]]},
    })
    return summary


