"""Step 4 (training plan) and Step 5 (k-fold trials, selection, final model) as library code.

The pipeline runs these as separate jobs (``rules/training.smk``); the seed's CLI
(``scripts/meta_prediction_optimizer_anti_overfit.py``) calls ``run_all``, which runs the
same functions in one process and writes the same files.

Data flow:
    write_training_table  survivors JSON -> table folder (X.npy, y.npy, ids.npy, table.json)
    make_plan             table -> reinforcement_engine_config.json (plan_training + split)
    run_fold              (model_type, trial, fold) -> fold result dict
    summarize_trial       fold results -> trial summary
    select_and_finalise   trial summaries -> best_model.<ext>, best_model.meta.json,
                          training_history.json, model_comparison.json, test_predictions.json,
                          feature_importance.json (seedsift.importance)

The split is made once from (n, test_fraction, k_folds, seed): a test part that is only
used to report the chosen model, and k folds of the train part for cross-validation.
"""

import hashlib
import logging
import math
import time
from pathlib import Path

import numpy as np

from models.feature_schema import DEFAULT_LABEL, feature_schema_of
from models.gpu_memory import hardware_summary
from models.model_factory import (SIDECAR_NAME, create_model, get_model_extension, remove_sidecar_outputs,
                                  save_model_with_sidecar, save_no_model_sidecar)
from models.model_selector import regression_metrics
from models.wrappers import MODEL_TYPES
from seedsift import importance, manifests
from seedsift.errors import ConfigError, InputError
from seedsift.jsonio import read_json, write_json
from seedsift.provenance import success_criteria
from seedsift.training_table import TABLE_JSON, open_training_table, write_training_table

log = logging.getLogger(__name__)

PLAN_FORMAT = "seedsift.training_plan/1"
MANIFEST = "reinforcement"
# A survivor "reproduces" its hypothesis when it matches at least half of the holdout draws;
# chance survivors sit near 1/mod. Only used to report how many such positives each part has.
POSITIVE_LABEL = 0.5
# Fewer positives than this cannot be spread over test and folds with more than one or two in
# each, so whatever the model learns about them is anecdotal: the signal is called weak.
MIN_POSITIVES = 10
EARLY_STOPPING_ROUNDS = 20
TEST_PREDICTIONS_FORMAT = "seedsift.test_predictions/1"
# Test rows kept in test_predictions.json at most (a seeded sample beyond that): enough for a
# scatter plot, small enough that a large run does not write a large file.
MAX_TEST_PREDICTION_ROWS = 20_000
# Rows a tree leaf should have on average when the plan caps depth and leaves.
ROWS_PER_LEAF = 20
TREE_MAX_DEPTH = 8
# Rows x boosting rounds one tree fold may process: keeps a fold within seconds on one core.
TREE_ROW_ROUND_BUDGET = 20_000_000
# Rows x epochs one neural-net fold may process: keeps a fold within seconds on 2 cores.
NN_ROW_EPOCH_BUDGET = 3_000_000
NN_MAX_WIDTH = 256
NN_MAX_STEPS = 250
SELECTION_RULE = (
    "best trial per model type = lowest mean validation MSE over the k folds (ties: the lower trial "
    "number, so the defaults of trial 0 win a tie); with compare_models the chosen type is the one whose "
    "best trial has the lowest mean validation MSE (ties: the order of training.model_types); otherwise "
    "training.model_type. The test part is never used for a choice."
)


# -- config and search space -------------------------------------------------------------------
def default_training_config():
    """The ``training`` config section with every manifest default."""
    manifest = manifests.load(MANIFEST)
    return {name: bound["default"] for name, bound in manifest["parameter_bounds"].items()
            if not bound.get("cli_only") and "search_space" not in bound}


def search_bounds(model_type):
    """{parameter: bound} of ``model_type``'s hyper-parameters in manifests/reinforcement.json."""
    manifest = manifests.load(MANIFEST)
    prefix = f"{model_type}."
    return {name[len(prefix):]: dict(bound) for name, bound in manifest["parameter_bounds"].items()
            if bound.get("search_space") == model_type}


def _check_config(cfg):
    model_types = list(cfg["model_types"])
    for t in model_types:
        if t not in MODEL_TYPES:
            raise ConfigError("training.model_types", model_types, f"a list of {list(MODEL_TYPES)}")
    if not cfg["compare_models"] and cfg["model_type"] not in model_types:
        raise ConfigError("training.model_type", cfg["model_type"],
                          f"one of training.model_types {model_types} when training.compare_models is false")
    return model_types


# -- Step 4: the plan ----------------------------------------------------------------------------
def _pow2_floor(x):
    return 2 ** int(math.floor(math.log2(max(1.0, x))))


def _narrow(bound, lo=None, hi=None):
    """``bound`` with [min, max] narrowed (never widened) and the default clipped into it."""
    out = dict(bound)
    if lo is not None:
        out["min"] = max(out["min"], lo)
    if hi is not None:
        out["max"] = min(out["max"], hi)
    out["min"] = min(out["min"], out["max"])
    if out.get("default") is not None:
        out["default"] = min(max(out["default"], out["min"]), out["max"])
    return out


def _plan_neural_net(space, fit_rows, n_features, reasons):
    width_cap = min(NN_MAX_WIDTH, max(16, min(_pow2_floor(fit_rows / 25), _pow2_floor(8 * n_features))))
    space["hidden_width"] = _narrow(space["hidden_width"], hi=width_cap)
    reasons["neural_net.hidden_width"] = (
        f"first layer at most {space['hidden_width']['max']} units: at most one unit per 25 training rows "
        f"({fit_rows} per fold) and 8 per feature ({n_features}), rounded down to a power of two, never above "
        f"{NN_MAX_WIDTH} (it keeps a fold within seconds), so the network cannot memorise the few positives")
    layer_cap = 1 if fit_rows < 500 else 2 if fit_rows < 5000 else 3
    space["n_layers"] = _narrow(space["n_layers"], hi=layer_cap)
    reasons["neural_net.n_layers"] = (
        f"at most {space['n_layers']['max']} hidden layers (1 below 500 rows per fold, 2 below 5,000, else 3): "
        "deeper nets need more data than a survivor table has")
    choices = space["batch_size"]["choices"]
    fits = [c for c in choices if fit_rows / NN_MAX_STEPS <= c <= max(choices[0], fit_rows / 4)]
    space["batch_size"]["choices"] = fits or [choices[0]]
    space["batch_size"]["default"] = min(space["batch_size"]["choices"],
                                         key=lambda c: abs(math.log(c / space["batch_size"]["default"])))
    reasons["neural_net.batch_size"] = (
        f"batch sizes {space['batch_size']['choices']}: at least 4 steps per epoch and at most {NN_MAX_STEPS}, "
        "so small tables still get several updates per epoch and large ones do not crawl")
    epoch_cap = int(min(space["epochs"]["max"], max(space["epochs"]["min"], NN_ROW_EPOCH_BUDGET // max(fit_rows, 1))))
    space["epochs"] = _narrow(space["epochs"], hi=epoch_cap)
    reasons["neural_net.epochs"] = (
        f"at most {space['epochs']['max']} epochs: rows x epochs per fold within {NN_ROW_EPOCH_BUDGET:,} "
        "(seconds on one CPU core); early stopping on the validation fold usually stops sooner")
    patience_cap = max(space["patience"]["min"], space["epochs"]["max"] // 5)
    space["patience"] = _narrow(space["patience"], hi=patience_cap)
    reasons["neural_net.patience"] = f"patience at most a fifth of the epoch cap ({space['patience']['max']})"


def _plan_trees(model_type, space, fit_rows, reasons):
    by_rows = 50 * round(fit_rows / 500)
    by_time = 50 * (TREE_ROW_ROUND_BUDGET // max(fit_rows, 1) // 50)
    round_cap = int(min(space["n_estimators"]["max"], max(50, min(by_rows, by_time))))
    space["n_estimators"] = _narrow(space["n_estimators"], hi=round_cap)
    reasons[f"{model_type}.n_estimators"] = (
        f"at most {space['n_estimators']['max']} rounds (about one per 10 training rows, rows x rounds within "
        f"{TREE_ROW_ROUND_BUDGET:,}, 50 at least): with early stopping after {EARLY_STOPPING_ROUNDS} rounds "
        "without improvement the cap only bounds the time")
    depth_cap = max(2, min(TREE_MAX_DEPTH, int(math.floor(math.log2(max(fit_rows, 4) / ROWS_PER_LEAF)))))
    if model_type == "lightgbm":
        leaves_cap = max(4, min(space["num_leaves"]["max"], fit_rows // ROWS_PER_LEAF, 2 ** depth_cap))
        space["num_leaves"] = _narrow(space["num_leaves"], hi=leaves_cap)
        reasons["lightgbm.num_leaves"] = (
            f"at most {space['num_leaves']['max']} leaves: {ROWS_PER_LEAF} training rows per leaf on average")
        space["min_child_samples"] = _narrow(space["min_child_samples"], hi=max(2, fit_rows // 20))
        reasons["lightgbm.min_child_samples"] = "a leaf may not need more than 5% of the training rows"
    else:
        key = "max_depth" if model_type == "xgboost" else "depth"
        space[key] = _narrow(space[key], hi=depth_cap)
        reasons[f"{model_type}.{key}"] = (
            f"depth at most {space[key]['max']}: log2(rows per fold / {ROWS_PER_LEAF}), and never above "
            f"{TREE_MAX_DEPTH} (2^{TREE_MAX_DEPTH} leaves are plenty for about 50 features; deeper trees fit the "
            "chance survivors' noise and cost time)")


def plan_training(n_survivors, n_features, config):
    """The training plan: search space per model type scaled to the data, trial and fold counts.

    A plain rule-of-thumb capacity plan (see the ``reasons`` it returns), within the bounds of
    manifests/reinforcement.json; it trains nothing and optimises nothing. ``config`` is the
    validated ``training`` section.
    """
    cfg = dict(default_training_config())
    cfg.update(config or {})
    model_types = _check_config(cfg)
    n = int(n_survivors)
    if n < 6:
        raise InputError("training table", "n", f"{n} survivors are too few to split into test and folds (need 6)")
    reasons = {}
    n_test = max(1, int(round(n * cfg["test_fraction"])))
    n_train = n - n_test
    reasons["test_fraction"] = (f"{n_test} of {n} survivors form the test part (training.test_fraction "
                                f"{cfg['test_fraction']}); it only reports the chosen model")
    k = int(cfg["k_folds"])
    # The fold count is never changed here: the pipeline's fold jobs are fixed file targets.
    if n_train // k < 2:
        raise InputError("training table", "n", f"the train part has {n_train} survivors: too few for "
                         f"training.k_folds = {k} folds of at least 2 rows (lower k_folds or score more survivors)")
    reasons["k_folds"] = f"{k} folds as configured; each validation fold has about {n_train // k} rows"
    fit_rows = n_train - n_train // k
    reasons["trials"] = (f"{cfg['trials']} trials per type as configured: trial 0 takes the defaults, later "
                         "trials are sampled deterministically from the search space below")
    search_space, fixed = {}, {}
    for model_type in model_types:
        space = search_bounds(model_type)
        if model_type == "neural_net":
            _plan_neural_net(space, fit_rows, int(n_features), reasons)
            fixed[model_type] = {}
        else:
            _plan_trees(model_type, space, fit_rows, reasons)
            fixed[model_type] = {"early_stopping_rounds": EARLY_STOPPING_ROUNDS}
        search_space[model_type] = space
    return {
        "format": PLAN_FORMAT,
        "method": ("heuristic capacity plan: fixed rules of thumb scaled to the number of survivors and "
                   "features (see reasons); it is not an optimisation and trains nothing"),
        "data": {"n_survivors": n, "n_features": int(n_features), "n_train": n_train, "n_test": n_test,
                 "fit_rows_per_fold": fit_rows},
        "model_types": model_types,
        "model_type": cfg["model_type"],
        "compare_models": bool(cfg["compare_models"]),
        "trials": int(cfg["trials"]),
        "k_folds": k,
        "test_fraction": float(cfg["test_fraction"]),
        "label": cfg["label"],
        "seed": int(cfg["seed"]),
        "search_space": search_space,
        "fixed": fixed,
        "selection": SELECTION_RULE,
        "reasons": reasons,
    }


# -- the split ---------------------------------------------------------------------------------
def split_assignment(y, test_fraction, k_folds, seed):
    """Per row: -1 = test part, 0..k-1 = validation fold of the train part.

    Stratified on the label: rows sorted by label (random order among equal labels) are cut
    into consecutive blocks and each block sends one random row to the test part and spreads
    the rest over the folds, so the rare positives are spread as evenly as chance allows.
    """
    y = np.asarray(y, dtype=np.float64)
    n = y.shape[0]
    rng = np.random.default_rng([int(seed), n, k_folds])
    order = np.lexsort((rng.random(n), y))
    n_test = max(1, int(round(n * test_fraction)))
    assignment = np.empty(n, dtype=np.int8)
    # Test: one row chosen at random from each of n_test equal slices of the sorted order.
    edges = np.linspace(0, n, n_test + 1).astype(np.int64)
    picks = edges[:-1] + (rng.random(n_test) * (edges[1:] - edges[:-1])).astype(np.int64)
    is_test = np.zeros(n, dtype=bool)
    is_test[order[picks]] = True
    assignment[order[picks]] = -1
    train_order = order[~is_test[order]]
    for start in range(0, train_order.shape[0], k_folds):
        block = train_order[start:start + k_folds]
        assignment[block] = rng.permutation(k_folds)[: block.shape[0]]
    return assignment


def _assignment_hash(assignment):
    return hashlib.sha256(np.ascontiguousarray(assignment, dtype=np.int8).tobytes()).hexdigest()


def signal_quality(y, k_folds=None, assignment=None):
    """How much the label can teach: degenerate / weak / healthy, with the figures behind it.

    degenerate: one distinct value (nothing to learn, no model is trained);
    weak: fewer than 1% of survivors have a non-zero label, its variance is below 1e-3, or
    fewer than MIN_POSITIVES survivors are positives (typical of a real run: one true
    hypothesis among thousands of chance survivors, too few for cross-validation to learn);
    healthy: otherwise. Counts of positives (label >= 0.5) per part say what CV could see.
    """
    y = np.asarray(y, dtype=np.float64)
    n = int(y.size)
    distinct = int(np.unique(y).size) if n else 0
    variance = float(y.var()) if n else 0.0
    nonzero = int(np.count_nonzero(y))
    positives = int(np.sum(y >= POSITIVE_LABEL))
    out = {
        "target_name": None, "sample_size": n, "unique_target_values": distinct,
        "target_mean": float(y.mean()) if n else None, "target_std": float(y.std()) if n else None,
        "target_variance": variance, "nonzero_count": nonzero, "nonzero_ratio": nonzero / n if n else 0.0,
        "positive_threshold": POSITIVE_LABEL, "n_positive": positives,
    }
    if distinct <= 1 or variance < 1e-12:
        out.update(signal_status="degenerate", prediction_allowed=False, degenerate=True,
                   reason=f"the label has no variance ({distinct} distinct value{'s' if distinct != 1 else ''}): "
                          "there is nothing to learn, so no model is trained")
    elif out["nonzero_ratio"] < 0.01 or variance < 1e-3 or positives < MIN_POSITIVES:
        out.update(signal_status="weak", prediction_allowed=True, degenerate=False,
                   reason=f"{nonzero} of {n} labels are non-zero and {positives} reach {POSITIVE_LABEL}: the model "
                          "mostly sees chance survivors; trust the test metrics, not the model's confidence")
    else:
        out.update(signal_status="healthy", prediction_allowed=True, degenerate=False,
                   reason="the label varies across many survivors")
    if positives == 0 and not out["degenerate"]:
        out["reason"] += f"; no survivor reaches {POSITIVE_LABEL} (no positive at all)"
    if assignment is not None and k_folds:
        pos = y >= POSITIVE_LABEL
        out["positives_in_test"] = int(np.sum(pos & (assignment == -1)))
        out["positives_per_fold"] = [int(np.sum(pos & (assignment == f))) for f in range(k_folds)]
        out["folds_without_positive"] = sum(1 for c in out["positives_per_fold"] if c == 0)
    return out


def make_plan(table_dir, config):
    """Plan for the table in ``table_dir``: plan_training + the split + the label's signal quality."""
    table = open_training_table(table_dir)
    cfg = dict(default_training_config())
    cfg.update(config or {})
    if table.meta["label"]["field"] != cfg["label"]:
        raise ConfigError("training.label", cfg["label"],
                          f"the label the table was built with ({table.meta['label']['field']!r}): rebuild the table")
    plan = plan_training(table.meta["n"], table.meta["d"], cfg)
    assignment = split_assignment(table.y, plan["test_fraction"], plan["k_folds"], plan["seed"])
    sq = signal_quality(table.y, plan["k_folds"], assignment)
    sq["target_name"] = cfg["label"]
    plan["signal_quality"] = sq
    plan["split"] = {
        "method": "stratified on the label (sorted blocks), seeded by training.seed",
        "n_test": int(np.sum(assignment == -1)),
        "fold_sizes": [int(np.sum(assignment == f)) for f in range(plan["k_folds"])],
        "assignment_sha256": _assignment_hash(assignment),
    }
    plan["data"].update(feature_schema_hash=table.meta["feature_schema_hash"],
                        table_source_sha256=table.meta["source_sha256"])
    if sq["degenerate"]:
        plan["reasons"]["no_model"] = sq["reason"]
    return plan


def read_plan(path):
    """A plan file written by make_plan (format checked)."""
    plan = read_json(path, "training plan")
    if not isinstance(plan, dict) or plan.get("format") != PLAN_FORMAT:
        raise InputError(path, "field 'format'", f"expected {PLAN_FORMAT!r}: not a training plan")
    for key in ("model_types", "trials", "k_folds", "search_space", "split", "signal_quality", "seed"):
        if key not in plan:
            raise InputError(path, f"field '{key}'", "is missing")
    return plan


def _split_of(table, plan):
    assignment = split_assignment(table.y, plan["test_fraction"], plan["k_folds"], plan["seed"])
    if _assignment_hash(assignment) != plan["split"]["assignment_sha256"]:
        raise InputError("reinforcement_engine_config.json", "split.assignment_sha256",
                         "the split recomputed from the table differs from the plan's: rerun plan_training")
    return assignment


def _check_table_matches(table, plan):
    if table.meta["feature_schema_hash"] != plan["data"]["feature_schema_hash"] or \
            table.meta["n"] != plan["data"]["n_survivors"]:
        raise InputError(table.path / TABLE_JSON, "feature_schema_hash",
                         "the table is not the one the plan was made for: rerun plan_training")


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
    _check_table_matches(table, plan)
    assignment = _split_of(table, plan)
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


# -- selection and the final model ---------------------------------------------------------------
def best_trials(trial_summaries, model_types):
    """{model_type: best trial summary} by mean validation MSE (ties: lower trial number)."""
    best = {}
    for s in sorted(trial_summaries, key=lambda s: (s["model_type"], s["trial"])):
        if s["status"] != "ok" or s["model_type"] not in model_types:
            continue
        current = best.get(s["model_type"])
        if current is None or s["mean_val_mse"] < current["mean_val_mse"]:
            best[s["model_type"]] = s
    return best


def _final_params(summary):
    """The best trial's params for a refit on the whole train part: the rounds/epochs the folds
    stopped at on average (there is no validation fold left to stop on)."""
    params = dict(summary["params"])
    rounds = int(round(summary["mean_best_iteration"] or 0)) + 1
    key = "epochs" if summary["model_type"] == "neural_net" else "n_estimators"
    params[key] = max(1, rounds)
    if summary["model_type"] == "neural_net":
        params["patience"] = params[key]
    return params


def _test_metrics(y_train, y_test, p_test):
    model = regression_metrics(y_test, p_test)
    base = regression_metrics(y_test, np.full_like(y_test, y_train.mean()))
    improvement = 100.0 * (base["mse"] - model["mse"]) / base["mse"] if base["mse"] > 0 else None
    return {
        "n_test": int(y_test.size), "mse": model["mse"], "mae": model["mae"], "rmse": model["rmse"],
        "r2": model["r2"], "baseline_mse": base["mse"], "baseline_mae": base["mae"],
        "baseline_prediction": float(y_train.mean()), "improvement_pct": improvement,
        "beats_baseline": bool(model["mse"] < base["mse"]),
        "positives_in_test": int(np.sum(y_test >= POSITIVE_LABEL)),
    }


def _with_success(lineage, measured):
    """``lineage`` with the step's success criteria evaluated on ``measured`` (None stays None)."""
    if not lineage:
        return lineage
    met, details = success_criteria(MANIFEST, measured)
    return dict(lineage, success_criteria_met=met, success_criteria=details)


def _write_no_model(out_dir, table, plan, trial_summaries, reason, provenance, paths, lineage=None):
    sq = dict(plan["signal_quality"])
    lineage = _with_success(lineage, {"beats_baseline_on_test": False})
    history = {"status": "no_model", "reason": reason, "model_type": None, "epochs_or_rounds": []}
    comparison = {"status": "no_model", "reason": reason, "chosen": None, "selection": SELECTION_RULE,
                  "per_type": {}, "trials": [_trial_row(s) for s in trial_summaries]}
    predictions = {"format": TEST_PREDICTIONS_FORMAT, "status": "no_model", "reason": reason, "chosen": None,
                   "part": "test", "n_test": 0, "rows": [], "actual": [], "predicted": {}}
    _write_with_lineage(paths["history"], history, lineage)
    _write_with_lineage(paths["comparison"], comparison, lineage)
    _write_with_lineage(paths["test_predictions"], predictions, lineage)
    _write_with_lineage(paths["importance"], importance.no_model_document(reason), lineage)
    _write_with_lineage(paths["priors"], {"format": PRIORS_FORMAT, "status": "no_model", "reason": reason,
                                          "model_type": None, "survivors_sha256": table.meta["source_sha256"],
                                          "n": int(table.meta["n"]), "prior": None}, lineage)
    save_no_model_sidecar(out_dir, table.meta["feature_schema"], table.meta["label"], sq,
                          training_info=_training_info(plan, None, None), provenance=provenance, lineage=lineage)
    log.warning("no model trained: %s", reason)
    return {"status": "no_model", "reason": reason, "chosen": None}


def _trial_row(s):
    return {"model_type": s["model_type"], "trial": s["trial"], "status": s["status"],
            "mean_val_mse": s.get("mean_val_mse"), "std_val_mse": s.get("std_val_mse")}


def _training_info(plan, chosen, trial):
    return {"n_trials": plan["trials"], "k_folds": plan["k_folds"], "model_type": chosen, "best_trial": trial,
            "model_types": plan["model_types"], "compare_models": plan["compare_models"],
            "selection": SELECTION_RULE, "plan_method": plan["method"]}


def sidecar_dir(sidecar):
    """The model folder of a sidecar path (whose name is fixed by the seed)."""
    sidecar = Path(sidecar)
    if sidecar.name != SIDECAR_NAME:
        raise InputError(sidecar, "", f"the sidecar must be named {SIDECAR_NAME} (Step 6 looks for that name)")
    return sidecar.parent


def _write_with_lineage(path, doc, lineage):
    if lineage:
        doc = dict(doc, agent_metadata=dict(lineage, outputs=[str(path)]))
    write_json(path, doc)


def _test_predictions(chosen, table, train_rows, test_rows, y_train, y_test, predictions, seed):
    keep = importance.eval_rows(len(test_rows), seed, MAX_TEST_PREDICTION_ROWS)
    return {
        "format": TEST_PREDICTIONS_FORMAT, "status": "ok", "chosen": chosen, "label": table.meta["label"]["field"],
        "part": "test", "n_test": len(test_rows), "n_rows": len(keep),
        "baseline_prediction": float(y_train.mean()), "n_train": len(train_rows),
        "rows": test_rows[keep].tolist(), "actual": y_test[keep].tolist(),
        "predicted": {t: p[keep].tolist() for t, p in predictions.items()},
    }


PRIORS_FORMAT = "seedsift.out_of_sample_priors/1"
PRIORS_METHOD = (
    "each survivor's predicted quality from a model that never trained on its label: train-part rows "
    "from the chosen trial's fold model that held them out (its early stopping did watch that fold), "
    "test-part rows from the final model, which was fitted on the train part only"
)


def out_of_sample_priors(table, chosen, best_summary, train_rows, test_rows, test_predictions):
    """The Step 6 prior of every table row, predicted by a model that did not see the row's label.

    In-sample predictions of the final model would already contain the holdout label that Step 6
    adds as evidence; these priors do not (PRIORS_METHOD says how each row is covered).
    """
    n = table.meta["n"]
    prior = np.full(n, np.nan)
    prior[test_rows] = test_predictions
    oof = best_summary.get("out_of_fold") or {}
    rows = np.asarray(oof.get("rows", []), dtype=np.int64)
    if rows.size != train_rows.size or not np.array_equal(np.sort(rows), train_rows):
        raise InputError("trial summary", "out_of_fold",
                         f"{best_summary['model_type']} trial {best_summary['trial']}: out-of-fold rows do not "
                         "cover the train part exactly once (rerun its train_fold jobs)")
    prior[rows] = oof["predictions"]
    return {
        "format": PRIORS_FORMAT, "status": "ok", "model_type": chosen, "best_trial": best_summary["trial"],
        "method": PRIORS_METHOD, "survivors_sha256": table.meta["source_sha256"], "n": int(n),
        "prior": [round(float(v), 9) for v in prior],
    }


def select_and_finalise(table_dir, plan, trial_summaries, out_dir, n_jobs=1, device="auto", provenance=None,
                        history_path=None, comparison_path=None, lineage=None, importance_path=None,
                        test_predictions_path=None, priors_path=None):
    """Choose the model, refit it on the whole train part, evaluate it on the test part, write it.

    Writes training_history.json, model_comparison.json, test_predictions.json (every type's
    predictions on the test part) and feature_importance.json (every type, see
    seedsift.importance; permutation scores on the test part), then best_model.<ext> and last
    best_model.meta.json (or a sidecar with checkpoint_path null when the label is degenerate).
    Every type's best trial is refitted and tested for the comparison table; only the
    validation score chooses. Paths left None go beside the sidecar.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "history": Path(history_path or out_dir / "training_history.json"),
        "comparison": Path(comparison_path or out_dir / "model_comparison.json"),
        "test_predictions": Path(test_predictions_path or out_dir / "test_predictions.json"),
        "importance": Path(importance_path or out_dir / "feature_importance.json"),
        "priors": Path(priors_path or out_dir / "out_of_sample_priors.json"),
    }
    remove_sidecar_outputs(out_dir)
    table = open_training_table(table_dir)
    _check_table_matches(table, plan)
    provenance = dict(provenance or {})
    provenance.update(survivors_file=table.meta["source_file"], survivors_sha256=table.meta["source_sha256"],
                      n_survivors_loaded=table.meta["n"])
    if plan["signal_quality"]["degenerate"]:
        return _write_no_model(out_dir, table, plan, trial_summaries, plan["signal_quality"]["reason"], provenance,
                               paths, lineage=lineage)
    model_types = plan["model_types"]
    best = best_trials(trial_summaries, model_types)
    missing = [t for t in model_types if t not in best]
    if missing:
        raise InputError("trial summaries", "model_type", f"no completed trial for {missing}")
    if plan["compare_models"]:
        chosen = min(model_types, key=lambda t: (best[t]["mean_val_mse"], model_types.index(t)))
    else:
        chosen = plan["model_type"]
    assignment = _split_of(table, plan)
    train_rows, test_rows = np.flatnonzero(assignment >= 0), np.flatnonzero(assignment == -1)
    X_train, y_train = np.asarray(table.X[train_rows]), table.y[train_rows]
    X_test, y_test = np.asarray(table.X[test_rows]), table.y[test_rows]
    per_type, models, test_predictions = {}, {}, {}
    for model_type in model_types:
        summary = best[model_type]
        params = _final_params(summary)
        start = time.perf_counter()
        model = create_model(model_type, {**params, "n_jobs": n_jobs}, device=device)
        model.fit(X_train, y_train)
        test_predictions[model_type] = model.predict(X_test)
        test = _test_metrics(y_train, y_test, test_predictions[model_type])
        models[model_type] = model
        cv = {k: summary[k] for k in ("mean_val_mse", "std_val_mse", "mean_val_mae", "mean_val_r2",
                                      "mean_train_mse", "mean_baseline_val_mse", "mean_overfit_ratio",
                                      "mean_best_iteration", "folds_without_positive")}
        cv["fold_val_mse"] = [f["val_mse"] for f in summary["folds"]]
        per_type[model_type] = {
            "best_trial": summary["trial"], "params": params, "cv": cv,
            "test": test, "refit_seconds": round(time.perf_counter() - start, 3), "device": model.device_,
        }
    rankings = sorted(model_types, key=lambda t: (best[t]["mean_val_mse"], model_types.index(t)))
    model = models[chosen]
    comparison = {
        "status": "ok", "chosen": chosen, "compare_models": plan["compare_models"], "selection": SELECTION_RULE,
        "metric": "mean validation MSE over the k folds (lower is better)",
        "rankings": [{"rank": i + 1, "model": t, "mean_val_mse": best[t]["mean_val_mse"],
                      "test_mse": per_type[t]["test"]["mse"], "test_r2": per_type[t]["test"]["r2"]}
                     for i, t in enumerate(rankings)],
        "per_type": per_type,
        "trials": [_trial_row(s) for s in sorted(trial_summaries, key=lambda s: (s["model_type"], s["trial"]))],
        "signal_quality": plan["signal_quality"],
    }
    history = {
        "status": "ok", "model_type": chosen, "best_trial": best[chosen]["trial"],
        "unit": "epoch" if chosen == "neural_net" else "boosting round",
        "final_fit": {"rows": int(train_rows.size), "best_iteration": model.best_iteration_,
                      "epochs_or_rounds": model.history_},
        "cv_folds": best[chosen]["folds"],
    }
    lineage = _with_success(lineage, {"beats_baseline_on_test": per_type[chosen]["test"]["beats_baseline"],
                                      "max_overfit_ratio": best[chosen]["mean_overfit_ratio"]})
    _write_with_lineage(paths["history"], history, lineage)
    _write_with_lineage(paths["comparison"], comparison, lineage)
    _write_with_lineage(paths["test_predictions"], _test_predictions(
        chosen, table, train_rows, test_rows, y_train, y_test, test_predictions, plan["seed"]), lineage)
    # The refitted models score the test part: no model (and no choice) has seen those rows.
    start = time.perf_counter()
    ranking = importance.importance_document(models, chosen, table.feature_names, X_test, y_test, plan["seed"], "test")
    log.info("feature importance of %d types in %.1f s", len(models), time.perf_counter() - start)
    _write_with_lineage(paths["importance"], ranking, lineage)
    _write_with_lineage(paths["priors"], out_of_sample_priors(
        table, chosen, best[chosen], train_rows, test_rows, test_predictions[chosen]), lineage)
    summary = best[chosen]
    validation = {"mse": summary["mean_val_mse"], "mae": summary["mean_val_mae"],
                  "rmse": math.sqrt(summary["mean_val_mse"]), "r2": summary["mean_val_r2"],
                  "std_mse": summary["std_val_mse"], "baseline_mse": summary["mean_baseline_val_mse"],
                  "overfit_ratio": summary["mean_overfit_ratio"], "source": f"mean over {plan['k_folds']} folds"}
    hardware = hardware_summary(model.device_choice_)
    save_model_with_sidecar(
        model, out_dir, feature_schema_of(table.feature_names, table.meta["source_file"]), table.meta["label"],
        validation_metrics=validation, training_info=_training_info(plan, chosen, summary["trial"]),
        training_params=per_type[chosen]["params"], test_metrics=per_type[chosen]["test"],
        signal_quality=plan["signal_quality"], hardware=hardware, provenance=provenance, lineage=lineage)
    log.info("chose %s (trial %d): CV MSE %.6g, test MSE %.6g vs baseline %.6g", chosen, summary["trial"],
             summary["mean_val_mse"], per_type[chosen]["test"]["mse"], per_type[chosen]["test"]["baseline_mse"])
    return {"status": "ok", "chosen": chosen, "artifact": f"best_model{get_model_extension(chosen)}",
            "comparison": comparison}


# -- everything in one process (the seed's CLI) --------------------------------------------------
def trial_paths(work_dir, plan):
    """{(model_type, trial): (trial file, [fold files])} with the pipeline's path grammar."""
    work_dir = Path(work_dir)
    out = {}
    for model_type in plan["model_types"]:
        for t in range(plan["trials"]):
            folds = [work_dir / model_type / f"trial_{t}" / f"fold_{k}.json" for k in range(plan["k_folds"])]
            out[(model_type, t)] = (work_dir / model_type / f"trial_{t}.json", folds)
    return out


def run_all(survivors_path, out_dir, work_dir, config, n_jobs=1, device="auto", provenance=None):
    """Table, plan, every fold and trial, selection: the pipeline's files, in one process."""
    work_dir = Path(work_dir)
    cfg = dict(default_training_config())
    cfg.update(config or {})
    table_dir = work_dir / "table"
    write_training_table(survivors_path, table_dir, cfg.get("label", DEFAULT_LABEL))
    plan = make_plan(table_dir, cfg)
    write_json(work_dir / "reinforcement_engine_config.json", plan)
    summaries = []
    for (model_type, t), (trial_file, fold_files) in trial_paths(work_dir, plan).items():
        folds = []
        for k, fold_file in enumerate(fold_files):
            result = run_fold(table_dir, plan, model_type, t, k, n_jobs=n_jobs, device=device)
            write_json(fold_file, result)
            folds.append(result)
        summary = summarize_trial(folds)
        write_json(trial_file, summary)
        summaries.append(summary)
        log.info("%s trial %d: mean val MSE %s", model_type, t, summary["mean_val_mse"])
    return select_and_finalise(table_dir, plan, summaries, out_dir, n_jobs=n_jobs, device=device,
                               provenance=provenance)


def read_trial_summaries(paths):
    """Trial summary files as dicts."""
    return [read_json(p, "trial summary") for p in paths]


def render_comparison(result):
    """Plain-text table of a select_and_finalise result (its return value or model_comparison.json)."""
    comparison = result.get("comparison", result)
    if comparison.get("status") != "ok":
        return f"Training: no model trained - {comparison.get('reason')}"
    lines = [f"{'model':<12}{'trial':>6}{'CV MSE':>12}{'test MSE':>12}{'baseline':>12}{'test R2':>9}{'gain %':>8}"]
    for row in comparison["rankings"]:
        t = comparison["per_type"][row["model"]]
        test = t["test"]
        r2 = "n/a" if test["r2"] is None else f"{test['r2']:.3f}"
        gain = "n/a" if test["improvement_pct"] is None else f"{test['improvement_pct']:.1f}"
        mark = " <- chosen" if row["model"] == comparison["chosen"] else ""
        lines.append(f"{row['model']:<12}{t['best_trial']:>6}{row['mean_val_mse']:>12.4g}{test['mse']:>12.4g}"
                     f"{test['baseline_mse']:>12.4g}{r2:>9}{gain:>8}{mark}")
    sq = comparison.get("signal_quality") or {}
    lines.append(f"Label signal: {sq.get('signal_status', '?')} - {sq.get('reason', '')}")
    return "\n".join(lines)
