"""The models/ package: one conformance suite over every registered type, sidecar contract, M.9 API."""

import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from models import ModelSelector, create_model, load_model
from models.feature_schema import FeatureSchemaMismatch, feature_schema_of, label_metadata
from models.model_factory import (
    NoModelError,
    get_model_extension,
    load_model_from_sidecar,
    save_model_with_sidecar,
    save_no_model_sidecar,
)
from models.model_selector import regression_metrics
from models.wrappers import MODEL_TYPES, UnknownModelTypeError
from models.wrappers.base import ModelInterface, NotFittedError
from seedsift.errors import ConfigError, InputError

from conftest import REPO

# Small and fast, but enough capacity to learn the synthetic function below.
CONFIGS = {
    "neural_net": {"hidden_layers": [64, 32], "epochs": 150, "batch_size": 64, "learning_rate": 3e-3, "patience": 15},
    "xgboost": {"n_estimators": 200, "max_depth": 4},
    "lightgbm": {"n_estimators": 200, "num_leaves": 15, "min_child_samples": 10},
    "catboost": {"n_estimators": 200, "depth": 4},
}
NAMES = ["f_count", "f_a", "f_b", "f_c", "f_d", "f_noise"]


def make_table(n=900, seed=0, shuffle=False):
    """A label that is a known non-linear function of the features plus noise.

    One informative column is a large count (mean 1e5, sd 1e4), like the sieve counts that
    swamped the original's unscaled network.
    """
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, len(NAMES)))
    X = Z.astype(np.float32)
    X[:, 0] = (1e5 + 1e4 * Z[:, 0]).astype(np.float32)
    y = np.sin(2 * Z[:, 1]) + Z[:, 2] * Z[:, 3] + 0.3 * (Z[:, 4] > 0) + 0.5 * Z[:, 0] + 0.1 * rng.normal(size=n)
    if shuffle:
        y = rng.permutation(y)
    return (X[:500], y[:500]), (X[500:700], y[500:700]), (X[700:], y[700:])


TABLE = make_table()
_FITTED = {}


def fitted(model_type):
    """One fitted model per type, shared by the tests that only read it."""
    if model_type not in _FITTED:
        (Xt, yt), (Xv, yv), _ = TABLE
        _FITTED[model_type] = create_model(model_type, CONFIGS[model_type]).fit(Xt, yt, Xv, yv)
    return _FITTED[model_type]


@pytest.fixture(autouse=True)
def no_gpu_assigned(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("HIP_VISIBLE_DEVICES", raising=False)


# -- conformance: every registered type ---------------------------------------------------------
@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_init_only_stores_and_fit_returns_self(model_type):
    model = create_model(model_type, {"seed": 1})
    assert vars(model) == {"config": {"seed": 1}, "device": "auto"}
    assert isinstance(model, ModelInterface) and model.model_type == model_type
    with pytest.raises(NotFittedError, match="not fitted yet: call fit"):
        model.predict(TABLE[2][0])
    (Xt, yt), _, _ = TABLE
    assert model.fit(Xt[:60], yt[:60]) is model
    assert {"model_", "n_features_in_", "device_"} <= {k for k in vars(model) if k.endswith("_")}


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_beats_predict_the_mean_on_a_nonlinear_table(model_type):
    (Xt, yt), _, (Xs, ys) = TABLE
    pred = fitted(model_type).predict(Xs)
    assert pred.shape == (len(ys),) and pred.dtype == np.float64 and np.isfinite(pred).all()
    mse = regression_metrics(ys, pred)["mse"]
    baseline = regression_metrics(ys, np.full_like(ys, yt.mean()))["mse"]
    assert mse < 0.5 * baseline, f"{model_type}: test MSE {mse:.3f} vs baseline {baseline:.3f}"
    assert fitted(model_type).predict(Xs[:1]).shape == (1,)


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_save_load_round_trip_gives_identical_predictions(model_type, tmp_path):
    model = fitted(model_type)
    path = tmp_path / f"m{get_model_extension(model_type)}"
    model.save(path)
    loaded = load_model(model_type, path)
    Xs = TABLE[2][0]
    np.testing.assert_array_equal(loaded.predict(Xs), model.predict(Xs))
    assert loaded.n_features_in_ == len(NAMES)


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_same_seed_same_predictions(model_type):
    (Xt, yt), (Xv, yv), (Xs, _) = TABLE
    config = dict(CONFIGS[model_type], seed=7)
    if model_type == "neural_net":
        config.update(epochs=20)
    else:
        config.update(n_estimators=40)
    a = create_model(model_type, config).fit(Xt, yt, Xv, yv).predict(Xs)
    b = create_model(model_type, config).fit(Xt, yt, Xv, yv).predict(Xs)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_shapes_are_checked(model_type):
    (Xt, yt), _, _ = TABLE
    model = create_model(model_type, {"seed": 0})
    with pytest.raises(ValueError, match=r"shape \(n,\) or \(n, 1\)"):
        model.fit(Xt[:50], np.stack([yt[:50], yt[:50]], axis=1))
    with pytest.raises(ValueError, match="both X_val and y_val"):
        model.fit(Xt[:50], yt[:50], Xt[:10], None)
    bad = Xt[:50].copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.fit(bad, yt[:50])
    model.fit(Xt[:50], yt[:50, None])  # (N, 1) is accepted and flattened, never broadcast
    with pytest.raises(ValueError, match="fitted with 6"):
        model.predict(Xt[:5, :4])


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_constant_target_fold_fits_and_says_so(model_type):
    (Xt, _), (Xv, _), (Xs, _) = TABLE
    model = create_model(model_type, {"seed": 0}).fit(Xt[:100], np.zeros(100), Xv[:40], np.zeros(40))
    np.testing.assert_allclose(model.predict(Xs), 0.0, atol=1e-9)
    assert any("constant" in note for note in model.notes_)


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_shuffled_labels_learn_nothing(model_type):
    (Xt, yt), (Xv, yv), (Xs, ys) = make_table(seed=11, shuffle=True)
    pred = create_model(model_type, CONFIGS[model_type]).fit(Xt, yt, Xv, yv).predict(Xs)
    assert regression_metrics(ys, pred)["r2"] <= 0.05


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_unknown_hyper_parameter_lists_the_known_ones(model_type):
    with pytest.raises(ConfigError, match=f"'{model_type}.colour'.*seed"):
        create_model(model_type, {"colour": "red"}).fit(*TABLE[0])


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_device_choice_is_recorded(model_type, monkeypatch):
    (Xt, yt), _, _ = TABLE
    model = create_model(model_type, {"seed": 0}).fit(Xt[:60], yt[:60])
    assert model.device_ == "cpu" and "no GPU assigned" in model.device_note_
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    model = create_model(model_type, {"seed": 0}).fit(Xt[:60], yt[:60])
    assert model.device_ == "cpu" and "hides every device" in model.device_note_
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    model = create_model(model_type, {"seed": 0}).fit(Xt[:60], yt[:60])
    import torch

    if not torch.cuda.is_available():  # no GPU on this machine: every type must say it fell back
        assert model.device_ == "cpu" and model.device_choice_.fallback_to_cpu
        assert model.device_note_.startswith("CPU fallback")
    assert model.log_gpu_memory()["device_used"] == model.device_


def test_unknown_type_lists_valid_names():
    with pytest.raises(UnknownModelTypeError) as exc:
        create_model("random_forest")
    for name in MODEL_TYPES:
        assert name in str(exc.value)


def test_registry_imports_backends_lazily():
    code = (
        "import sys, models, models.model_factory, models.model_selector, models.feature_schema\n"
        "heavy = ('torch', 'xgboost', 'lightgbm', 'catboost')\n"
        "assert not [m for m in heavy if m in sys.modules], [m for m in heavy if m in sys.modules]\n"
        "import models.wrappers.xgboost_wrapper\n"
        "assert 'xgboost' in sys.modules\n"
        "assert not [m for m in ('torch', 'lightgbm', 'catboost') if m in sys.modules]\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_neural_net_restores_the_best_epoch():
    (Xt, yt), (Xv, yv), _ = TABLE
    model = create_model("neural_net", dict(CONFIGS["neural_net"], epochs=60, patience=8,
                                            learning_rate=3e-2)).fit(Xt, yt, Xv, yv)
    val = [row["val_loss"] for row in model.history_]
    assert model.best_iteration_ == int(np.argmin(val))
    assert len(val) > model.best_iteration_ + 1, "training should run past the best epoch"
    restored = np.mean((model.predict(Xv) - yv) ** 2) / model.y_scale_ ** 2
    assert restored == pytest.approx(min(val), rel=1e-4)
    assert restored < val[-1] or val[-1] == min(val)


def test_neural_net_checkpoint_is_plain_tensors(tmp_path):
    import torch

    path = tmp_path / "m.pth"
    fitted("neural_net").save(path)
    ckpt = torch.load(path, weights_only=True)
    assert {"state_dict", "x_mean", "x_scale", "y_mean", "y_scale", "hidden_layers"} <= set(ckpt)
    np.testing.assert_allclose(ckpt["x_mean"].numpy()[0], TABLE[0][0][:, 0].mean(), rtol=1e-6)

    class Payload:
        def __reduce__(self):
            return (print, ("code ran",))

    evil = tmp_path / "evil.pth"
    torch.save({"format": "seedsift.neural_net/1", "state_dict": Payload()}, evil)
    with pytest.raises(InputError, match="not a readable neural_net model"):
        load_model("neural_net", evil)


def test_no_pickle_or_joblib_in_the_code():
    pattern = re.compile(r"pickle\.(load|loads|dump|dumps|Unpickler)|joblib|weights_only\s*=\s*False|"
                         r"allow_pickle\s*=\s*True|(?<![\w.])eval\(|(?<![\w.])exec\(")
    offenders = []
    for folder in ("models", "seedsift", "scripts", "bench"):
        for path in (REPO / folder).rglob("*.py"):
            for i, line in enumerate(path.read_text().splitlines(), 1):
                if pattern.search(line):
                    offenders.append(f"{path.relative_to(REPO)}:{i}: {line.strip()}")
    assert not offenders, offenders


# -- sidecar contract ---------------------------------------------------------------------------
def schema():
    return feature_schema_of(NAMES, "survivors_with_scores.json")


def save(tmp_path, model_type="xgboost"):
    out = tmp_path / "reinforcement"
    meta = save_model_with_sidecar(fitted(model_type), out, schema(), label_metadata(TABLE[0][1]),
                                   validation_metrics={"mse": 0.1}, training_info={"n_trials": 1, "k_folds": 2})
    return out, meta


def test_sidecar_round_trip(tmp_path):
    out, meta = save(tmp_path)
    model, loaded_meta = load_model_from_sidecar(out)
    assert loaded_meta == json.loads((out / "best_model.meta.json").read_text())
    assert meta["schema_version"] == "3.1.2" and meta["model_type"] == "xgboost"
    assert meta["checkpoint_path"] == "best_model.json" and meta["checkpoint_format"] == "json"
    import hashlib
    assert meta["checkpoint_sha256"] == hashlib.sha256((out / "best_model.json").read_bytes()).hexdigest()
    assert meta["feature_schema"]["feature_schema_hash"] == schema()["feature_schema_hash"] != ""
    assert meta["y_label_source"]["field"] == "holdout_quality"
    Xs = TABLE[2][0]
    np.testing.assert_array_equal(model.predict(Xs), fitted("xgboost").predict(Xs))


def test_type_comes_from_the_sidecar_not_the_extension(tmp_path):
    out, meta = save(tmp_path)
    (out / "best_model.json").rename(out / "best_model.pth")
    meta["checkpoint_path"] = "best_model.pth"
    (out / "best_model.meta.json").write_text(json.dumps(meta))
    model, _ = load_model_from_sidecar(out)
    assert model.model_type == "xgboost"


@pytest.mark.parametrize("wrong", [t for t in MODEL_TYPES if t != "xgboost"])
def test_sidecar_naming_the_wrong_type_fails_loudly(tmp_path, wrong):
    out, meta = save(tmp_path)
    meta["model_type"] = wrong
    (out / "best_model.meta.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match=f"not a readable {wrong} model.*model_type '{wrong}'"):
        load_model_from_sidecar(out)


def test_changed_artifact_is_refused(tmp_path):
    out, _ = save(tmp_path)
    with open(out / "best_model.json", "a") as fh:
        fh.write(" ")
    with pytest.raises(InputError, match="sha256"):
        load_model_from_sidecar(out)


def test_sidecar_checks(tmp_path):
    out, meta = save(tmp_path)
    with pytest.raises(FeatureSchemaMismatch, match="missing columns"):
        load_model_from_sidecar(out, feature_names=NAMES[:-1] + ["f_other"])
    for field, value, needle in [("checkpoint_path", "../best_model.json", "relative"),
                                 ("model_type", "random_forest", "not one of"),
                                 ("schema_version", "3.2.0", "not supported")]:
        bad = dict(meta, **{field: value})
        (out / "best_model.meta.json").write_text(json.dumps(bad))
        with pytest.raises(InputError, match=needle):
            load_model_from_sidecar(out)


def test_sidecar_is_written_last_and_replaces_stale_artifacts(tmp_path):
    out, _ = save(tmp_path, "xgboost")
    save(tmp_path, "lightgbm")
    assert sorted(p.name for p in out.iterdir()) == ["best_model.meta.json", "best_model.txt"]
    with pytest.raises(ValueError, match="does not match"):
        save_model_with_sidecar(fitted("xgboost"), out, dict(schema(), feature_schema_hash=""), {})


def test_degenerate_sidecar_has_no_model(tmp_path):
    out = tmp_path / "r"
    save_no_model_sidecar(out, schema(), label_metadata(np.zeros(5)),
                          {"signal_status": "degenerate", "degenerate": True, "reason": "the label has no variance"})
    meta = json.loads((out / "best_model.meta.json").read_text())
    assert meta["checkpoint_path"] is None and meta["signal_quality"]["degenerate"]
    with pytest.raises(NoModelError, match="no model was trained .the label has no variance"):
        load_model_from_sidecar(out)


def test_model_selector_ranks_and_breaks_ties_by_order():
    (Xt, yt), (Xv, yv), _ = TABLE
    sel = ModelSelector(configs={"xgboost": {"n_estimators": 30}, "lightgbm": {"n_estimators": 30}})
    res = sel.train_and_compare(Xt, yt, Xv, yv, model_types=["xgboost", "lightgbm"], metric="r2")
    assert res["best_model"] == res["rankings"][0]["model"]
    assert res["rankings"][0]["score"] >= res["rankings"][1]["score"]
    tied = ModelSelector.select_best({"b": {"mse": 1.0}, "a": {"mse": 1.0}}, "mse")
    assert [r["model"] for r in tied] == ["b", "a"]
    with pytest.raises(ConfigError, match="metric"):
        sel.train_and_compare(Xt, yt, Xv, yv, model_types=["xgboost"], metric="accuracy")


def test_m9_programmatic_usage_as_written(tmp_path, monkeypatch):
    """The seed's M.9 snippet, verbatim apart from the data it needs."""
    from models.feature_schema import get_feature_schema_with_hash, load_quality_from_survivors
    from seedsift.bench.training import write_survivors_file

    monkeypatch.chdir(tmp_path)
    write_survivors_file(tmp_path / "survivors_with_scores.json", 400, seed=2, n_true=3, signal=0.3)
    survivors, y, y_metadata = load_quality_from_survivors("survivors_with_scores.json")
    feature_schema = get_feature_schema_with_hash("survivors_with_scores.json")
    X_train, y_train, X_val, y_val = survivors.X[:300], y[:300], survivors.X[300:], y[300:]

    from models import ModelSelector, create_model, load_model  # noqa: F401,F811

    # Create a model
    model = create_model('xgboost', config={'n_estimators': 200})

    # Train
    model.fit(X_train, y_train, X_val, y_val)

    # Save with sidecar
    from models.model_factory import save_model_with_sidecar  # noqa: F811
    save_model_with_sidecar(model, 'models/reinforcement', feature_schema, y_metadata)

    # Load (type from sidecar)
    from models.model_factory import load_model_from_sidecar  # noqa: F811
    model, meta = load_model_from_sidecar('models/reinforcement')

    # Compare multiple models
    selector = ModelSelector()
    results = selector.train_and_compare(X_train, y_train, X_val, y_val,
                                         model_types=['neural_net', 'xgboost'],
                                         metric='mse')
    print(f"Best: {results['best_model']} ({results['best_score']:.4f})")

    assert meta["model_type"] == "xgboost" and meta["feature_schema"]["feature_schema_hash"] == "5026d8e9d692e009"
    assert (tmp_path / "models/reinforcement/best_model.json").is_file()
    assert results["best_model"] in ("neural_net", "xgboost")
    assert results["best_score"] == min(r["mse"] for r in results["results"].values())
    shutil.rmtree(tmp_path / "models")
