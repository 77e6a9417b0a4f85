"""Step 4 plan and Step 5 trials, selection and final model (library, scripts and the M.4 CLI)."""

import importlib.util
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from models.model_factory import load_model_from_sidecar
from models.wrappers import MODEL_TYPES
from seedsift import manifests
from seedsift.bench.training import survivor_records, write_survivors_file
from seedsift.errors import ConfigError, InputError
from seedsift.jsonio import read_json
from seedsift.report.summary import render_comparison
from seedsift.training import folds as fold_jobs
from seedsift.training import plan as planning
from seedsift.training import run, select
from seedsift.training.table import write_array_table

from conftest import REPO

FAST = {"trials": 1, "k_folds": 2}


def script(name):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def learnable_table(path, n=500, seed=0, shuffle=False, constant=False):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    y = np.clip(0.5 + 0.3 * np.sin(2 * X[:, 0]) + 0.15 * X[:, 1] * X[:, 2] + 0.02 * rng.normal(size=n), 0, 1)
    if shuffle:
        y = rng.permutation(y)
    if constant:
        y = np.zeros(n)
    return write_array_table(path, X, y, ["e", "d", "c", "b", "a"])


@pytest.fixture(autouse=True)
def no_gpu_assigned(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("HIP_VISIBLE_DEVICES", raising=False)


# -- Step 4 ----------------------------------------------------------------------------------------
def test_plan_stays_inside_the_manifest_and_scales_with_the_data():
    cfg = planning.default_training_config()
    small, large = planning.plan_training(300, 50, cfg), planning.plan_training(200_000, 50, cfg)
    bounds = manifests.load("training")["parameter_bounds"]
    for plan in (small, large):
        assert "not an optimisation" in plan["method"]
        for model_type, space in plan["search_space"].items():
            for name, bound in space.items():
                original = bounds[f"{model_type}.{name}"]
                if bound["type"] == "categorical":
                    assert set(bound["choices"]) <= set(original["choices"]) and bound["default"] in bound["choices"]
                else:
                    assert original["min"] <= bound["min"] <= bound["default"] <= bound["max"] <= original["max"]
    nn_s, nn_l = small["search_space"]["neural_net"], large["search_space"]["neural_net"]
    assert nn_s["hidden_width"]["max"] < nn_l["hidden_width"]["max"]
    assert max(nn_s["batch_size"]["choices"]) < max(nn_l["batch_size"]["choices"])
    assert nn_s["epochs"]["max"] > nn_l["epochs"]["max"]
    assert small["search_space"]["xgboost"]["max_depth"]["max"] < large["search_space"]["xgboost"]["max_depth"]["max"]
    for key in ("k_folds", "trials", "test_fraction", "neural_net.hidden_width", "xgboost.max_depth",
                "lightgbm.num_leaves", "catboost.depth", "neural_net.epochs", "neural_net.batch_size"):
        assert small["reasons"][key]
    assert planning.plan_training(300, 50, cfg) == small


def test_plan_skips_tiny_data_saying_why_and_checks_the_config():
    cfg = planning.default_training_config()
    assert planning.plan_training(40, 3, dict(cfg, k_folds=4))["training"] == {"status": "ok", "reason": None}
    for n, k, needle in [(0, 3, "0 survivors: too few"), (1, 3, "1 survivor: too few"), (5, 3, "5 survivors"),
                         (25, 20, "k_folds = 20")]:
        plan = planning.plan_training(n, 3, dict(cfg, k_folds=k))
        assert plan["training"]["status"] == "skipped" and needle in plan["training"]["reason"], (n, plan["training"])
    with pytest.raises(ConfigError, match="training.model_type"):
        planning.plan_training(100, 3, {"compare_models": False, "model_type": "catboost", "model_types": ["xgboost"]})


def test_split_is_seeded_stratified_and_disjoint():
    y = np.zeros(1000)
    y[[5, 50, 500, 700, 900]] = 1.0
    a = planning.split_assignment(y, 0.2, 3, seed=42)
    assert np.array_equal(a, planning.split_assignment(y, 0.2, 3, seed=42))
    assert not np.array_equal(a, planning.split_assignment(y, 0.2, 3, seed=43))
    assert np.sum(a == -1) == 200 and set(np.unique(a)) == {-1, 0, 1, 2}
    sizes = [np.sum(a == f) for f in range(3)]
    assert max(sizes) - min(sizes) <= 1
    pos = y == 1.0
    counts = [int(np.sum(pos & (a == f))) for f in (-1, 0, 1, 2)]
    assert sum(counts) == 5 and max(counts) <= 2, counts


@pytest.mark.parametrize("n_pos", [2, 3, 7, 12])
def test_folds_spread_the_rare_positives_evenly(n_pos):
    """Whatever the seed, the positives of the train part sit in the folds within one of each other
    (a block of k consecutive label ranks never shares a fold), and the test part gets its share."""
    y = np.zeros(600)
    y[np.random.default_rng(n_pos).choice(600, n_pos, replace=False)] = 1.0
    in_test = 0
    for seed in range(40):
        a = planning.split_assignment(y, 0.2, 3, seed=seed)
        per_fold = [int(np.sum((y == 1) & (a == f))) for f in range(3)]
        assert max(per_fold) - min(per_fold) <= 1, (seed, per_fold)
        in_test += int(np.sum((y == 1) & (a == -1)))
    assert 0.05 < in_test / (40 * n_pos) < 0.45  # about test_fraction of them, as chance allows


def test_early_stopping_rows_are_a_stratified_part_of_the_training_rows():
    y = np.zeros(300)
    y[:20] = 1.0
    stop = planning.early_stopping_split(y, 42, 0)
    assert np.array_equal(stop, planning.early_stopping_split(y, 42, 0))
    assert not np.array_equal(stop, planning.early_stopping_split(y, 42, 1))
    assert stop.sum() == 60 and y[stop].sum() == 4
    assert not planning.early_stopping_split(y[:9], 42, 0).any()


def test_positives_are_what_chance_does_not_give():
    label = {"n_holdout": 76, "chance_rate": 0.001}
    threshold, rule = planning.positive_threshold(label)
    assert threshold == pytest.approx(3 / 76) and "3 of 76" in rule
    assert planning.positive_threshold({})[0] == planning.POSITIVE_LABEL


def test_sampling_is_deterministic_across_processes_and_within_bounds():
    plan = planning.plan_training(3000, 50, planning.default_training_config())
    for model_type in MODEL_TYPES:
        defaults = fold_jobs.sample_params(model_type, 0, plan)
        t1, t2 = fold_jobs.sample_params(model_type, 1, plan), fold_jobs.sample_params(model_type, 2, plan)
        assert t1 == fold_jobs.sample_params(model_type, 1, plan) and t1 != t2 and t1 != defaults
        for params in (defaults, t1, t2):
            for name, bound in plan["search_space"][model_type].items():
                if name in params and bound["type"] != "categorical":
                    assert bound["min"] <= params[name] <= bound["max"]
    code = ("import json; from models.wrappers import MODEL_TYPES; from seedsift.training import folds, plan; "
            "p = plan.plan_training(3000, 50, {}); "
            "print(json.dumps([folds.sample_params(t, 3, p) for t in MODEL_TYPES]))")
    outs = set()
    for hash_seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        outs.add(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                check=True).stdout)
    assert outs == {json.dumps([fold_jobs.sample_params(t, 3, plan) for t in MODEL_TYPES]) + "\n"}


# -- Step 5 ----------------------------------------------------------------------------------------
def test_fold_result_and_trial_summary(tmp_path):
    table = learnable_table(tmp_path / "table", n=300)
    plan = planning.make_plan(table, dict(planning.default_training_config(), **FAST))
    folds = [fold_jobs.run_fold(table, plan, "lightgbm", 0, k) for k in range(2)]
    for k, r in enumerate(folds):
        assert r["status"] == "ok" and r["fold"] == k and r["params"] == fold_jobs.sample_params("lightgbm", 0, plan)
        for key in ("train_mse", "val_mse", "train_mae", "val_mae", "val_r2", "val_positive_auc", "overfit_ratio",
                    "device"):
            assert r[key] is not None
        assert r["overfit_ratio"] == pytest.approx(r["val_mae"] / r["train_mae"])
        assert r["val_label"]["n"] + r["train_label"]["n"] + r["stop_label"]["n"] == plan["data"]["n_train"]
        assert r["early_stopping"]["stop_rows"] == r["stop_label"]["n"] > 0
        assert not {"duration_s", "total_duration_s"} & set(r)  # timings are in the job's log only
    summary = fold_jobs.summarize_trial(list(reversed(folds)))
    assert summary["mean_val_mse"] == pytest.approx(np.mean([r["val_mse"] for r in folds]))
    with pytest.raises(InputError, match="not 0..0"):
        fold_jobs.summarize_trial(folds[1:])
    other = dict(folds[1], trial=1)
    with pytest.raises(InputError, match="trial 1"):
        fold_jobs.summarize_trial([folds[0], other])


def finalise(table, plan, summaries, out):
    """select_model, save_model and write_sidecar as the pipeline runs them, into ``out``."""
    result = select.select_and_finalise(table, plan, summaries, out)
    name = select.artifact_name(result["selection"])
    if name:
        select.save_chosen_model(table, plan, result["selection"], out / name)
    select.write_model_sidecar(table, plan, result["selection"], out)
    return result


def test_positive_auc_is_the_share_of_pairs_ordered_right():
    y = np.array([0, 0, 0, 1, 1.0])
    assert fold_jobs.positive_auc(y, [0.1, 0.2, 0.3, 0.4, 0.5], 0.5) == 1.0
    assert fold_jobs.positive_auc(y, [0.5, 0.4, 0.3, 0.2, 0.1], 0.5) == 0.0
    assert fold_jobs.positive_auc(y, [0.1, 0.9, 0.3, 0.4, 0.5], 0.5) == pytest.approx(4 / 6)
    assert fold_jobs.positive_auc(y, [0.0] * 5, 0.5) == 0.5
    assert fold_jobs.positive_auc(np.zeros(5), [0.1] * 5, 0.5) is None


def test_full_run_chooses_by_validation_and_reports_every_type(tmp_path):
    table = learnable_table(tmp_path / "table", n=500)
    plan = planning.make_plan(table, dict(planning.default_training_config(), trials=2, k_folds=2))
    assert plan["selection"]["enabled"], plan["selection"]
    summaries = []
    for model_type in MODEL_TYPES:
        for t in range(2):
            summaries.append(fold_jobs.summarize_trial(
                [fold_jobs.run_fold(table, plan, model_type, t, k) for k in range(2)]))
    out = tmp_path / "reinforcement"
    result = finalise(table, plan, summaries, out)
    comparison = read_json(out / "model_comparison.json")
    best = select.best_trials(summaries, MODEL_TYPES)
    for model_type in MODEL_TYPES:  # each type's best trial: the highest validation positive AUC
        trials = [s for s in summaries if s["model_type"] == model_type]
        assert best[model_type]["mean_val_positive_auc"] == max(s["mean_val_positive_auc"] for s in trials)
    expected = max(MODEL_TYPES, key=lambda t: (best[t]["mean_val_positive_auc"], -best[t]["mean_val_mse"]))
    assert result["chosen"] == comparison["chosen"] == expected
    assert set(comparison["per_type"]) == set(MODEL_TYPES)
    for model_type, row in comparison["per_type"].items():
        test = row["test"]
        assert test["mse"] < test["baseline_mse"] and test["improvement_pct"] > 30, (model_type, test)
        assert row["best_trial"] == best[model_type]["trial"]
    model, meta = load_model_from_sidecar(out)
    assert meta["model_type"] == expected and (out / meta["checkpoint_path"]).is_file()
    assert meta["checkpoint_path"] == read_json(out / "selection.json")["artifact"]
    assert meta["artifact_check"]["same_as_selection_refit"] and meta["selection"]["enabled"]
    assert meta["test_metrics"] == comparison["per_type"][expected]["test"]
    assert meta["test_metrics"]["r2"] > 0.3 and meta["validation_metrics"]["source"] == "mean over 2 folds"
    assert meta["validation_metrics"]["positive_auc"] > 0.7
    assert meta["training_info"]["n_trials"] == 2 and meta["training_info"]["k_folds"] == 2
    assert meta["hardware"]["device_used"] == "cpu" and meta["signal_quality"]["signal_status"] == "healthy"
    history = read_json(out / "training_history.json")
    assert history["model_type"] == expected and len(history["final_fit"]["epochs_or_rounds"]) >= 1
    # The label depends on columns e, d, c (X[:, 0:3]); b and a are noise.
    ranking = read_json(out / "feature_importance.json")
    assert ranking["chosen"] == expected and set(ranking["per_type"]) == set(MODEL_TYPES)
    for model_type, entry in ranking["per_type"].items():
        for measure in (entry, entry["permutation"]):
            assert sum(measure["importance"].values()) == pytest.approx(1.0)
            assert {r["feature"] for r in measure["top_10"][:3]} == {"e", "d", "c"}, (model_type, measure["top_10"])
    predictions = read_json(out / "test_predictions.json")
    assert predictions["n_test"] == comparison["per_type"][expected]["test"]["n_test"] == len(predictions["actual"])
    mse = np.mean((np.array(predictions["predicted"][expected]) - predictions["actual"]) ** 2)
    assert mse == pytest.approx(comparison["per_type"][expected]["test"]["mse"])
    # Step 6's priors: every row predicted by a model that never trained on its label.
    priors = read_json(out / "out_of_sample_priors.json")
    assert priors["status"] == "ok" and priors["model_type"] == expected and len(priors["prior"]) == 500
    prior = np.array(priors["prior"])
    assert np.allclose(prior[predictions["rows"]], predictions["predicted"][expected], atol=1e-6)
    fold_rows = sorted(r for s in summaries if s["model_type"] == expected and s["trial"] == best[expected]["trial"]
                       for r in s["out_of_fold"]["rows"])
    assert len(set(fold_rows)) == len(fold_rows) and len(fold_rows) + len(predictions["rows"]) == 500


def test_priors_carry_no_label_a_model_memorised(tmp_path):
    """On a label of pure noise, the final model's in-sample predictions follow the label (it
    memorised some of it); the out-of-sample priors Step 6 uses do not: no label reaches a prior
    through a model that trained on it."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(600, 6))
    y = rng.random(600)
    table = write_array_table(tmp_path / "table", X, y, list("abcdef"))
    plan = planning.make_plan(table, dict(planning.default_training_config(), model_types=["xgboost"], trials=1,
                                          k_folds=3, test_fraction=0.2))
    summaries = [fold_jobs.summarize_trial([fold_jobs.run_fold(table, plan, "xgboost", 0, k) for k in range(3)])]
    out = tmp_path / "m"
    finalise(table, plan, summaries, out)
    prior = np.array(read_json(out / "out_of_sample_priors.json")["prior"])
    model, _ = load_model_from_sidecar(out)
    in_sample = model.predict(np.asarray(X, dtype=np.float32))
    train = np.isin(np.arange(600), summaries[0]["out_of_fold"]["rows"])
    r_in = np.corrcoef(in_sample[train], y[train])[0, 1]
    r_out = np.corrcoef(prior[train], y[train])[0, 1]
    assert r_in > 0.2 and abs(r_out) < 0.15, (r_in, r_out)


def test_compare_models_off_keeps_the_configured_type(tmp_path):
    table = learnable_table(tmp_path / "table", n=200)
    cfg = dict(planning.default_training_config(), compare_models=False, model_type="catboost",
               model_types=["xgboost", "catboost"], **FAST)
    plan = planning.make_plan(table, cfg)
    summaries = [fold_jobs.summarize_trial([fold_jobs.run_fold(table, plan, t, 0, k) for k in range(2)])
                 for t in cfg["model_types"]]
    summaries[0]["mean_val_positive_auc"] = 1.0  # xgboost "wins" the validation, but compare_models is off
    result = select.select_and_finalise(table, plan, summaries, tmp_path / "out")
    assert result["chosen"] == "catboost"


def test_validation_labels_choose_nothing_in_a_fold(tmp_path, monkeypatch):
    """A fold's model, and so its out-of-fold predictions (Step 6's priors), does not depend on the
    labels of the validation fold it is scored on: early stopping watches the training folds only.
    With the split held fixed, replacing the validation fold's labels by noise changes its metrics,
    never its predictions."""
    rng = np.random.default_rng(11)
    X = rng.normal(size=(400, 5))
    y = np.clip(0.3 + 0.2 * X[:, 0] + 0.05 * rng.normal(size=400), 0, 1)
    table = write_array_table(tmp_path / "a", X, y, list("abcde"))
    plan = planning.make_plan(table, dict(planning.default_training_config(), trials=1, k_folds=3))
    assignment = planning.split_assignment(y, plan["test_fraction"], 3, plan["seed"])
    monkeypatch.setattr(fold_jobs, "split_of", lambda table, plan: assignment)
    noisy = y.copy()
    noisy[assignment == 0] = rng.random(int(np.sum(assignment == 0)))
    other = write_array_table(tmp_path / "b", X, noisy, list("abcde"))
    monkeypatch.setattr(fold_jobs, "check_table_matches", lambda table, plan: None)
    for model_type in MODEL_TYPES:
        a, b = (fold_jobs.run_fold(d, plan, model_type, 0, 0) for d in (table, other))
        assert a["val_predictions"] == b["val_predictions"] and a["best_iteration"] == b["best_iteration"], model_type
        assert a["val_mse"] != b["val_mse"], model_type


def test_too_few_positives_choose_nothing_and_keep_trial_0(tmp_path):
    """One true survivor among hundreds (the default run's case): no trial or type is chosen on it;
    trial 0's defaults of training.model_type are kept, later trials are not trained, and the
    sidecar, the comparison and its rendering say why - yet a model is still written."""
    survivors = tmp_path / "s.json"
    write_survivors_file(survivors, 300, seed=3, n_true=1, signal=0.2)
    cfg = dict(trials=3, k_folds=3, model_types=["xgboost", "lightgbm"], model_type="lightgbm")
    result = run.run_all(survivors, tmp_path / "out", tmp_path / "work", cfg)
    assert result["chosen"] == "lightgbm" and result["selection"]["best_trial"] == 0
    meta = read_json(tmp_path / "out" / "best_model.meta.json")
    assert meta["checkpoint_path"] == "best_model.txt" and (tmp_path / "out" / "best_model.txt").is_file()
    assert meta["selection"]["enabled"] is False and "fewer than 10" in meta["selection"]["reason"]
    for t in (1, 2):
        trial = read_json(tmp_path / "work" / "xgboost" / f"trial_{t}.json")
        assert trial["status"] == "skipped" and "only trial 0" in trial["reason"]
    text = render_comparison(read_json(tmp_path / "out" / "model_comparison.json"))
    assert "Selection: none" in text and "trial 0's defaults of lightgbm are kept" in text


def test_shuffled_labels_give_no_test_r2_for_any_type(tmp_path):
    table = learnable_table(tmp_path / "table", n=500, seed=3, shuffle=True)
    out = tmp_path / "out"
    plan = planning.make_plan(table, dict(planning.default_training_config(), **FAST))
    summaries = [fold_jobs.summarize_trial([fold_jobs.run_fold(table, plan, t, 0, k) for k in range(2)])
                 for t in MODEL_TYPES]
    comparison = select.select_and_finalise(table, plan, summaries, out)["comparison"]
    for model_type, row in comparison["per_type"].items():
        assert row["test"]["r2"] <= 0.05, (model_type, row["test"])


def test_degenerate_label_trains_no_model_and_says_why(tmp_path):
    table = learnable_table(tmp_path / "table", n=120, constant=True)
    plan = planning.make_plan(table, dict(planning.default_training_config(), **FAST))
    assert plan["signal_quality"]["signal_status"] == "degenerate"
    fold = fold_jobs.run_fold(table, plan, "xgboost", 0, 0)
    assert fold["status"] == "skipped" and "no variance" in fold["reason"]
    summaries = [fold_jobs.summarize_trial([fold_jobs.run_fold(table, plan, t, 0, k) for k in range(2)])
                 for t in MODEL_TYPES]
    out = tmp_path / "out"
    result = finalise(table, plan, summaries, out)
    assert result["status"] == "no_model"
    meta = read_json(out / "best_model.meta.json")
    assert meta["checkpoint_path"] is None and meta["signal_quality"]["degenerate"]
    assert "no variance" in meta["signal_quality"]["reason"] and "no variance" in meta["no_model_reason"]
    assert sorted(p.name for p in out.iterdir()) == ["best_model.meta.json", "feature_importance.json",
                                                     "model_comparison.json", "out_of_sample_priors.json",
                                                     "selection.json", "test_predictions.json",
                                                     "training_history.json"]
    assert read_json(out / "training_history.json")["status"] == "no_model"
    assert read_json(out / "feature_importance.json")["status"] == "no_model"
    assert "no model trained" in render_comparison(read_json(out / "model_comparison.json"))


@pytest.mark.parametrize("n", [0, 1, 5])
def test_no_or_few_survivors_write_every_output_saying_why(tmp_path, n):
    """0, 1 or a handful of survivors: the table, the plan, the fold and trial files, the selection
    and a sidecar without a model are all written, and each says that training was skipped and why."""
    from seedsift.training.table import write_training_table

    survivors = tmp_path / "s.json"
    records = survivor_records(max(n, 1), seed=2, n_true=1)[:n]
    survivors.write_text(json.dumps(records))
    names = sorted(survivor_records(1)[0]["features"])
    summary = {"feature_names": names, "n_train": 300, "n_holdout": 76, "chance_holdout_quality": 0.001}
    table = tmp_path / "table"
    assert write_training_table(survivors, table, scoring_summary=summary)["n"] == n
    plan = planning.make_plan(table, dict(planning.default_training_config(), **FAST))
    assert plan["training"]["status"] == "skipped" and "too few" in plan["training"]["reason"]
    fold = fold_jobs.run_fold(table, plan, "xgboost", 0, 1)
    assert fold["status"] == "skipped" and fold["reason"] == plan["training"]["reason"]
    summaries = [fold_jobs.summarize_trial([fold_jobs.run_fold(table, plan, t, 0, k) for k in range(2)])
                 for t in plan["model_types"]]
    out = tmp_path / "out"
    assert finalise(table, plan, summaries, out)["status"] == "no_model"
    meta = read_json(out / "best_model.meta.json")
    assert meta["checkpoint_path"] is None and "too few" in meta["no_model_reason"]
    assert meta["feature_schema"]["feature_names"] == names and meta["feature_schema"]["train_draws"] == 300
    assert "too few" in render_comparison(read_json(out / "model_comparison.json"))


def test_sparse_label_of_a_real_run_is_reported_honestly(tmp_path):
    """One true survivor among hundreds of chance ones: no NaN, no crash, 'weak' and the counts."""
    survivors = tmp_path / "s.json"
    write_survivors_file(survivors, 400, seed=9, n_true=1)
    result = run.run_all(survivors, tmp_path / "out", tmp_path / "work",
                              dict(FAST, model_types=list(MODEL_TYPES)))
    meta = read_json(tmp_path / "out" / "best_model.meta.json")
    sq = meta["signal_quality"]
    assert sq["signal_status"] == "weak" and sq["n_positive"] == 1
    assert sq["positives_in_test"] + sum(sq["positives_per_fold"]) == 1
    assert sq["folds_without_positive"] >= 1
    for row in result["comparison"]["per_type"].values():
        assert all(v is None or np.isfinite(v) for v in row["test"].values() if not isinstance(v, bool))


# -- scripts and the M.4 CLI -----------------------------------------------------------------------
def test_pipeline_scripts_produce_the_same_artifacts_as_the_cli(tmp_path):
    survivors = tmp_path / "survivors_with_scores.json"
    survivors.write_text(json.dumps(survivor_records(240, seed=4, n_true=3, signal=0.3)))
    draws = tmp_path / "draws.json"
    draws.write_text("[1, 2, 3]")
    cli_out = tmp_path / "cli"
    assert script("meta_prediction_optimizer_anti_overfit").main([
        "--survivors", str(survivors), "--lottery-data", str(draws), "--trials", "1", "--k-folds", "2",
        "--model-type", "xgboost", "--output-dir", str(cli_out)]) == 0

    work = tmp_path / "results" / "training"
    table, plan_path = work / "table", work / "reinforcement_engine_config.json"
    params = json.dumps({"training": dict(planning.default_training_config(), model_types=["xgboost"],
                                          compare_models=False, model_type="xgboost", **FAST)})
    assert script("prepare_training_data").main(["--survivors", str(survivors), "--table", str(table / "table.json")]) == 0
    assert script("plan_training").main(["--table", str(table / "table.json"), "--params", params,
                                         "--output", str(plan_path)]) == 0
    folds = []
    for k in range(2):
        folds.append(work / "xgboost" / "trial_0" / f"fold_{k}.json")
        assert script("train_fold").main(["--table", str(table / "table.json"), "--plan", str(plan_path), "--model-type",
                                          "xgboost", "--trial", "0", "--fold", str(k), "--output", str(folds[-1])]) == 0
    trial = work / "xgboost" / "trial_0.json"
    assert script("summarize_trial").main(["--folds", *map(str, folds), "--output", str(trial)]) == 0
    out = tmp_path / "results" / "models" / "reinforcement"
    assert script("select_model").main(["--table", str(table / "table.json"), "--plan", str(plan_path),
                                        "--trials", str(trial), "--selection", str(out / "selection.json")]) == 0
    selection = read_json(out / "selection.json")
    assert selection["artifact"] == "best_model.json"
    assert script("save_model").main(["--table", str(table / "table.json"), "--plan", str(plan_path), "--selection",
                                      str(out / "selection.json"), "--output", str(out / "best_model.json")]) == 0
    assert script("write_sidecar").main(["--table", str(table / "table.json"), "--plan", str(plan_path),
                                         "--selection", str(out / "selection.json"), "--artifact",
                                         str(out / "best_model.json"), "--sidecar",
                                         str(out / "best_model.meta.json")]) == 0

    names = {"best_model.json", "best_model.meta.json", "training_history.json", "model_comparison.json",
             "test_predictions.json", "feature_importance.json", "out_of_sample_priors.json", "selection.json"}
    assert names <= {p.name for p in cli_out.iterdir()} and names == {p.name for p in out.iterdir()}
    a, b = read_json(cli_out / "best_model.meta.json"), read_json(out / "best_model.meta.json")
    assert a["checkpoint_sha256"] == b["checkpoint_sha256"]
    assert a["test_metrics"] == b["test_metrics"] and a["validation_metrics"] == b["validation_metrics"]
    timing = ("agent_metadata",)  # the pipeline adds lineage
    cli_trial, pipe_trial = read_json(cli_out / "training" / "xgboost" / "trial_0.json"), read_json(trial)
    assert {k: v for k, v in cli_trial.items() if k not in timing} == {k: v for k, v in pipe_trial.items() if k not in timing}
    assert a["provenance"]["lottery_data_sha256"]


def test_cli_compare_models_and_degenerate_exit(tmp_path, capsys):
    survivors = tmp_path / "s.json"
    write_survivors_file(survivors, 150, seed=6, n_true=2, signal=0.3)
    draws = tmp_path / "d.json"
    draws.write_text("[0]")
    cli = script("meta_prediction_optimizer_anti_overfit")
    assert cli.main(["--survivors", str(survivors), "--lottery-data", str(draws), "--trials", "1", "--k-folds", "2",
                     "--compare-models", "--output-dir", str(tmp_path / "m")]) == 0
    comparison = read_json(tmp_path / "m" / "model_comparison.json")
    assert set(comparison["per_type"]) == set(MODEL_TYPES)
    assert "<- chosen" in capsys.readouterr().out

    flat = [dict(r, holdout_quality=0.0) for r in survivor_records(60, seed=1)]
    survivors.write_text(json.dumps(flat))
    assert cli.main(["--survivors", str(survivors), "--lottery-data", str(draws), "--trials", "1", "--k-folds", "2",
                     "--output-dir", str(tmp_path / "n")]) == 2
    assert read_json(tmp_path / "n" / "best_model.meta.json")["checkpoint_path"] is None
    assert "no model trained" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="--trials"):
        cli.main(["--survivors", str(survivors), "--lottery-data", str(draws), "--trials", "0"])


# -- the rules -------------------------------------------------------------------------------------
def rules_workflow(tmp_path, training_config):
    """A Snakefile that includes only the training rules (plus common.smk), on a generated
    survivors file, so the rules are tested without the upstream steps."""
    import yaml

    from conftest import deep_update, env

    wf = tmp_path / "wf"
    wf.mkdir()
    (wf / "scripts").symlink_to(REPO / "scripts")
    (wf / "config.yaml").symlink_to(REPO / "config.yaml")
    (wf / "Snakefile").write_text(
        'configfile: f"{workflow.basedir}/config.yaml"\n\n\n'
        f'include: "{REPO}/rules/common.smk"\n'
        f'include: "{REPO}/rules/training.smk"\n\n\n'
        "rule all:\n    input:\n        rules.select_model.output,\n        'results/training/model/best_model.meta.json',\n"
        "    default_target: True\n")
    work = tmp_path / "work"
    write_survivors_file(work / "results/scoring/survivors_with_scores.json", 300, seed=8, n_true=4, signal=0.3)
    (work / "results/scoring/scoring_summary.json").write_text('{"agent_metadata": {"run_id": "step3_upstream"}}')
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(deep_update(yaml.safe_load((REPO / "config.yaml").read_text()),
                                                                  {"training": training_config})))
    base = [str(sys.executable.rsplit("/", 1)[0] + "/snakemake"), "-s", str(wf / "Snakefile"), "-d", str(work),
            "--configfile", str(tmp_path / "cfg.yaml")]
    return base, work, env()


def test_training_rules_dag(tmp_path):
    cfg = {"trials": 2, "k_folds": 3, "model_types": ["xgboost", "catboost"]}
    base, work, e = rules_workflow(tmp_path, cfg)
    proc = subprocess.run(base + ["-n", "--quiet", "rules"], capture_output=True, text=True, env=e, cwd=work)
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", proc.stdout, flags=re.M))
    assert counts["train_fold"] == "12" and counts["summarize_trial"] == "4"
    assert counts["prepare_training_data"] == counts["plan_training"] == counts["select_model"] == "1"


@pytest.mark.slow
def test_training_rules_run(tmp_path):
    cfg = {"trials": 1, "k_folds": 2, "model_types": ["xgboost", "lightgbm"]}
    base, work, e = rules_workflow(tmp_path, cfg)
    proc = subprocess.run(base + ["--cores", "2"], capture_output=True, text=True, env=e, cwd=work)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = work / "results/training/model"
    meta = read_json(out / "best_model.meta.json")
    assert meta["model_type"] in cfg["model_types"] and (out / meta["checkpoint_path"]).is_file()
    assert set(read_json(out / "model_comparison.json")["per_type"]) == set(cfg["model_types"])
    assert (work / "logs/training/xgboost/trial_0/fold_1.log").exists()
    assert (work / "benchmarks/training/lightgbm/trial_0/fold_0.tsv").exists()
    again = subprocess.run(base + ["-n"], capture_output=True, text=True, env=e, cwd=work)
    assert "Nothing to be done" in again.stdout + again.stderr

    # Every model file is a declared output: deleted, `make rerun-missing` makes it again, the same bytes.
    for name in (meta["checkpoint_path"], "best_model.meta.json"):
        before = (out / meta["checkpoint_path"]).read_bytes(), (out / "best_model.meta.json").read_bytes()
        (out / name).unlink()
        done = subprocess.run([sys.executable, "-m", "seedsift.pipeline.rerun", "--", *base[1:], "--cores", "2"],
                              capture_output=True, text=True, env=e, cwd=work)
        assert done.returncode == 0 and f"1 missing: results/training/model/{name}" in done.stderr, done.stderr[-3000:]
        assert ((out / meta["checkpoint_path"]).read_bytes(), (out / "best_model.meta.json").read_bytes()) == before
