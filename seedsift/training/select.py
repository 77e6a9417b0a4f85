"""Step 5, the choice: best trial per type, the refit on the train part, the test part, the model files.

``select_and_finalise`` writes training_history.json, model_comparison.json,
test_predictions.json, out_of_sample_priors.json and feature_importance.json
(seedsift.training.importance), then best_model.<ext> and, last, best_model.meta.json.
"""

import logging
import math
import time
from pathlib import Path

import numpy as np

from models.feature_schema import feature_schema_of
from models.gpu_memory import hardware_summary
from models.model_factory import (
    SIDECAR_NAME,
    create_model,
    get_model_extension,
    remove_sidecar_outputs,
    save_model_with_sidecar,
    save_no_model_sidecar,
)
from models.model_selector import regression_metrics
from seedsift.errors import InputError
from seedsift.jsonio import write_json
from seedsift.provenance import success_criteria
from seedsift.training import importance
from seedsift.training.plan import MANIFEST, POSITIVE_LABEL, SELECTION_RULE, check_table_matches, split_of
from seedsift.training.table import open_training_table

log = logging.getLogger(__name__)

TEST_PREDICTIONS_FORMAT = "seedsift.test_predictions/1"
# Test rows kept in test_predictions.json at most (a seeded sample beyond that): enough for a
# scatter plot, small enough that a large run does not write a large file.
MAX_TEST_PREDICTION_ROWS = 20_000


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
    seedsift.training.importance; permutation scores on the test part), then best_model.<ext> and last
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
    check_table_matches(table, plan)
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
    assignment = split_of(table, plan)
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


