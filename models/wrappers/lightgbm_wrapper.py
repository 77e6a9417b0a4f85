"""LightGBM gradient-boosted trees, early stopping on the validation set.

Saved as LightGBM's text model format, cut at the best iteration. GPU training uses
LightGBM's OpenCL learner (``device_type='gpu'``) when the installed build has it and a
device answers; the PyPI build has no CUDA learner, so otherwise the fit runs on the CPU and
the fallback is recorded.
"""

import functools
import re

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


# Per tree: arrays a tree of n leaves must hold, with their element type and length (n + offset).
_TREE_ARRAYS = {
    "leaf_value": (float, 0),
    "split_feature": (int, -1),
    "threshold": (float, -1),
    "decision_type": (int, -1),
    "left_child": (int, -1),
    "right_child": (int, -1),
}
_TRAILER = re.compile(r"\nend of parameters\n\npandas_categorical:[^\n]*\n\Z")


class _Malformed(ValueError):
    """A LightGBM text model that is truncated or damaged."""


def _numbers(text, kind, where):
    try:
        return [kind(tok) for tok in text.split()]
    except ValueError:
        raise _Malformed(f"{where} holds a token that is not a number") from None


def _check_tree(block, index, n_features):
    fields = dict(line.split("=", 1) for line in block.splitlines()[1:] if "=" in line)
    where = f"Tree={index}"
    try:
        n_leaves = int(fields["num_leaves"])
        n_cat = int(fields["num_cat"])
    except (KeyError, ValueError):
        raise _Malformed(f"{where} has no valid num_leaves/num_cat") from None
    if n_leaves < 1 or n_cat != 0:
        raise _Malformed(f"{where} has num_leaves={n_leaves}, num_cat={n_cat} (categorical splits are not written here)")
    if fields.get("is_linear", "0") != "0":
        raise _Malformed(f"{where} is a linear tree, which this wrapper does not write")
    for key, (kind, offset) in _TREE_ARRAYS.items():
        values = _numbers(fields.get(key, ""), kind, f"{where} {key}")
        if len(values) != n_leaves + offset:
            raise _Malformed(f"{where} {key} has {len(values)} values for {n_leaves} leaves")
        if key == "split_feature" and any(not 0 <= v < n_features for v in values):
            raise _Malformed(f"{where} splits on a feature outside [0, {n_features})")
        if key in ("left_child", "right_child") and any(not -n_leaves <= v < n_leaves - 1 for v in values):
            raise _Malformed(f"{where} {key} points outside the tree")
    _numbers(fields.get("shrinkage", "1"), float, f"{where} shrinkage")


def checked_model_text(text):
    """The part of a LightGBM text model that the native parser is given, after checking it all.

    LightGBM's parser trusts its input: on a truncated or damaged file it can abort or crash
    the whole process (std::terminate from its parallel tree loader, segfaults in the serial
    one) or silently load fewer trees, instead of raising. So the structure is checked here:
    the header, every tree block at the offsets ``tree_sizes`` gives, every number, and the
    trailer that ``save_model`` writes last. The native parser then gets the header (without
    ``tree_sizes``, which selects the parallel loader) and the trees; the parameters section
    after them only records how the model was trained.
    """
    if not text.startswith("tree\n"):
        raise _Malformed("the first line is not 'tree'")
    if not _TRAILER.search(text):
        raise _Malformed("the file does not end with the parameters and pandas_categorical lines (truncated?)")
    start = text.find("\nTree=0\n") + 1
    end = text.find("\nend of trees\n", start)
    if start == 0 or end < 0:
        raise _Malformed("no 'Tree=0' ... 'end of trees' section")
    header = dict(line.split("=", 1) for line in text[:start].splitlines()[1:] if "=" in line)
    try:
        n_features = int(header["max_feature_idx"]) + 1
        sizes = [int(tok) for tok in header["tree_sizes"].split()]
    except (KeyError, ValueError):
        raise _Malformed("the header has no valid max_feature_idx or tree_sizes") from None
    if len(header.get("feature_names", "").split()) != n_features:
        raise _Malformed(f"the header's feature_names do not list {n_features} features")
    pos = start
    for index, size in enumerate(sizes):
        block = text[pos:pos + size]
        if size <= 0 or not block.startswith(f"Tree={index}\n") or pos + size > end + 1:
            raise _Malformed(f"Tree={index} is not where tree_sizes puts it")
        _check_tree(block, index, n_features)
        pos += size
    if pos != end + 1:
        raise _Malformed("the trees do not fill the section up to 'end of trees'")
    kept = "".join(line + "\n" for line in text[:start].splitlines() if not line.startswith("tree_sizes="))
    return kept + text[start:end + 1] + "end of trees\n"


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
            text = checked_model_text(path.read_text(encoding="utf-8"))
            self.model_ = lgb.Booster(model_str=text)
        except (UnicodeDecodeError, _Malformed, lgb.basic.LightGBMError) as exc:
            raise load_error(path, self.model_type, exc) from None
        self.n_features_in_ = self.model_.num_feature()
        self.best_iteration_ = self.model_.current_iteration() - 1
        self.history_ = []
        self.notes_ = []
