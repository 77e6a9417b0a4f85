"""LightGBM gradient-boosted trees, early stopping on the validation set.

Saved as LightGBM's text model format, cut at the best iteration. GPU training uses
LightGBM's OpenCL learner (``device_type='gpu'``) when the installed build has it and a
device answers; the PyPI build has no CUDA learner, so otherwise the fit runs on the CPU and
the fallback is recorded.
"""

import functools

import lightgbm as lgb
import numpy as np

from models.wrappers.base import BaseWrapper, load_error


@functools.lru_cache(maxsize=None)
def _probe_gpu():
    X = np.arange(64, dtype=np.float64).reshape(32, 2)
    try:
        lgb.train({"device_type": "gpu", "verbosity": -1, "min_data_in_leaf": 1},
                  lgb.Dataset(X, label=X[:, 0]), num_boost_round=1)
    except lgb.basic.LightGBMError as exc:
        return False, f"lightgbm cannot use the GPU ({str(exc).splitlines()[0][:160]})"
    return True, "ok"


class LightGBMWrapper(BaseWrapper):
    """LightGBM regressor (L2). Config keys: see ``DEFAULTS``."""

    model_type = "lightgbm"
    DEFAULTS = {
        "n_estimators": 300,
        "num_leaves": 31,
        "max_depth": -1,
        "learning_rate": 0.1,
        "feature_fraction": 1.0,
        "bagging_fraction": 1.0,
        "bagging_freq": 0,
        "lambda_l1": 0.0,
        "lambda_l2": 0.0,
        "min_child_samples": 20,
        "early_stopping_rounds": 20,
        "seed": 0,
        "n_jobs": 1,
    }

    @staticmethod
    def _gpu_probe():
        return _probe_gpu()

    def _booster_params(self, p):
        params = {
            "objective": "regression",
            "metric": "l2",
            "device_type": "gpu" if self.device_ == "cuda" else "cpu",
            "num_leaves": int(p["num_leaves"]),
            "max_depth": int(p["max_depth"]),
            "learning_rate": float(p["learning_rate"]),
            "feature_fraction": float(p["feature_fraction"]),
            "bagging_fraction": float(p["bagging_fraction"]),
            "bagging_freq": int(p["bagging_freq"]),
            "lambda_l1": float(p["lambda_l1"]),
            "lambda_l2": float(p["lambda_l2"]),
            "min_child_samples": int(p["min_child_samples"]),
            "seed": int(p["seed"]),
            # Same result for the same seed regardless of thread timing.
            "deterministic": True,
            "num_threads": int(p["n_jobs"]),
            "verbosity": -1,
        }
        if self.device_ != "cuda":
            params["force_row_wise"] = True  # a CPU histogram option; part of deterministic CPU training
        return params

    def _fit(self, X_train, y_train, X_val, y_val, p):
        params = self._booster_params(p)
        dtrain = lgb.Dataset(X_train, label=y_train, free_raw_data=True)
        valid_sets, valid_names = [dtrain], ["train"]
        if X_val is not None:
            valid_sets.append(lgb.Dataset(X_val, label=y_val, reference=dtrain))
            valid_names.append("val")
        record = {}
        callbacks = [lgb.record_evaluation(record)]
        if X_val is not None:
            callbacks.append(lgb.early_stopping(int(p["early_stopping_rounds"]), first_metric_only=True, verbose=False))
        booster = lgb.train(params, dtrain, num_boost_round=int(p["n_estimators"]),
                            valid_sets=valid_sets, valid_names=valid_names, callbacks=callbacks)
        n_rounds = booster.current_iteration()
        best = booster.best_iteration if X_val is not None and booster.best_iteration > 0 else n_rounds
        # Rebuild from text cut at the best iteration, so predict() and the saved file agree.
        self.model_ = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
        self.best_iteration_ = int(best) - 1
        self.history_ = [
            {"round": i, **{f"{name}_l2": float(record[name]["l2"][i]) for name in valid_names}}
            for i in range(len(record["train"]["l2"]))
        ]

    def _predict(self, X):
        return self.model_.predict(X, num_threads=int(self.params_["n_jobs"]) if hasattr(self, "params_") else 1)

    def _save(self, path):
        self.model_.save_model(path)

    def _load(self, path):
        self._choose_device()
        try:
            self.model_ = lgb.Booster(model_file=str(path))
        except lgb.basic.LightGBMError as exc:
            raise load_error(path, self.model_type, exc) from None
        self.n_features_in_ = self.model_.num_feature()
        self.best_iteration_ = self.model_.current_iteration() - 1
        self.history_ = []
        self.notes_ = []
