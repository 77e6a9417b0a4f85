"""Train several model types on the same split and rank them (the seed's M.9 ModelSelector).

The validation set serves both for early stopping and for the ranking here, as in the seed;
that makes the winning score optimistic. The pipeline (``seedsift.training``) therefore
ranks by k-fold validation and reports the winner on a test part no choice has seen.
"""

import logging
import time

import numpy as np

from models.model_factory import create_model
from models.wrappers import MODEL_TYPES
from models.wrappers.base import as_target
from seedsift.errors import ConfigError

log = logging.getLogger(__name__)

METRICS = ("mse", "mae", "rmse", "r2")
HIGHER_IS_BETTER = {"r2"}


def regression_metrics(y_true, y_pred):
    """mse, mae, rmse and r2 (r2 is None when y_true has no variance: it is undefined)."""
    y_true = as_target(y_true, "y_true", len(y_true))
    y_pred = as_target(y_pred, "y_pred", len(y_true))
    err = y_pred - y_true
    mse = float(np.mean(err ** 2))
    ss_tot = float(np.sum((y_true - y_true.mean()) ** 2))
    return {
        "mse": mse,
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(mse)),
        "r2": None if ss_tot <= 0.0 else float(1.0 - np.sum(err ** 2) / ss_tot),
    }


def _sort_key(metric):
    def key(item):
        score = item[1]
        if score is None:
            return float("inf")
        return -score if metric in HIGHER_IS_BETTER else score
    return key


class ModelSelector:
    """Fit each requested model type once and rank them by one metric.

    ``configs`` maps a model type to its hyper-parameters; ``seed`` and ``n_jobs`` are
    given to every type that has no own value for them.
    """

    def __init__(self, configs=None, device="auto", seed=0, n_jobs=1):
        self.configs = configs
        self.device = device
        self.seed = seed
        self.n_jobs = n_jobs

    def _config(self, model_type):
        config = dict((self.configs or {}).get(model_type, {}))
        config.setdefault("seed", self.seed)
        config.setdefault("n_jobs", self.n_jobs)
        return config

    def evaluate_all(self, X_train, y_train, X_val, y_val, model_types=None):
        """{model_type: {metrics..., duration_s, device, best_iteration}} and the fitted models."""
        model_types = list(MODEL_TYPES if model_types is None else model_types)
        results, models = {}, {}
        for model_type in model_types:
            start = time.perf_counter()
            model = create_model(model_type, self._config(model_type), device=self.device)
            model.fit(X_train, y_train, X_val, y_val)
            metrics = regression_metrics(y_val, model.predict(X_val))
            metrics.update(duration_s=round(time.perf_counter() - start, 3), device=model.device_,
                           best_iteration=model.best_iteration_)
            results[model_type] = metrics
            models[model_type] = model
            log.info("%s: %s", model_type, metrics)
        return results, models

    @staticmethod
    def select_best(results, metric="mse"):
        """Rankings [{rank, model, score}] best first; ties keep the order the types were given."""
        if metric not in METRICS:
            raise ConfigError("metric", metric, f"one of {list(METRICS)}")
        ordered = sorted(((t, r[metric]) for t, r in results.items()), key=_sort_key(metric))
        return [{"rank": i + 1, "model": t, "score": s} for i, (t, s) in enumerate(ordered)]

    def train_and_compare(self, X_train, y_train, X_val, y_val, model_types=None, metric="mse"):
        """Fit every type, rank by ``metric`` on the validation set.

        Returns {best_model, best_score, metric, rankings, results, models}.
        """
        if metric not in METRICS:
            raise ConfigError("metric", metric, f"one of {list(METRICS)}")
        results, models = self.evaluate_all(X_train, y_train, X_val, y_val, model_types)
        rankings = self.select_best(results, metric)
        best = rankings[0]
        return {"best_model": best["model"], "best_score": best["score"], "metric": metric,
                "rankings": rankings, "results": results, "models": models}
