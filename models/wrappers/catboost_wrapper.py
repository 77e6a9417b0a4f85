"""CatBoost oblivious trees, early stopping on the validation set (best model kept).

Saved as CatBoost's ``.cbm`` format. GPU training uses ``task_type='GPU'`` on the job's
device when CatBoost sees one.
"""

import functools

import numpy as np
from catboost import CatBoostError, CatBoostRegressor
from catboost.utils import get_gpu_device_count

from models.wrappers.base import BaseWrapper, load_error

# Metadata keys that differ between two fits of the same model.
RUN_SPECIFIC_METADATA = ("model_guid", "train_finish_time")


@functools.lru_cache(maxsize=None)
def _probe_gpu():
    try:
        count = get_gpu_device_count()
    except CatBoostError as exc:
        return False, f"catboost cannot query GPUs ({str(exc)[:160]})"
    return (True, "ok") if count > 0 else (False, "catboost sees no GPU")


class CatBoostWrapper(BaseWrapper):
    """CatBoost regressor (RMSE). Config keys: see ``DEFAULTS``."""

    model_type = "catboost"
    DEFAULTS = {
        "n_estimators": 300,
        "depth": 6,
        "learning_rate": 0.1,
        "l2_leaf_reg": 3.0,
        "random_strength": 1.0,
        "bagging_temperature": 1.0,
        "border_count": 254,
        "early_stopping_rounds": 20,
        "seed": 0,
        "n_jobs": 1,
    }

    @staticmethod
    def _gpu_probe():
        return _probe_gpu()

    def _estimator(self, p, constant):
        kwargs = dict(
            iterations=int(p["n_estimators"]),
            depth=int(p["depth"]),
            learning_rate=float(p["learning_rate"]),
            l2_leaf_reg=float(p["l2_leaf_reg"]),
            random_strength=float(p["random_strength"]),
            border_count=int(p["border_count"]),
            loss_function="RMSE",
            random_seed=int(p["seed"]),
            thread_count=int(p["n_jobs"]),
            allow_writing_files=False,
            verbose=False,
        )
        if constant:
            # Sampling needs weighted rows; see _fit for the zero-weight row.
            kwargs["bootstrap_type"] = "No"
        else:
            kwargs["bootstrap_type"] = "Bayesian"
            kwargs["bagging_temperature"] = float(p["bagging_temperature"])
        if self.device_ == "cuda":
            kwargs.update(task_type="GPU", devices="0")
        return CatBoostRegressor(**kwargs)

    def _fit(self, X_train, y_train, X_val, y_val, p):
        sample_weight = None
        if self.constant_target_:
            # CatBoost refuses a constant target ("All train targets are equal"). One extra row
            # with a different target and weight 0 passes that check without influencing the
            # fit, so the model is the constant it should be and still a native .cbm file.
            X_train = np.vstack([X_train, X_train[:1]])
            y_train = np.append(y_train, y_train[0] + 1.0)
            sample_weight = np.append(np.ones(len(y_train) - 1), 0.0)
        model = self._estimator(p, self.constant_target_)
        fit_kwargs = {"sample_weight": sample_weight}
        if X_val is not None:
            fit_kwargs.update(eval_set=(X_val, y_val), use_best_model=True,
                              early_stopping_rounds=int(p["early_stopping_rounds"]))
        model.fit(X_train, y_train, **fit_kwargs)
        evals = model.get_evals_result()
        train_key = "learn"
        val_key = next((k for k in evals if k != train_key), None)
        rounds = len(evals.get(train_key, {}).get("RMSE", []))
        self.history_ = []
        for i in range(rounds):
            row = {"round": i, "train_rmse": float(evals[train_key]["RMSE"][i])}
            if val_key is not None and i < len(evals[val_key]["RMSE"]):
                row["val_rmse"] = float(evals[val_key]["RMSE"][i])
            self.history_.append(row)
        best = model.get_best_iteration() if X_val is not None else None
        self.model_ = model
        self.best_iteration_ = int(best) if best is not None else model.tree_count_ - 1

    def _predict(self, X):
        return self.model_.predict(X, thread_count=int(self.params_["n_jobs"]) if hasattr(self, "params_") else 1)

    def _save(self, path):
        # CatBoost stamps every fit with a random model_guid and its finish time: without them,
        # equal models are equal files (the sidecar records when and from what it was trained).
        info = self.model_.get_metadata()
        for key in RUN_SPECIFIC_METADATA:
            if key in info:
                del info[key]
        self.model_.save_model(path, format="cbm")

    def _load(self, path):
        self._choose_device()
        model = CatBoostRegressor()
        try:
            model.load_model(str(path), format="cbm")
        except CatBoostError as exc:
            raise load_error(path, self.model_type, exc) from None
        self.model_ = model
        self.n_features_in_ = len(model.feature_names_) if model.feature_names_ else model.n_features_in_
        self.best_iteration_ = model.tree_count_ - 1
        self.history_ = []
        self.notes_ = []
