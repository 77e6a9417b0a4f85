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


def test_degenerate_sidecar_skips_with_exit_code_3(planted, tmp_path):
    tmp, path, scored, train, holdout, test, models_dir, meta = planted
    from scripts_loader import load_script

    names = sorted(scored[0]["features"])
    deg = tmp_path / "deg"
    save_no_model_sidecar(deg, feature_schema_of(names), {"field": "holdout_quality"},
                          {"signal_status": "degenerate", "prediction_allowed": False,
                           "reason": "the label has no variance"})
    hist = tmp_path / "hist.json"
    hist.write_text(json.dumps(train + holdout))
    out = tmp_path / "p.json"
    cli = load_script("prediction_generator")
    code = cli.main(["--models-dir", str(deg), "--survivors-forward", str(path), "--lottery-history", str(hist),
                     "--train-draws", str(len(train)), "--output", str(out)])
    assert code == 3
    doc = read_json(out)
    assert doc["status"] == "PREDICTION_SKIPPED" and "no variance" in doc["reason"]
    ev = evaluation.evaluate(doc, test, 1000, {"synthetic": False}, [], len(train) + len(holdout))
    assert ev["verdict"] == "no signal" and "skipped" in ev["reason"]


def test_bare_forward_survivors_are_scored_with_the_step3_code(planted, tmp_path):
    tmp, path, scored, train, holdout, test, models_dir, meta = planted
    bare = tmp_path / "forward.json"
    write_json_array(bare, [{k: r[k] for k in ("seed", "prng_type", "skip", "burn")} for r in scored])
    hist = tmp_path / "hist.json"
    hist.write_text(json.dumps(train + holdout))
    from scripts_loader import load_script

    out = tmp_path / "p.json"
    code = load_script("prediction_generator").main([
        "--models-dir", str(models_dir), "--survivors-forward", str(bare), "--lottery-history", str(hist),
        "--train-draws", str(len(train)), "--horizon", "3", "--output", str(out)])
    assert code == 0
    doc = read_json(out)
    assert doc["metadata"]["holdout_evidence"] is False  # ranked by the model's prior alone
    assert doc["metadata"]["feature_schema_hash"] == meta["feature_schema"]["feature_schema_hash"]
    assert len(doc["steps"]) == 3 and doc["steps"][0]["position"] == len(train) + len(holdout)


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
