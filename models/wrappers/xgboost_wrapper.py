"""XGBoost gradient-boosted trees (``hist``), early stopping on the validation set.

Saved as XGBoost's own JSON model format; the booster is cut at its best iteration before
saving, so the file is exactly the model that was selected.
"""

import functools
import json
import warnings

import numpy as np
import xgboost as xgb

from models.wrappers.base import BaseWrapper, load_error


@functools.lru_cache(maxsize=None)
def _probe_cuda():
    if not xgb.build_info().get("USE_CUDA"):
        return False, "this xgboost build has no CUDA support"
    try:
        dm = xgb.DMatrix(np.arange(8, dtype=np.float32).reshape(4, 2), label=np.arange(4, dtype=np.float32))
        with warnings.catch_warnings():
            # Without a visible GPU xgboost warns and trains on the CPU; the config below says so.
            warnings.simplefilter("ignore", UserWarning)
            booster = xgb.train({"device": "cuda", "tree_method": "hist", "verbosity": 0}, dm, num_boost_round=1)
    except xgb.core.XGBoostError as exc:
        return False, f"xgboost cannot use CUDA ({str(exc).splitlines()[0][:160]})"
    if not _device_of(booster).startswith("cuda"):
        return False, "xgboost finds no visible GPU"
    return True, "ok"


def _device_of(booster):
    """The device a booster actually ran on (xgboost silently moves to the CPU without a GPU)."""
    return json.loads(booster.save_config())["learner"]["generic_param"].get("device", "cpu")


class XGBoostWrapper(BaseWrapper):
    """XGBoost regressor (squared error). Config keys: see ``DEFAULTS``."""

    model_type = "xgboost"
    DEFAULTS = {
        "n_estimators": 300,
        "max_depth": 6,
        "learning_rate": 0.1,
        "subsample": 1.0,
        "colsample_bytree": 1.0,
        "reg_alpha": 0.0,
        "reg_lambda": 1.0,
        "min_child_weight": 1.0,
        "early_stopping_rounds": 20,
        "seed": 0,
        "n_jobs": 1,
    }

    @staticmethod
    def _gpu_probe():
        return _probe_cuda()

    def _booster_params(self, p):
        return {
            "objective": "reg:squarederror",
            "eval_metric": "rmse",
            "tree_method": "hist",
            "device": self.device_,
            "max_depth": int(p["max_depth"]),
            "eta": float(p["learning_rate"]),
            "subsample": float(p["subsample"]),
            "colsample_bytree": float(p["colsample_bytree"]),
            "alpha": float(p["reg_alpha"]),
            "lambda": float(p["reg_lambda"]),
            "min_child_weight": float(p["min_child_weight"]),
            "seed": int(p["seed"]),
            "nthread": int(p["n_jobs"]),
            "verbosity": 0,
        }

    def _fit(self, X_train, y_train, X_val, y_val, p):
        dtrain = xgb.DMatrix(X_train, label=y_train, nthread=int(p["n_jobs"]))
        evals = [(dtrain, "train")]
        if X_val is not None:
            evals.append((xgb.DMatrix(X_val, label=y_val, nthread=int(p["n_jobs"])), "val"))
        record = {}
        booster = xgb.train(
            self._booster_params(p), dtrain, num_boost_round=int(p["n_estimators"]), evals=evals,
            early_stopping_rounds=int(p["early_stopping_rounds"]) if X_val is not None else None,
            evals_result=record, verbose_eval=False)
        if self.device_ == "cuda" and not _device_of(booster).startswith("cuda"):
            self._fell_back("xgboost moved the fit to the CPU")
        n_rounds = booster.num_boosted_rounds()
        best = booster.best_iteration if X_val is not None else n_rounds - 1
        # Keep only the rounds up to the best one: predict() and the saved file then agree.
        self.model_ = booster[: best + 1]
        self.best_iteration_ = int(best)
        self.history_ = _history(record, "rmse")

    def _predict(self, X):
        if self.device_ == "cuda":
            # Host data with a GPU booster: a DMatrix avoids xgboost's device-mismatch fallback warning.
            return self.model_.predict(xgb.DMatrix(X))
        return self.model_.inplace_predict(X)

    def _save(self, path):
        self.model_.set_attr(seedsift_best_iteration=str(self.best_iteration_))
        self.model_.save_model(path)

    def _load(self, path):
        self._choose_device()
        booster = xgb.Booster()
        try:
            booster.load_model(str(path))
        except xgb.core.XGBoostError as exc:
            raise load_error(path, self.model_type, exc) from None
        booster.set_param({"device": self.device_})
        self.model_ = booster
        self.n_features_in_ = booster.num_features()
        best = booster.attr("seedsift_best_iteration")
        self.best_iteration_ = int(best) if best is not None else booster.num_boosted_rounds() - 1
        self.history_ = []
        self.notes_ = []


def _history(record, metric):
    """Per-round losses as [{round, train_<metric>, val_<metric>}]."""
    rounds = len(record.get("train", {}).get(metric, []))
    out = []
    for i in range(rounds):
        row = {"round": i, f"train_{metric}": float(record["train"][metric][i])}
        if "val" in record:
            row[f"val_{metric}"] = float(record["val"][metric][i])
        out.append(row)
    return out
