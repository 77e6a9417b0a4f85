"""Step 5, the choice: best trial per type, the refits on the train part, the test part, the model files.

Three jobs, so that every model file is a declared output that is rebuilt when it is deleted:

* ``select_and_finalise`` (rule select_model, a Snakemake checkpoint): chooses the type and
  trial, refits every type's best trial on the train part, scores the refits on the test part
  and writes selection.json (the choice, which names the artifact), training_history.json,
  model_comparison.json, test_predictions.json, out_of_sample_priors.json and
  feature_importance.json;
* ``save_chosen_model`` (rule save_model): refits the chosen trial on the train part and writes
  best_model.<ext> in the backend's native format; its extension depends on the type chosen,
  hence the checkpoint;
* ``write_model_sidecar`` (rule write_sidecar): best_model.meta.json, last, from the artifact
  (its sha256, and its own predictions on the test part) and the selection.

With too few survivors, a label without variance or no survivor at all, no model is trained:
selection.json and the sidecar say why (``checkpoint_path`` null) and every report says so.
"""

import logging
import math
import tempfile
from pathlib import Path

import numpy as np

from models.feature_schema import feature_schema_of
from models.gpu_memory import hardware_summary
from models.model_factory import (
    SIDECAR_NAME,
    create_model,
    get_model_extension,
    load_model,
    save_no_model_sidecar,
    write_sidecar,
)
from models.model_selector import regression_metrics
from seedsift.errors import InputError
from seedsift.jsonio import read_json, sha256_file, write_json
from seedsift.provenance import success_criteria
from seedsift.training import importance
from seedsift.training.folds import positive_auc
from seedsift.training.plan import MANIFEST, SELECTION_RULE, check_table_matches, split_of
from seedsift.training.table import open_training_table

log = logging.getLogger(__name__)

TEST_PREDICTIONS_FORMAT = "seedsift.test_predictions/1"
SELECTION_FORMAT = "seedsift.model_selection/1"
SELECTION_NAME = "selection.json"
# Test rows kept in test_predictions.json at most (a seeded sample beyond that): enough for a
# scatter plot, small enough that a large run does not write a large file.
MAX_TEST_PREDICTION_ROWS = 20_000


# -- the choice ------------------------------------------------------------------------------------
def _rank_key(summary):
    """Sort key of a trial summary under the selection rule: higher AUC, then lower MSE, then lower trial."""
    auc = summary.get("mean_val_positive_auc")
    return (-(auc if auc is not None else -1.0), summary["mean_val_mse"], summary["trial"])


def best_trials(trial_summaries, model_types, selection_enabled=True):
    """{model_type: best trial summary}: by the selection rule, or trial 0 when no choice is made."""
    best = {}
    for s in sorted(trial_summaries, key=lambda s: (s["model_type"], s["trial"])):
        if s["status"] != "ok" or s["model_type"] not in model_types:
            continue
        if not selection_enabled and s["trial"] != 0:
            continue
        current = best.get(s["model_type"])
        if current is None or _rank_key(s) < _rank_key(current):
            best[s["model_type"]] = s
    return best


def choose(plan, best):
    """The chosen type: by the selection rule among the types (compare_models), else the default type."""
    model_types = plan["model_types"]
    if plan["selection"]["enabled"] and plan["compare_models"]:
        return min(model_types, key=lambda t: (_rank_key(best[t])[:2], model_types.index(t)))
    if plan["selection"]["enabled"]:
        return plan["model_type"]
    return plan["default_type"]


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


def _test_metrics(y_train, y_test, p_test, threshold):
    model = regression_metrics(y_test, p_test)
    base = regression_metrics(y_test, np.full_like(y_test, y_train.mean()))
    improvement = 100.0 * (base["mse"] - model["mse"]) / base["mse"] if base["mse"] > 0 else None
    return {
        "n_test": int(y_test.size), "mse": model["mse"], "mae": model["mae"], "rmse": model["rmse"],
        "r2": model["r2"], "positive_auc": positive_auc(y_test, p_test, threshold),
        "baseline_mse": base["mse"], "baseline_mae": base["mae"],
        "baseline_prediction": float(y_train.mean()), "improvement_pct": improvement,
        "beats_baseline": bool(model["mse"] < base["mse"]),
        "positives_in_test": int(np.sum(y_test >= threshold)),
    }


def _with_success(lineage, measured):
    """``lineage`` with the step's success criteria evaluated on ``measured`` (None stays None)."""
    if not lineage:
        return lineage
    met, details = success_criteria(MANIFEST, measured)
    return dict(lineage, success_criteria_met=met, success_criteria=details)


def _write_with_lineage(path, doc, lineage):
    if lineage:
        doc = dict(doc, agent_metadata=dict(lineage, outputs=[str(path)]))
    write_json(path, doc)


def _trial_row(s):
    return {"model_type": s["model_type"], "trial": s["trial"], "status": s["status"],
            "reason": s.get("reason"), "mean_val_positive_auc": s.get("mean_val_positive_auc"),
            "mean_val_mse": s.get("mean_val_mse"), "std_val_mse": s.get("std_val_mse")}


def _training_info(plan, chosen, trial):
    return {"n_trials": plan["trials"], "k_folds": plan["k_folds"], "model_type": chosen, "best_trial": trial,
            "model_types": plan["model_types"], "compare_models": plan["compare_models"],
            "selection": plan["selection"], "selection_rule": SELECTION_RULE,
            "early_stopping": plan.get("early_stopping"), "plan_method": plan["method"]}


def _paths(out_dir, **given):
    out_dir = Path(out_dir)
    defaults = {"history": "training_history.json", "comparison": "model_comparison.json",
                "test_predictions": "test_predictions.json", "importance": "feature_importance.json",
                "priors": "out_of_sample_priors.json", "selection": SELECTION_NAME}
    return {key: Path(given.get(key) or out_dir / name) for key, name in defaults.items()}


def _no_model(table, plan, trial_summaries, reason, paths, lineage):
    lineage = _with_success(lineage, {"beats_baseline_on_test": False})
    history = {"status": "no_model", "reason": reason, "model_type": None, "epochs_or_rounds": []}
    comparison = {"status": "no_model", "reason": reason, "chosen": None, "selection": plan["selection"],
                  "selection_rule": SELECTION_RULE, "per_type": {},
                  "trials": [_trial_row(s) for s in trial_summaries], "signal_quality": plan["signal_quality"]}
    predictions = {"format": TEST_PREDICTIONS_FORMAT, "status": "no_model", "reason": reason, "chosen": None,
                   "part": "test", "n_test": 0, "rows": [], "actual": [], "predicted": {}}
    priors = {"format": PRIORS_FORMAT, "status": "no_model", "reason": reason, "model_type": None,
              "survivors_sha256": table.meta["source_sha256"], "n": int(table.meta["n"]), "prior": None}
    selection = {"format": SELECTION_FORMAT, "status": "no_model", "reason": reason, "chosen": None,
                 "best_trial": None, "artifact": None, "selection": plan["selection"],
                 "signal_quality": plan["signal_quality"], "training_info": _training_info(plan, None, None)}
    for key, doc in (("history", history), ("comparison", comparison), ("test_predictions", predictions),
                     ("importance", importance.no_model_document(reason)), ("priors", priors),
                     ("selection", selection)):
        _write_with_lineage(paths[key], doc, lineage)
    log.warning("no model trained: %s", reason)
    return {"status": "no_model", "reason": reason, "chosen": None, "selection": selection, "comparison": comparison}


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
    "each survivor's predicted quality from a model that never saw its label: train-part rows from the chosen "
    "trial's fold model that held them out (it neither trained nor stopped early on them), test-part rows from "
    "the final model, which was fitted on the train part only"
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


def _cv(summary):
    cv = {k: summary[k] for k in ("mean_val_positive_auc", "mean_val_mse", "std_val_mse", "mean_val_mae",
                                  "mean_val_r2", "mean_train_mse", "mean_baseline_val_mse", "mean_overfit_ratio",
                                  "mean_best_iteration", "val_positives", "folds_without_positive")}
    cv["fold_val_mse"] = [f["val_mse"] for f in summary["folds"]]
    cv["fold_val_positive_auc"] = [f["val_positive_auc"] for f in summary["folds"]]
    return cv


def _artifact_digest(model):
    """sha256 of the file ``model`` saves to (written to a temporary folder and removed)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"best_model{get_model_extension(model.model_type)}"
        model.save(path)
        return sha256_file(path)


def _train_test(table, plan):
    assignment = split_of(table, plan)
    return np.flatnonzero(assignment >= 0), np.flatnonzero(assignment == -1)


def select_and_finalise(table_dir, plan, trial_summaries, out_dir, n_jobs=1, device="auto", lineage=None,
                        **paths):
    """Choose the model, refit every type's best trial on the train part, evaluate on the test part.

    Writes selection.json, training_history.json, model_comparison.json, test_predictions.json,
    feature_importance.json and out_of_sample_priors.json (``paths`` may place each one; by default
    they go into ``out_dir``); the model file and the sidecar are written by save_chosen_model and
    write_model_sidecar. Only the validation folds choose; the test part reports.
    """
    paths = _paths(out_dir, **paths)
    table = open_training_table(table_dir)
    check_table_matches(table, plan)
    if plan["training"]["status"] != "ok":
        return _no_model(table, plan, trial_summaries, plan["training"]["reason"], paths, lineage)
    model_types = plan["model_types"]
    enabled = plan["selection"]["enabled"]
    best = best_trials(trial_summaries, model_types, enabled)
    missing = [t for t in model_types if t not in best]
    if missing:
        raise InputError("trial summaries", "model_type", f"no completed trial for {missing}")
    chosen = choose(plan, best)
    threshold = plan["signal_quality"]["positive_threshold"]
    train_rows, test_rows = _train_test(table, plan)
    X_train, y_train = np.asarray(table.X[train_rows]), table.y[train_rows]
    X_test, y_test = np.asarray(table.X[test_rows]), table.y[test_rows]
    per_type, models, test_predictions = {}, {}, {}
    for model_type in model_types:
        summary = best[model_type]
        params = _final_params(summary)
        model = create_model(model_type, {**params, "n_jobs": n_jobs}, device=device)
        model.fit(X_train, y_train)
        test_predictions[model_type] = model.predict(X_test)
        models[model_type] = model
        per_type[model_type] = {"best_trial": summary["trial"], "params": params, "cv": _cv(summary),
                                "test": _test_metrics(y_train, y_test, test_predictions[model_type], threshold),
                                "device": model.device_}
    if enabled:
        order = sorted(model_types, key=lambda t: (_rank_key(best[t])[:2], model_types.index(t)))
        metric = "mean validation positive AUC (higher is better), ties: mean validation MSE"
    else:
        order = [chosen] + [t for t in model_types if t != chosen]
        metric = "none: " + plan["selection"]["reason"]
    model = models[chosen]
    summary = best[chosen]
    comparison = {
        "status": "ok", "chosen": chosen, "compare_models": plan["compare_models"], "selection": plan["selection"],
        "selection_rule": SELECTION_RULE, "metric": metric,
        "rankings": [{"rank": i + 1, "model": t, "mean_val_positive_auc": best[t]["mean_val_positive_auc"],
                      "mean_val_mse": best[t]["mean_val_mse"], "test_mse": per_type[t]["test"]["mse"],
                      "test_r2": per_type[t]["test"]["r2"]} for i, t in enumerate(order)],
        "per_type": per_type,
        "trials": [_trial_row(s) for s in sorted(trial_summaries, key=lambda s: (s["model_type"], s["trial"]))],
        "signal_quality": plan["signal_quality"],
    }
    history = {
        "status": "ok", "model_type": chosen, "best_trial": summary["trial"],
        "unit": "epoch" if chosen == "neural_net" else "boosting round",
        "final_fit": {"rows": int(train_rows.size), "best_iteration": model.best_iteration_,
                      "epochs_or_rounds": model.history_},
        "cv_folds": summary["folds"],
    }
    validation = {"positive_auc": summary["mean_val_positive_auc"], "mse": summary["mean_val_mse"],
                  "mae": summary["mean_val_mae"], "rmse": math.sqrt(summary["mean_val_mse"]),
                  "r2": summary["mean_val_r2"], "std_mse": summary["std_val_mse"],
                  "baseline_mse": summary["mean_baseline_val_mse"], "overfit_ratio": summary["mean_overfit_ratio"],
                  "val_positives": summary["val_positives"], "source": f"mean over {plan['k_folds']} folds"}
    selection = {
        "format": SELECTION_FORMAT, "status": "ok", "reason": None, "chosen": chosen, "best_trial": summary["trial"],
        "artifact": f"best_model{get_model_extension(chosen)}", "params": per_type[chosen]["params"],
        "selection": plan["selection"], "validation_metrics": validation, "test_metrics": per_type[chosen]["test"],
        "refit": {"rows": int(train_rows.size), "n_jobs": n_jobs, "device": device,
                  "artifact_sha256": _artifact_digest(model)},
        "hardware": hardware_summary(model.device_choice_), "signal_quality": plan["signal_quality"],
        "training_info": _training_info(plan, chosen, summary["trial"]),
    }
    lineage = _with_success(lineage, {"beats_baseline_on_test": per_type[chosen]["test"]["beats_baseline"],
                                      "max_overfit_ratio": summary["mean_overfit_ratio"]})
    _write_with_lineage(paths["history"], history, lineage)
    _write_with_lineage(paths["comparison"], comparison, lineage)
    _write_with_lineage(paths["test_predictions"], _test_predictions(
        chosen, table, train_rows, test_rows, y_train, y_test, test_predictions, plan["seed"]), lineage)
    # The refitted models score the test part: no model (and no choice) has seen those rows.
    ranking = importance.importance_document(models, chosen, table.feature_names, X_test, y_test, plan["seed"], "test")
    _write_with_lineage(paths["importance"], ranking, lineage)
    _write_with_lineage(paths["priors"], out_of_sample_priors(
        table, chosen, summary, train_rows, test_rows, test_predictions[chosen]), lineage)
    _write_with_lineage(paths["selection"], selection, lineage)
    log.info("chose %s (trial %d; %s): CV positive AUC %s, CV MSE %.6g, test MSE %.6g vs baseline %.6g", chosen,
             summary["trial"], "selected" if enabled else "no choice made", summary["mean_val_positive_auc"],
             summary["mean_val_mse"], per_type[chosen]["test"]["mse"], per_type[chosen]["test"]["baseline_mse"])
    return {"status": "ok", "chosen": chosen, "artifact": selection["artifact"], "selection": selection,
            "comparison": comparison}


def read_selection(path):
    """selection.json written by select_and_finalise (format checked)."""
    doc = read_json(path, "model selection")
    if not isinstance(doc, dict) or doc.get("format") != SELECTION_FORMAT:
        raise InputError(path, "field 'format'", f"expected {SELECTION_FORMAT!r}: not a model selection")
    return doc


def artifact_name(selection):
    """File name of the chosen model (best_model.<ext>), or None when no model is trained."""
    return selection.get("artifact") if selection.get("status") == "ok" else None


def save_chosen_model(table_dir, plan, selection, artifact, n_jobs=1, device="auto"):
    """Refit the chosen trial on the train part and write ``artifact`` (its name fixed by the selection).

    On the CPU the refit repeats select_model's exactly (same rows, parameters, seed and threads),
    so the file is the model the test metrics describe; its sha256 is compared with the one
    select_model recorded and a difference is logged (write_model_sidecar records it too).
    """
    artifact = Path(artifact)
    name = artifact_name(selection)
    if name is None:
        raise InputError(artifact, "", f"no model to save: {selection.get('reason')}")
    if artifact.name != name:
        raise InputError(artifact, "", f"the selection names the model file {name!r}")
    table = open_training_table(table_dir)
    check_table_matches(table, plan)
    train_rows, _ = _train_test(table, plan)
    model = create_model(selection["chosen"], {**selection["params"], "n_jobs": n_jobs}, device=device)
    model.fit(np.asarray(table.X[train_rows]), table.y[train_rows])
    model.save(artifact)
    digest = sha256_file(artifact)
    if digest != selection["refit"]["artifact_sha256"]:
        log.warning("%s differs from select_model's refit (sha256 %s, not %s): a GPU or another thread count "
                    "can change the last bits; the sidecar's test metrics are this file's own", artifact,
                    digest[:12], selection["refit"]["artifact_sha256"][:12])
    return digest


def write_model_sidecar(table_dir, plan, selection, out_dir, provenance=None, lineage=None):
    """best_model.meta.json for the selection: from the artifact when there is one, else checkpoint_path null.

    The test metrics are the artifact's own predictions on the test part, so the sidecar describes
    the file it names whatever machine refitted it.
    """
    out_dir = Path(out_dir)
    table = open_training_table(table_dir)
    check_table_matches(table, plan)
    history = table.meta.get("history") or {}
    schema = feature_schema_of(table.feature_names, table.meta["source_file"], history.get("train_draws"))
    provenance = dict(provenance or {})
    provenance.update(survivors_file=table.meta["source_file"], survivors_sha256=table.meta["source_sha256"],
                      n_survivors_loaded=table.meta["n"])
    name = artifact_name(selection)
    if name is None:
        lineage = _with_success(lineage, {"beats_baseline_on_test": False})
        return save_no_model_sidecar(out_dir, schema, table.meta["label"], plan["signal_quality"],
                                     training_info=selection["training_info"], provenance=provenance,
                                     extra={"selection": selection["selection"], "no_model_reason": selection["reason"]},
                                     lineage=lineage)
    artifact = out_dir / name
    model = load_model(selection["chosen"], artifact)
    train_rows, test_rows = _train_test(table, plan)
    threshold = plan["signal_quality"]["positive_threshold"]
    test = _test_metrics(table.y[train_rows], table.y[test_rows], model.predict(np.asarray(table.X[test_rows])),
                         threshold)
    digest = sha256_file(artifact)
    same = digest == selection["refit"]["artifact_sha256"]
    lineage = _with_success(lineage, {"beats_baseline_on_test": test["beats_baseline"],
                                      "max_overfit_ratio": selection["validation_metrics"]["overfit_ratio"]})
    return write_sidecar(
        out_dir, model, name, schema, table.meta["label"], validation_metrics=selection["validation_metrics"],
        training_info=selection["training_info"], training_params=selection["params"], test_metrics=test,
        signal_quality=plan["signal_quality"], hardware=selection["hardware"], provenance=provenance,
        extra={"selection": selection["selection"],
               "artifact_check": {"same_as_selection_refit": same,
                                  "note": "the file repeats the refit that select_model scored" if same else
                                  "the file differs from select_model's refit (GPU or thread count); the test "
                                  "metrics here are the file's own"}},
        lineage=lineage)


def sidecar_dir(sidecar):
    """The model folder of a sidecar path (whose name is fixed by the seed)."""
    sidecar = Path(sidecar)
    if sidecar.name != SIDECAR_NAME:
        raise InputError(sidecar, "", f"the sidecar must be named {SIDECAR_NAME} (Step 6 looks for that name)")
    return sidecar.parent
