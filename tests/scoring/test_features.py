"""Step 3 features: hand-computed values, no leakage, no constant features."""

import json
import math
import os

import numpy as np
import pytest

from seedsift.data import synthetic
from seedsift.scoring import features
from seedsift.scoring.chunks import score_records
from seedsift.sieve import search

from conftest import REPO


def feats(pred, act, mod=1000, residue_mods=(8, 125, 1000)):
    out = features.from_predictions(np.array([pred]), act, mod, list(residue_mods))
    return {k: float(v[0]) for k, v in out.items()}


def test_hand_computed_match_features():
    act = [5, 6, 7, 8, 9, 10, 11, 12]
    pred = [5, 6, 0, 8, 9, 10, 0, 13]  # matches at 0,1,3,4,5; near miss (distance 1) at 7
    f = feats(pred, act)
    assert f["exact_match_rate"] == 5 / 8
    assert f["longest_match_run"] == 3
    assert f["match_runs"] == 2
    assert f["first_match_position"] == 0.0
    assert f["last_match_position"] == 6 / 8
    assert f["near_miss_1_rate"] == 6 / 8
    assert f["near_miss_10_rate"] == 8 / 8 - 1 / 8  # position 6: |0 - 11| = 11
    assert f["match_position_spread"] == pytest.approx(np.std([0, 1, 3, 4, 5]) / 8)
    assert f["residual_max_abs"] == 11 / 1000
    assert f["digit_units_match_rate"] == 5 / 8
    assert f["pred_min"] == 0.0 and f["pred_max"] == 13 / 1000


def test_circular_residuals_wrap_around():
    f = feats([999, 0], [0, 999], mod=1000)
    assert f["residual_abs_mean"] == 1 / 1000  # 999 vs 0 is one step on the circle, not 999
    assert f["near_miss_1_rate"] == 1.0
    assert f["residual_mean"] == 0.0


def test_residue_kl_and_coherence_against_the_naive_formula():
    rng = np.random.default_rng(0)
    act = rng.integers(0, 1000, 50)
    pred = rng.integers(0, 1000, 50)
    f = feats(pred.tolist(), act.tolist())
    for m in (8, 125, 1000):
        p = (np.bincount(pred % m, minlength=m) + 0.5) / (50 + 0.5 * m)
        q = (np.bincount(act % m, minlength=m) + 0.5) / (50 + 0.5 * m)
        assert f[f"residue_{m}_kl_divergence"] == pytest.approx(float((p * np.log(p / q)).sum()), rel=1e-9)
        assert f[f"residue_{m}_coherence"] == pytest.approx(float(np.minimum(p, q).sum()), rel=1e-9)
    assert f["residue_8_match_rate"] == pytest.approx(np.mean(pred % 8 == act % 8))
    assert "residue_1000_match_rate" not in f  # would duplicate exact_match_rate when mod is 1000


def test_box_and_digit_features():
    f = feats([123, 321, 112, 999], [321, 123, 121, 998])
    assert f["box_match_rate"] == 3 / 4
    assert f["digit_hundreds_match_rate"] == 2 / 4  # 112 vs 121 and 999 vs 998
    assert f["any_digit_match_rate"] == 4 / 4


def test_temporal_windows_and_trend():
    act = list(range(40))
    pred = [a if i >= 20 else a + 1 for i, a in enumerate(act)]  # matches only in the second half
    f = feats(pred, act, mod=1000)
    assert f["temporal_stability_min"] == 0.0 and f["temporal_stability_max"] == 1.0
    assert f["temporal_stability_trend"] > 0


def _scored(truth_seed=313373, noise=0.0):
    draws, _ = synthetic.generate("xorshift32", truth_seed, 1, 0, 300, 1000, noise, 3)
    train, holdout = draws[:200], draws[200:260]
    spec = search.SieveSpec("xorshift32", tuple(train), 1000, 0, 3, 0, 1, 4, 0.25)
    records, _ = search.sieve_range(spec, 0, 1 << 19)
    return records, train, holdout, draws


def test_planted_seed_scores_one_and_chance_survivors_score_near_chance():
    bid, train, holdout, _ = _scored()
    scored = score_records(bid, train, holdout, 1000, [8, 125, 1000])
    true = [r for r in scored if r["seed"] == 313373]
    assert true and true[0]["score"] == 1.0 and true[0]["holdout_quality"] == 1.0
    others = [r for r in scored if r["seed"] != 313373]
    assert len(others) > 1000
    mean_score = np.mean([r["score"] for r in others])
    mean_label = np.mean([r["holdout_quality"] for r in others])
    # a chance survivor matches its 2 window draws (forward + reverse), then chance 1/1000
    assert mean_score < 2 / 200 + 0.01
    assert mean_label < 0.01


def test_no_registered_feature_is_constant_across_varied_survivors():
    bid, train, holdout, _ = _scored()
    names, X, _, _ = features.compute(bid, train, holdout, 1000, [8, 125, 1000])
    registry = json.loads((REPO / "manifests/feature_registry.json").read_text())
    assert set(registry["per_survivor_features"]) == set(names)
    assert X.shape[0] > 1000
    constant = [n for n, sd in zip(names, X.std(axis=0)) if sd == 0]
    assert constant == []


def test_leakage_guard_features_ignore_holdout_and_test_draws():
    bid, train, holdout, draws = _scored()
    _, X1, s1, h1 = features.compute(bid, train, holdout, 1000, [8, 125, 1000])
    scrambled = [int.from_bytes(os.urandom(2), "little") % 1000 for _ in holdout]
    _, X2, s2, h2 = features.compute(bid, train, scrambled, 1000, [8, 125, 1000])
    assert np.array_equal(X1, X2) and np.array_equal(s1, s2)
    assert not np.array_equal(h1, h2)


def test_no_feature_is_an_exact_rescaling_of_the_label():
    bid, train, holdout, _ = _scored(noise=0.05)
    names, X, _, hold = features.compute(bid, train, holdout, 1000, [8, 125, 1000])
    y = hold / len(holdout)
    assert len(set(y.tolist())) >= 3  # two distinct values would make any feature "linear" in y
    for j, name in enumerate(names):
        x = X[:, j]
        if x.std() == 0:
            continue
        a, b = np.polyfit(x, y, 1)
        assert not np.allclose(a * x + b, y, atol=1e-9), f"{name} is a linear rescaling of the label"


def test_registry_file_matches_the_code():
    committed = json.loads((REPO / "manifests/feature_registry.json").read_text())
    assert committed == json.loads(json.dumps(features.registry(1000, [8, 125, 1000])))
    for name, entry in committed["per_survivor_features"].items():
        assert entry["description"] and entry["category"] and len(entry["range"]) == 2, name


def test_global_features_are_diagnostics():
    rng = np.random.default_rng(1)
    train = rng.integers(0, 1000, 3000).tolist()
    g = features.global_features(train, 1000, [8, 125, 1000])
    assert g["chi2_uniformity_p"] > 0.001  # seeded uniform draws
    assert abs(g["lag1_serial_correlation"]) < 0.1
    assert 0.95 < g["residue_8_entropy"] <= 1.0
    skewed = features.global_features([7] * 500 + train[:500], 1000, [8])
    assert skewed["chi2_uniformity_p"] < 1e-6
    assert math.isfinite(skewed["regime_change_kl"]) and skewed["regime_change_kl"] > 0.1
