"""Step 4, the training plan: a capacity plan scaled to the table, the test/fold split, the label's signal.

``make_plan`` reads the training table (seedsift.training.table) and writes what every later
Step 5 job follows: the search space per model type narrowed to the data (with the reason for
each cap), trial and fold counts, and the split, made once from (n, test_fraction, k_folds, seed):
a test part that only reports the chosen model, and k folds of the train part.
"""

import hashlib
import math

import numpy as np

from models.wrappers import MODEL_TYPES
from seedsift import manifests
from seedsift.errors import ConfigError, InputError
from seedsift.jsonio import read_json
from seedsift.stats import binom_sf
from seedsift.training.table import TABLE_JSON, open_training_table

PLAN_FORMAT = "seedsift.training_plan/2"
MANIFEST = "training"
# Without the holdout's length and chance rate (a table made from arrays), a survivor is a
# positive when it matches at least half of the holdout draws.
POSITIVE_LABEL = 0.5
# With them, a positive is a survivor whose holdout matches chance alone reaches with a
# probability below this (76 holdout draws at mod 1000: 3 matches or more).
POSITIVE_P = 1e-3
# Fewer positives than this cannot be spread over test and folds with more than one or two in
# each, so whatever the model learns about them is anecdotal: the signal is called weak.
MIN_POSITIVES = 10
# A choice between trials or types rests on the positives of the validation folds: with fewer
# than this many in the train part (2 per fold for k = 5), it would rest on one or two rows, so no
# choice is made (trial 0's defaults of the default type are kept).
MIN_SELECTION_POSITIVES = 10
# Fewer survivors than this are not split into a test part and folds: no model is trained and
# Step 6 ranks by the holdout evidence alone.
MIN_TRAIN_SURVIVORS = 20
EARLY_STOPPING_ROUNDS = 20
# Share of a fold's training rows set aside to stop early on (stratified on the label); the
# validation fold that scores the model is never watched.
EARLY_STOPPING_FRACTION = 0.2
# A fold's training rows below this are fitted without early stopping (too few to set any aside).
MIN_EARLY_STOPPING_ROWS = 10
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
    "when the train part holds at least 10 positives: the best trial per model type has the highest mean "
    "validation positive AUC (the share of (positive, other) pairs of a validation fold the model orders "
    "correctly; ties: lower mean validation MSE, then the lower trial number), and with compare_models the "
    "chosen type is the one whose best trial does best by the same rule (ties: the order of "
    "training.model_types); otherwise training.model_type. With fewer positives no choice is made: trial 0's "
    "defaults of training.model_type are kept. Early stopping watches a split of each fold's training rows, "
    "never the validation fold that scores it; the test part is never used for a choice."
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
        "(seconds on one CPU core); early stopping on a split of the fold's training rows usually stops sooner")
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


def _too_few(n, n_train, k, cfg):
    """Why ``n`` survivors cannot be split into a test part and k folds, or None."""
    if n < MIN_TRAIN_SURVIVORS:
        return (f"{n} survivor{'s' if n != 1 else ''}: too few to split into a test part and "
                f"{k} folds and still learn anything (training needs at least {MIN_TRAIN_SURVIVORS})")
    if n_train // k < 2:
        return (f"the train part has {n_train} survivors: too few for training.k_folds = {k} folds of at least "
                "2 rows (lower k_folds or score more survivors)")
    return None


def plan_training(n_survivors, n_features, config):
    """The training plan: search space per model type scaled to the data, trial and fold counts.

    A plain rule-of-thumb capacity plan (see the ``reasons`` it returns), within the bounds of
    manifests/training.json; it trains nothing and optimises nothing. ``config`` is the
    validated ``training`` section. Too few survivors give a plan whose ``training.status`` is
    ``skipped`` with the reason: every later job writes its file saying so.
    """
    cfg = dict(default_training_config())
    cfg.update(config or {})
    model_types = _check_config(cfg)
    n = int(n_survivors)
    reasons = {}
    n_test = max(1, int(round(n * cfg["test_fraction"]))) if n else 0
    n_train = n - n_test
    k = int(cfg["k_folds"])
    skipped = _too_few(n, n_train, k, cfg)
    reasons["test_fraction"] = (f"{n_test} of {n} survivors form the test part (training.test_fraction "
                                f"{cfg['test_fraction']}); it only reports the chosen model")
    # The fold count is never changed here: the pipeline's fold jobs are fixed file targets.
    reasons["k_folds"] = f"{k} folds as configured; each validation fold has about {n_train // k} rows"
    fit_rows = n_train - n_train // k
    reasons["trials"] = (f"{cfg['trials']} trials per type as configured: trial 0 takes the defaults, later "
                         "trials are sampled deterministically from the search space below (and trained only "
                         "when the label has enough positives for a choice between them)")
    reasons["early_stopping"] = (
        f"{EARLY_STOPPING_FRACTION:.0%} of each fold's training rows (stratified on the label) are set aside to "
        "stop early on; the validation fold that scores the fold is never watched, so no score comes from rows "
        "that chose anything")
    search_space, fixed = {}, {}
    for model_type in model_types:
        space = search_bounds(model_type)
        if model_type == "neural_net":
            _plan_neural_net(space, max(fit_rows, 1), int(n_features), reasons)
            fixed[model_type] = {}
        else:
            _plan_trees(model_type, space, max(fit_rows, 1), reasons)
            fixed[model_type] = {"early_stopping_rounds": EARLY_STOPPING_ROUNDS}
        search_space[model_type] = space
    return {
        "format": PLAN_FORMAT,
        "method": ("heuristic capacity plan: fixed rules of thumb scaled to the number of survivors and "
                   "features (see reasons); it is not an optimisation and trains nothing"),
        "training": {"status": "skipped" if skipped else "ok", "reason": skipped},
        "data": {"n_survivors": n, "n_features": int(n_features), "n_train": n_train, "n_test": n_test,
                 "fit_rows_per_fold": fit_rows},
        "model_types": model_types,
        "model_type": cfg["model_type"],
        "default_type": default_type(cfg, model_types),
        "compare_models": bool(cfg["compare_models"]),
        "trials": int(cfg["trials"]),
        "k_folds": k,
        "test_fraction": float(cfg["test_fraction"]),
        "label": cfg["label"],
        "seed": int(cfg["seed"]),
        "search_space": search_space,
        "fixed": fixed,
        "early_stopping": {"fraction": EARLY_STOPPING_FRACTION, "min_rows": MIN_EARLY_STOPPING_ROWS,
                           "watches": "a stratified split of each fold's training rows"},
        "selection": {"rule": SELECTION_RULE, "metric": "mean validation positive AUC",
                      "min_positives": MIN_SELECTION_POSITIVES},
        "reasons": reasons,
    }


def default_type(cfg, model_types):
    """The type kept when no choice is made: training.model_type, or the first type when it is not trained."""
    return cfg["model_type"] if cfg["model_type"] in model_types else model_types[0]


# -- the split ---------------------------------------------------------------------------------
def _label_order(y, rng):
    """Row indices sorted by label, highest first, in random order among equal labels."""
    return np.lexsort((rng.random(y.shape[0]), -y))


def split_assignment(y, test_fraction, k_folds, seed):
    """Per row: -1 = test part, 0..k-1 = validation fold of the train part.

    Stratified on the label: the test part takes one random row of each of n_test equal slices
    of the rows sorted by label (highest first, random order among equal labels); the rest, in
    the same order, are dealt to the folds in turn from a random first fold. So every k
    consecutive rows of the sorted order sit in k different folds: the rare high-label
    survivors are spread over the folds (each fold holds within one of the same number of
    them), and the test part holds its share of them as chance allows.
    """
    y = np.asarray(y, dtype=np.float64)
    n = y.shape[0]
    assignment = np.empty(n, dtype=np.int8)
    if n == 0:
        return assignment
    rng = np.random.default_rng([int(seed), n, k_folds])
    order = _label_order(y, rng)
    n_test = max(1, int(round(n * test_fraction)))
    edges = np.linspace(0, n, n_test + 1).astype(np.int64)
    picks = edges[:-1] + (rng.random(n_test) * (edges[1:] - edges[:-1])).astype(np.int64)
    is_test = np.zeros(n, dtype=bool)
    is_test[order[picks]] = True
    assignment[is_test] = -1
    train_order = order[~is_test[order]]
    offset = int(rng.integers(k_folds))
    assignment[train_order] = (offset + np.arange(train_order.shape[0])) % k_folds
    return assignment


def early_stopping_split(y, seed, fold, fraction=EARLY_STOPPING_FRACTION):
    """Boolean mask over ``y`` (one fold's training rows): True = set aside to stop early on.

    Stratified like the folds: in label order (highest first, random among equal labels) every
    round(1 / fraction)-th row from a random start. Seeded by (seed, fold).
    """
    y = np.asarray(y, dtype=np.float64)
    n = y.shape[0]
    mask = np.zeros(n, dtype=bool)
    if n < MIN_EARLY_STOPPING_ROWS:
        return mask
    rng = np.random.default_rng([int(seed), int(fold), n, 7])
    order = _label_order(y, rng)
    step = max(2, int(round(1.0 / fraction)))
    mask[order[int(rng.integers(step))::step]] = True
    return mask


def _assignment_hash(assignment):
    return hashlib.sha256(np.ascontiguousarray(assignment, dtype=np.int8).tobytes()).hexdigest()


def positive_threshold(label_meta):
    """(threshold, how): the label value from which a survivor counts as a positive.

    With the holdout's length n_h and chance rate p0 in the label metadata: the smallest h / n_h
    with P[Binomial(n_h, p0) >= h] < POSITIVE_P, i.e. more holdout matches than chance gives;
    otherwise POSITIVE_LABEL.
    """
    n_h, p0 = (label_meta or {}).get("n_holdout"), (label_meta or {}).get("chance_rate")
    if not n_h or not p0:
        return POSITIVE_LABEL, f"label >= {POSITIVE_LABEL} (the holdout's length and chance rate are not known)"
    h = next((h for h in range(1, n_h + 1) if binom_sf(h, n_h, p0) < POSITIVE_P), n_h)
    return h / n_h, (f"at least {h} of {n_h} holdout matches (label >= {h / n_h:.4g}): chance ({p0:.4g} per draw) "
                     f"gives that with probability {binom_sf(h, n_h, p0):.2g} < {POSITIVE_P}")


def signal_quality(y, k_folds=None, assignment=None, threshold=POSITIVE_LABEL, threshold_rule=None):
    """How much the label can teach: degenerate / weak / healthy, with the figures behind it.

    degenerate: one distinct value (nothing to learn, no model is trained);
    weak: fewer than 1% of survivors have a non-zero label, its variance is below 1e-3, or
    fewer than MIN_POSITIVES survivors are positives (typical of a real run: one true
    hypothesis among thousands of chance survivors, too few for cross-validation to learn);
    healthy: otherwise. Counts of positives (label >= ``threshold``) per part say what CV could see.
    """
    y = np.asarray(y, dtype=np.float64)
    n = int(y.size)
    distinct = int(np.unique(y).size) if n else 0
    variance = float(y.var()) if n else 0.0
    nonzero = int(np.count_nonzero(y))
    positives = int(np.sum(y >= threshold))
    out = {
        "target_name": None, "sample_size": n, "unique_target_values": distinct,
        "target_mean": float(y.mean()) if n else None, "target_std": float(y.std()) if n else None,
        "target_variance": variance, "nonzero_count": nonzero, "nonzero_ratio": nonzero / n if n else 0.0,
        "positive_threshold": threshold, "positive_rule": threshold_rule or f"label >= {threshold}",
        "n_positive": positives,
    }
    if distinct <= 1 or variance < 1e-12:
        out.update(signal_status="degenerate", prediction_allowed=True, degenerate=True,
                   reason=f"the label has no variance ({distinct} distinct value{'s' if distinct != 1 else ''}): "
                          "there is nothing to learn, so no model is trained")
    elif out["nonzero_ratio"] < 0.01 or variance < 1e-3 or positives < MIN_POSITIVES:
        out.update(signal_status="weak", prediction_allowed=True, degenerate=False,
                   reason=f"{nonzero} of {n} labels are non-zero and {positives} are positives: the model "
                          "mostly sees chance survivors; trust the test metrics, not the model's confidence")
    else:
        out.update(signal_status="healthy", prediction_allowed=True, degenerate=False,
                   reason="the label varies across many survivors")
    if positives == 0 and not out["degenerate"]:
        out["reason"] += "; no survivor is a positive"
    if assignment is not None and k_folds:
        pos = y >= threshold
        out["positives_in_test"] = int(np.sum(pos & (assignment == -1)))
        out["positives_per_fold"] = [int(np.sum(pos & (assignment == f))) for f in range(k_folds)]
        out["positives_in_train"] = int(sum(out["positives_per_fold"]))
        out["folds_without_positive"] = sum(1 for c in out["positives_per_fold"] if c == 0)
    return out


def _selection(sq, plan):
    """Whether trials and types are chosen between, and why."""
    n = sq.get("positives_in_train", 0)
    if n >= MIN_SELECTION_POSITIVES:
        return {"enabled": True, "reason": (f"the train part holds {n} positives (at least {MIN_SELECTION_POSITIVES}): "
                                            "trials and types are chosen by the mean validation positive AUC")}
    return {"enabled": False, "reason": (
        f"the train part holds {n} positive{'s' if n != 1 else ''} ({sq['positive_rule']}), fewer than "
        f"{MIN_SELECTION_POSITIVES}: a choice between trials or types would rest on "
        f"{'it' if n == 1 else 'them' if n else 'chance survivors alone'}, so none is made; trial 0's defaults "
        f"of {plan['default_type']} are kept and later trials are not trained")}


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
    threshold, rule = positive_threshold(table.meta["label"])
    sq = signal_quality(table.y, plan["k_folds"], assignment, threshold, rule)
    sq["target_name"] = cfg["label"]
    plan["signal_quality"] = sq
    plan["split"] = {
        "method": ("stratified on the label: test = one random row per slice of the label order, the rest dealt "
                   "to the folds in turn in label order (seeded by training.seed)"),
        "n_test": int(np.sum(assignment == -1)),
        "fold_sizes": [int(np.sum(assignment == f)) for f in range(plan["k_folds"])],
        "assignment_sha256": _assignment_hash(assignment),
    }
    plan["data"].update(feature_schema_hash=table.meta["feature_schema_hash"],
                        table_source_sha256=table.meta["source_sha256"], history=table.meta.get("history"))
    if sq["degenerate"] and plan["training"]["status"] == "ok":
        plan["training"] = {"status": "skipped", "reason": sq["reason"]}
    plan["selection"].update(_selection(sq, plan))
    if plan["training"]["status"] != "ok":
        plan["selection"].update(enabled=False, reason="no model is trained: " + plan["training"]["reason"])
        plan["reasons"]["no_model"] = plan["training"]["reason"]
    return plan


def read_plan(path):
    """A plan file written by make_plan (format checked)."""
    plan = read_json(path, "training plan")
    if not isinstance(plan, dict) or plan.get("format") != PLAN_FORMAT:
        raise InputError(path, "field 'format'", f"expected {PLAN_FORMAT!r}: not a training plan")
    for key in ("model_types", "trials", "k_folds", "search_space", "split", "signal_quality", "seed", "training",
                "selection"):
        if key not in plan:
            raise InputError(path, f"field '{key}'", "is missing")
    return plan


def split_of(table, plan):
    assignment = split_assignment(table.y, plan["test_fraction"], plan["k_folds"], plan["seed"])
    if _assignment_hash(assignment) != plan["split"]["assignment_sha256"]:
        raise InputError("reinforcement_engine_config.json", "split.assignment_sha256",
                         "the split recomputed from the table differs from the plan's: rerun plan_training")
    return assignment


def check_table_matches(table, plan):
    if table.meta["feature_schema_hash"] != plan["data"]["feature_schema_hash"] or \
            table.meta["n"] != plan["data"]["n_survivors"]:
        raise InputError(table.path / TABLE_JSON, "feature_schema_hash",
                         "the table is not the one the plan was made for: rerun plan_training")
