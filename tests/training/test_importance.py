"""Feature importance: native gain for the trees, permutation for every type, shares, drift."""

import numpy as np
import pytest

from models.model_factory import create_model
from seedsift.training import importance

NAMES = ["noise_a", "signal", "noise_b", "weak"]


def data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = 2.0 * X[:, 1] + 0.3 * X[:, 3] + 0.05 * rng.normal(size=n)
    return X, y


def fitted(model_type, X, y, **extra):
    config = {"n_estimators": 60, "seed": 1, **extra} if model_type != "neural_net" else {"epochs": 40, "seed": 1}
    return create_model(model_type, config, device="cpu").fit(X, y)


def test_shares_are_normalised_and_a_zero_sum_gives_zeros():
    assert importance.normalise([2.0, -2.0, 0.0]).tolist() == [0.5, 0.5, 0.0]
    assert importance.normalise([0.0, 0.0]).tolist() == [0.0, 0.0]
    assert importance.top({"a": 0.1, "b": 0.0, "c": 0.9}) == [{"feature": "c", "importance": 0.9},
                                                              {"feature": "a", "importance": 0.1}]


@pytest.mark.parametrize("model_type", ["xgboost", "lightgbm", "catboost", "neural_net"])
def test_every_type_ranks_the_signal_first_in_both_measures(model_type):
    X, y = data()
    model = fitted(model_type, X[:300], y[:300])
    entry = importance.type_importance(model, NAMES, X[300:], y[300:], seed=7, n_repeats=3)
    expected = importance.native_method(model_type) or "permutation"
    assert entry["method"] == expected
    for measure in (entry, entry["permutation"]):
        assert sum(measure["importance"].values()) == pytest.approx(1.0)
        assert [r["feature"] for r in measure["top_10"][:2]] == ["signal", "weak"], (model_type, measure)
        assert measure["importance"]["signal"] > 0.8
    perm = entry["permutation"]
    assert perm["mse_increase"]["signal"] > 10 * perm["baseline_mse"]
    # The same seed gives the same shuffles.
    again = importance.type_importance(model, NAMES, X[300:], y[300:], seed=7, n_repeats=3)
    assert again["permutation"]["mse_increase"] == perm["mse_increase"]


def test_xgboost_gain_is_mapped_to_the_right_names():
    X, y = data()
    X = X[:, ::-1]  # the signal now sits in column 2
    model = fitted("xgboost", X, y)
    raw = importance.native_importance(model, 4)
    assert int(np.argmax(raw)) == 2 and raw.shape == (4,)


def test_a_constant_model_has_zero_shares_and_says_so():
    X, _ = data(n=100)
    model = fitted("lightgbm", X, np.full(100, 0.25))
    entry = importance.type_importance(model, NAMES, X, np.full(100, 0.25), seed=0, n_repeats=2)
    assert set(entry["importance"].values()) == {0.0} and entry["top_10"] == []
    assert "note" in entry and all(np.isfinite(v) for v in entry["permutation"]["mse_increase"].values())


def test_document_drift_and_sampled_rows():
    X, y = data(n=600)
    models = {t: fitted(t, X[:300], y[:300]) for t in ("xgboost", "lightgbm")}
    doc = importance.importance_document(models, "lightgbm", NAMES, X[300:], y[300:], seed=3, part="test",
                                         n_repeats=2)
    assert doc["chosen"] == "lightgbm" and doc["permutation"]["n_rows"] == 300
    (pair,) = doc["drift"]["pairs"]
    assert pair["a"] == "xgboost" and pair["b"] == "lightgbm"
    assert 0 <= pair["mean_abs_difference"] < 0.1 and pair["top_10_overlap"] >= 2
    same = importance.drift({"x": doc["per_type"]["xgboost"], "y": doc["per_type"]["xgboost"]})
    assert same["pairs"][0]["mean_abs_difference"] == 0 and same["pairs"][0]["top_gainers"] == []
    rows = importance.eval_rows(10_000, seed=1, max_rows=50)
    assert len(rows) == 50 and len(set(rows.tolist())) == 50
    assert (rows == importance.eval_rows(10_000, seed=1, max_rows=50)).all()
