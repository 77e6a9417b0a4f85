"""Step 6: loading from the sidecar, posterior ranking, pool votes, and the evaluation verdicts."""

import json
import os

import numpy as np
import pytest

from models import create_model
from models.feature_schema import feature_schema_of
from models.model_factory import save_model_with_sidecar, save_no_model_sidecar
from seedsift.data import synthetic
from seedsift.errors import InputError
from seedsift.jsonio import read_json, write_json_array
from seedsift.prediction import evaluation
from seedsift.prediction import predict as prediction
from seedsift.scoring.chunks import score_records
from seedsift.sieve import search

PARAMS = {"k": 10, "horizon": 5, "prior_strength": 10.0, "top_survivors": 5,
          "pool": {"tight": 20, "balanced": 100, "wide": 300,
                   "tight_weight": 0.5, "balanced_weight": 0.3, "wide_weight": 0.2}}
RESIDUES = [8, 125, 1000]


def make_run(tmp_path, draws, prng="pcg32", n_train=150, n_holdout=40, seeds=1 << 16):
    train, holdout = draws[:n_train], draws[n_train:n_train + n_holdout]
    test = draws[n_train + n_holdout:]
    spec = search.SieveSpec(prng, tuple(train), 1000, 0, 2, 0, 1, 4, 0.25)
    records, _ = search.sieve_range(spec, 0, seeds)
    scored = score_records(records, train, holdout, 1000, RESIDUES)
    path = tmp_path / "survivors_with_scores.json"
    write_json_array(path, scored)
    return path, scored, train, holdout, test, records


def train_model(tmp_path, scored, model_type="xgboost"):
    names = sorted(scored[0]["features"])
    X = np.array([[r["features"][n] for n in names] for r in scored])
    y = np.array([r["holdout_quality"] for r in scored])
    model = create_model(model_type, config={"n_estimators": 30} if model_type != "neural_net" else {"epochs": 20})
    model.fit(X, y)
    models_dir = tmp_path / "models"
    meta = save_model_with_sidecar(model, models_dir, feature_schema_of(names), {"field": "holdout_quality"},
                                   signal_quality={"signal_status": "weak", "prediction_allowed": True})
    return models_dir, meta


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("planted")
    draws, _ = synthetic.generate("pcg32", 4321, 1, 0, 200, 1000, 0.0, 1)
    path, scored, train, holdout, test, records = make_run(tmp, draws)
    models_dir, meta = train_model(tmp, scored)
    return tmp, path, scored, train, holdout, test, models_dir, meta


def test_planted_seed_ranks_first_and_predicts_the_test_draws(planted, tmp_path):
    tmp, path, scored, train, holdout, test, models_dir, meta = planted
    out = tmp_path / "predictions.json"
    assert prediction.run(models_dir, path, train, holdout, 1000, PARAMS, RESIDUES, out, []) == 0
    doc = read_json(out)
    assert doc["status"] == "OK"
    assert doc["top_survivors"][0]["seed"] == 4321
    assert doc["top_survivors"][0]["next_draws"] == test[:5]
    assert [s["predictions"][0] for s in doc["steps"]] == test[:5]
    assert doc["predictions"][0] == test[0]
    assert doc["agent_metadata"]["parent_run_id"] == meta["agent_metadata"]["run_id"]
    assert doc["metadata"]["model_type"] == "xgboost"
    probs = doc["steps"][0]["pool"]
    total = sum(p["probability"] for p in probs) + (1000 - len(probs)) * doc["steps"][0]["probability_other_numbers"]
    assert total == pytest.approx(1.0)
    assert doc["confidence_scores"][0] > 0.5
    ev = evaluation.evaluate(doc, test[:5], 1000, {"synthetic": False}, [], len(train) + len(holdout))
    assert ev["verdict"] == "signal" and ev["model"]["top1_hits"] == 5
    assert ev["model"]["log_score"] < ev["model"]["uniform_log_score"]


def test_posterior_formula_and_likelihood_baseline():
    post = prediction.posterior([0.5, 0.001], [40, 0], 40, 10.0)
    assert post[0] == pytest.approx((10 * 0.5 + 40) / 50) and post[1] == pytest.approx(0.01 / 50)
    llr = prediction.likelihood_ratio([0, 1, 50], 100, 1000)
    assert llr[0] == 0 and 0 < llr[1] < llr[2]


def test_type_comes_from_the_sidecar_not_the_extension(planted, tmp_path):
    tmp, path, scored, train, holdout, test, models_dir, meta = planted
    moved = tmp_path / "m"
    moved.mkdir()
    side = json.loads((models_dir / "best_model.meta.json").read_text())
    (moved / "weights.txt").write_bytes((models_dir / side["checkpoint_path"]).read_bytes())
    side["checkpoint_path"] = "weights.txt"  # a LightGBM-looking extension on an xgboost model
    (moved / "best_model.meta.json").write_text(json.dumps(side))
    out = tmp_path / "p.json"
    assert prediction.run(moved, path, train, holdout, 1000, PARAMS, RESIDUES, out, []) == 0
    assert read_json(out)["metadata"]["model_type"] == "xgboost"
    side["model_type"] = "catboost"
    (moved / "best_model.meta.json").write_text(json.dumps(side))
    with pytest.raises(InputError):
        prediction.run(moved, path, train, holdout, 1000, PARAMS, RESIDUES, out, [])


def test_schema_mismatch_lists_the_columns(planted, tmp_path):
    tmp, path, scored, train, holdout, test, models_dir, meta = planted
    changed = [dict(r, features={k: v for k, v in r["features"].items() if k != "skip"}) for r in scored]
    for r in changed:
        r["features"]["extra_column"] = 1.0
    bad = tmp_path / "s.json"
    write_json_array(bad, changed)
    with pytest.raises(InputError) as exc:
        prediction.run(models_dir, bad, train, holdout, 1000, PARAMS, RESIDUES, tmp_path / "p.json", [])
    text = str(exc.value)
    assert "Feature schema mismatch - retrain required" in text and "skip" in text and "extra_column" in text
    assert not (tmp_path / "p.json").exists()


def test_sha256_mismatch_is_refused(planted, tmp_path):
    tmp, path, scored, train, holdout, test, models_dir, meta = planted
    copy = tmp_path / "m"
    copy.mkdir()
    for f in models_dir.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    art = copy / meta["checkpoint_path"]
    art.write_bytes(art.read_bytes().replace(b"1", b"2", 1))
    with pytest.raises(InputError, match="sha256"):
        prediction.run(copy, path, train, holdout, 1000, PARAMS, RESIDUES, tmp_path / "p.json", [])


def test_a_sidecar_without_a_model_ranks_by_the_holdout_evidence_alone(planted, tmp_path):
    """No model was trained (a label without variance here): Step 6 still ranks and predicts, from
    the holdout evidence alone (the chance rate as every prior), and says so."""
    tmp, path, scored, train, holdout, test, models_dir, meta = planted
    from scripts_loader import load_script

    names = sorted(scored[0]["features"])
    deg = tmp_path / "deg"
    save_no_model_sidecar(deg, feature_schema_of(names, train_draws=len(train)),
                          {"field": "holdout_quality", "n_holdout": len(holdout)},
                          {"signal_status": "degenerate", "prediction_allowed": True,
                           "reason": "the label has no variance"}, extra={"no_model_reason": "the label has no variance"})
    hist = tmp_path / "hist.json"
    hist.write_text(json.dumps(train + holdout))
    out = tmp_path / "p.json"
    cli = load_script("prediction_generator")
    code = cli.main(["--models-dir", str(deg), "--survivors-forward", str(path), "--lottery-history", str(hist),
                     "--horizon", "5", "--output", str(out)])
    assert code == 0
    doc = read_json(out)
    assert doc["status"] == "OK" and doc["metadata"]["prior_method"] == "chance"
    assert doc["metadata"]["ranking_basis"].startswith("the holdout evidence alone, over 40 draws")
    assert "no variance" in doc["metadata"]["ranking_basis"]
    assert doc["top_survivors"][0]["seed"] == 4321 and [s["predictions"][0] for s in doc["steps"]] == test[:5]
    # Without a model the two rankings are one.
    assert doc["ranking"]["posterior_order"] == doc["ranking"]["evidence_order"]
    ev = evaluation.evaluate(doc, test[:5], 1000, {"synthetic": False}, None, len(train) + len(holdout))
    assert ev["verdict"] == "signal" and ev["lift"]["evidence"]["verdict"] == "no model"


def test_no_survivor_is_said_plainly(planted, tmp_path):
    tmp, path, scored, train, holdout, test, models_dir, meta = planted
    empty = tmp_path / "none.json"
    write_json_array(empty, [])
    out = tmp_path / "p.json"
    assert prediction.run(models_dir, empty, train, holdout, 1000, PARAMS, RESIDUES, out, []) == prediction.EXIT_SKIPPED
    doc = read_json(out)
    assert doc["status"] == "PREDICTION_SKIPPED" and doc["reason"].startswith("no hypothesis survived")
    ev = evaluation.evaluate(doc, test, 1000, {"synthetic": False}, None, len(train) + len(holdout))
    assert ev["verdict"] == "no signal" and "no hypothesis survived" in ev["reason"]
    assert ev["lift"]["status"] == "no prediction"


def test_history_lengths_must_be_the_ones_the_features_and_labels_were_computed_over(planted, tmp_path):
    tmp, path, scored, train, holdout, test, models_dir, meta = planted
    side = json.loads((models_dir / "best_model.meta.json").read_text())
    recorded = tmp_path / "m"
    recorded.mkdir()
    (recorded / side["checkpoint_path"]).write_bytes((models_dir / side["checkpoint_path"]).read_bytes())
    side["feature_schema"]["train_draws"] = len(train)
    side["y_label_source"]["n_holdout"] = len(holdout)
    (recorded / "best_model.meta.json").write_text(json.dumps(side))
    out = tmp_path / "p.json"
    with pytest.raises(InputError, match="feature_schema.train_draws.*computed over 150 training draws"):
        prediction.run(recorded, path, train[:-1], holdout, 1000, PARAMS, RESIDUES, out, [])
    with pytest.raises(InputError, match="n_holdout.*over 40 holdout draws"):
        prediction.run(recorded, path, train, holdout[:-2], 1000, PARAMS, RESIDUES, out, [])
    assert not out.exists()
    # The seed's --lottery-history form takes the split from the sidecar: the same prediction as --train/--holdout.
    from scripts_loader import load_script

    hist = tmp_path / "hist.json"
    hist.write_text(json.dumps(train + holdout))
    cli = load_script("prediction_generator")
    assert cli.main(["--models-dir", str(recorded), "--survivors-forward", str(path), "--lottery-history", str(hist),
                     "--horizon", "5", "--output", str(out)]) == 0
    assert prediction.run(recorded, path, train, holdout, 1000, PARAMS, RESIDUES, tmp_path / "q.json", []) == 0
    a, b = read_json(out), read_json(tmp_path / "q.json")
    assert a["steps"] == b["steps"] and a["metadata"]["n_evidence_draws"] == 40
    with pytest.raises(InputError, match="not 149"):
        cli.main(["--models-dir", str(recorded), "--survivors-forward", str(path), "--lottery-history", str(hist),
                  "--train-draws", "149", "--output", str(out)])


def test_bare_forward_survivors_are_scored_with_the_step3_code(planted, tmp_path, caplog):
    tmp, path, scored, train, holdout, test, models_dir, meta = planted
    bare = tmp_path / "forward.json"
    write_json_array(bare, [{k: r[k] for k in ("seed", "prng_type", "skip", "burn")} for r in scored])
    hist = tmp_path / "hist.json"
    hist.write_text(json.dumps(train + holdout))
    from scripts_loader import load_script

    out = tmp_path / "p.json"
    cli = load_script("prediction_generator")
    code = cli.main(["--models-dir", str(models_dir), "--survivors-forward", str(bare), "--lottery-history", str(hist),
                     "--train-draws", str(len(train)), "--horizon", "3", "--output", str(out)])
    assert code == 0
    doc = read_json(out)
    # The draws after the training part are evidence, counted here since the bare records carry none.
    assert doc["metadata"]["holdout_evidence"] is True and doc["metadata"]["n_evidence_draws"] == len(holdout)
    assert doc["metadata"]["feature_schema_hash"] == meta["feature_schema"]["feature_schema_hash"]
    assert len(doc["steps"]) == 3 and doc["steps"][0]["position"] == len(train) + len(holdout)
    assert doc["top_survivors"][0]["seed"] == 4321 and doc["top_survivors"][0]["holdout_matches"] == len(holdout)
    # Every draw is training: no holdout evidence at all, and one line says what the ranking rests on.
    hist.write_text(json.dumps(train))
    caplog.set_level("WARNING")
    assert cli.main(["--models-dir", str(models_dir), "--survivors-forward", str(bare), "--lottery-history", str(hist),
                     "--train-draws", str(len(train)), "--horizon", "3", "--output", str(out)]) == 0
    doc = read_json(out)
    assert doc["metadata"]["holdout_evidence"] is False
    assert doc["metadata"]["ranking_basis"] == "the model's own prediction alone: there is no holdout evidence"
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        "ranking by the model's own prediction alone: there is no holdout evidence"]


def test_uniform_random_draws_give_no_signal(tmp_path):
    draws = [int.from_bytes(os.urandom(2), "little") % 1000 for _ in range(210)]
    path, scored, train, holdout, test, _ = make_run(tmp_path, draws, n_train=150, n_holdout=40)
    models_dir, _ = train_model(tmp_path, scored)
    out = tmp_path / "p.json"
    params = dict(PARAMS, horizon=20)
    prediction.run(models_dir, path, train, holdout, 1000, params, RESIDUES, out, [])
    doc = read_json(out)
    ev = evaluation.evaluate(doc, test, 1000, {"synthetic": False}, [], len(train) + len(holdout))
    assert ev["verdict"] == "no signal"
    m = ev["model"]
    # 20 steps of top-10: chance expects 0.2 hits; 99.99% of chance outcomes have at most 3
    assert m["topk_hits"] <= 3 and m["p_value"] > evaluation.ALPHA


def test_verdict_rules():
    one = {"steps": [{}], "best_possible_p_value": 0.01, "p_value": 0.01, "topk_hits": 1, "expected_topk_hits": 0.01}
    assert evaluation.verdict(one, 1)[0] == "insufficient data"
    assert evaluation.verdict(None, 0)[0] == "insufficient data"
    many = {"steps": [{}] * 5, "best_possible_p_value": 1e-10, "p_value": 1e-8, "topk_hits": 3, "expected_topk_hits": 0.05}
    assert evaluation.verdict(many, 5)[0] == "signal"
    assert evaluation.verdict(dict(many, p_value=0.3, topk_hits=0), 5)[0] == "no signal"
    assert evaluation.poisson_binomial_sf(1, [0.01] * 20) == pytest.approx(1 - 0.99 ** 20)


def _ranking_result(losses, hits):
    return {"log_losses": list(losses), "steps": [{"topk_hit": h} for h in hits], "top1_hits": sum(hits)}


def test_lift_pairs_the_rankings_on_the_same_steps():
    good = _ranking_result([0.1] * 12, [True] * 12)
    poor = _ranking_result([2.0] * 12, [False] * 6 + [True] * 6)
    out = evaluation.paired(good, poor, "baseline", seed=0)
    assert out["verdict"] == "adds" and out["log_score_gain"] == pytest.approx(1.9)
    assert out["line"].startswith("the model adds 1.9 nats/draw over the likelihood baseline (+1.9 nats/draw")
    assert out["topk_hits"] == {"model": 12, "other": 6, "only_model": 6, "only_other": 0,
                                "mcnemar_p": pytest.approx(2 / 64)}
    assert evaluation.paired(poor, good, "evidence", seed=0)["line"].startswith(
        "the model does worse than the holdout evidence alone by 1.9 nats/draw")
    rng = np.random.default_rng(1)
    a, b = rng.normal(1, 0.5, 20), rng.normal(1, 0.5, 20)
    same = evaluation.paired(_ranking_result(a, [True] * 20), _ranking_result(b, [True] * 20), "baseline", seed=0)
    assert same["verdict"] == "nothing measurable" and same["p_value"] > evaluation.ALPHA
    lo, hi = same["interval"]
    assert lo < same["log_score_gain"] < hi and lo < 0 < hi
    few = evaluation.paired(_ranking_result([0.1] * 3, [True] * 3), _ranking_result([5.0] * 3, [False] * 3),
                            "baseline", seed=0)
    assert few["verdict"] == "insufficient data"


def test_paired_tests_are_exact_where_they_can_be():
    assert evaluation.sign_flip_p([1.0] * 5, seed=0) == pytest.approx(2 / 32)
    assert evaluation.sign_flip_p([1.0, -1.0] * 4, seed=0) == 1.0
    assert evaluation.sign_flip_p([0.0] * 8, seed=0) == 1.0
    many = evaluation.sign_flip_p([1.0] * 30, seed=0)
    assert many == pytest.approx(1 / (evaluation.PERMUTATIONS + 1))
    assert evaluation.mcnemar_p(0, 0) == 1.0 and evaluation.mcnemar_p(5, 0) == pytest.approx(2 / 32)
    assert evaluation.bootstrap_interval([2.0] * 10, seed=0) == [2.0, 2.0]
