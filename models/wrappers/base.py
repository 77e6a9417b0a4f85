"""The model contract (``ModelInterface``) and the shared checks of every wrapper.

Wrappers follow scikit-learn's estimator semantics: ``__init__`` only stores its arguments,
``fit`` validates the data and returns ``self``, everything learned ends in ``_`` and exists
only after ``fit`` or ``load``. Backends are imported inside each wrapper module, never here,
so that importing the contract (or one wrapper) does not import the others' frameworks.
"""

import logging
import time
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from models.gpu_memory import DeviceChoice, GPUMemoryMixin, resolve_device
from seedsift.errors import ConfigError, InputError, SeedsiftError
from seedsift.jsonio import atomic_path

log = logging.getLogger(__name__)

# A target whose spread is below this is treated as constant: fitting it is allowed (a fold of
# sparse labels often has no positive at all) but it is reported, never divided by.
CONSTANT_TARGET_STD = 1e-12


@runtime_checkable
class ModelInterface(Protocol):
    """What every model type provides (the seed's M.7 ``ModelInterface``)."""

    model_type: str

    def fit(self, X_train, y_train, X_val=None, y_val=None):
        """Train; with a validation set, stop early on it. Returns self."""

    def predict(self, X):
        """Predictions of shape (n,)."""

    def save(self, path):
        """Write the model in its backend's native format."""

    @classmethod
    def load(cls, path, device="auto"):
        """A fitted wrapper read from ``path``."""


class NotFittedError(SeedsiftError, ValueError):
    """A wrapper was asked to predict or save before it was fitted or loaded."""


def as_matrix(X, name, n_features=None):
    """``X`` as a finite float32 (n, d) array; the message names the argument and the problem."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n_samples, n_features), got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} has no rows")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} features, the model was fitted with {n_features}")
    X = np.ascontiguousarray(X, dtype=np.float32)
    if not np.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return X


def as_target(y, name, n_rows):
    """``y`` as a finite float64 vector of length ``n_rows``.

    (n,) and (n, 1) are accepted and both become (n,): the original system's neural net
    compared (N, 1) predictions with (N,) targets and silently broadcast an N x N loss.
    """
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{name} must have shape (n,) or (n, 1), got {y.shape}")
    if y.shape[0] != n_rows:
        raise ValueError(f"{name} has {y.shape[0]} values for {n_rows} rows")
    if not np.isfinite(y).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return np.ascontiguousarray(y)


def check_fit_data(X_train, y_train, X_val, y_val):
    """Validated (X_train, y_train, X_val, y_val); the validation pair is both or neither."""
    if (X_val is None) != (y_val is None):
        raise ValueError("give both X_val and y_val, or neither")
    X_train = as_matrix(X_train, "X_train")
    y_train = as_target(y_train, "y_train", X_train.shape[0])
    if X_val is not None:
        X_val = as_matrix(X_val, "X_val", X_train.shape[1])
        y_val = as_target(y_val, "y_val", X_val.shape[0])
    return X_train, y_train, X_val, y_val


class BaseWrapper(GPUMemoryMixin):
    """Shared behaviour: parameter checking, fitted-state checks, timing, device record.

    Subclasses set ``model_type``, ``DEFAULTS`` (every accepted config key with its default)
    and implement ``_gpu_probe``, ``_fit``, ``_predict``, ``_save`` and ``_load``.
    """

    model_type = "base"
    DEFAULTS = {}
    # Config keys that are not hyper-parameters (how to run, not what to learn).
    RUNTIME_KEYS = ("n_jobs", "seed")

    def __init__(self, config=None, device="auto"):
        self.config = config
        self.device = device

    # -- parameters ---------------------------------------------------------------------------
    def get_params(self):
        """The effective hyper-parameters: defaults overlaid with ``config``."""
        config = dict(self.config or {})
        unknown = sorted(set(config) - set(self.DEFAULTS))
        if unknown:
            raise ConfigError(f"{self.model_type}.{unknown[0]}", config[unknown[0]],
                              f"a known {self.model_type} parameter ({', '.join(sorted(self.DEFAULTS))})")
        params = dict(self.DEFAULTS)
        params.update(config)
        return params

    # -- fitted state -------------------------------------------------------------------------
    def _check_fitted(self):
        if not hasattr(self, "model_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet: call fit(X_train, y_train) "
                f"or {type(self).__name__}.load(path) first")

    def fit(self, X_train, y_train, X_val=None, y_val=None):
        """Validate the data, train (stopping early on the validation set if given), return self."""
        X_train, y_train, X_val, y_val = check_fit_data(X_train, y_train, X_val, y_val)
        params = self.get_params()
        self.n_features_in_ = X_train.shape[1]
        self.params_ = params
        self.notes_ = []
        self.constant_target_ = bool(np.std(y_train) < CONSTANT_TARGET_STD)
        if self.constant_target_:
            self.notes_.append(
                f"y_train is constant ({float(y_train[0])!r}): the model can only predict that value")
        self._choose_device()
        start = time.perf_counter()
        self._fit(X_train, y_train, X_val, y_val, params)
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def predict(self, X):
        """Predictions of shape (n,) as float64."""
        self._check_fitted()
        X = as_matrix(X, "X", self.n_features_in_)
        pred = np.asarray(self._predict(X), dtype=np.float64).reshape(-1)
        if pred.shape[0] != X.shape[0]:
            raise RuntimeError(f"{self.model_type} returned {pred.shape[0]} predictions for {X.shape[0]} rows")
        return pred

    def save(self, path):
        """Write the fitted model to ``path`` in the backend's native format (atomically)."""
        self._check_fitted()
        with atomic_path(path) as tmp:
            self._save(tmp)

    @classmethod
    def load(cls, path, device="auto"):
        """A fitted wrapper read from ``path`` (native format; nothing is unpickled)."""
        path = Path(path)
        if not path.is_file():
            raise InputError(path, "", f"{cls.model_type} model file does not exist")
        model = cls(device=device)
        model._load(path)
        return model

    def _choose_device(self):
        self._set_device(resolve_device(self.device, self._gpu_probe))

    def _set_device(self, choice):
        self.device_choice_ = choice
        self.device_ = choice.device
        self.device_note_ = choice.note

    def _fell_back(self, reason):
        """Record that the backend ran on the CPU although the GPU was chosen."""
        c = self.device_choice_
        self._set_device(DeviceChoice(c.requested, "cpu", True, f"CPU fallback: {reason} ({c.note})"))

    # -- backend hooks ------------------------------------------------------------------------
    @staticmethod
    def _gpu_probe():
        """(usable, reason): whether this backend can use the assigned GPU."""
        return False, "this model type has no GPU support"

    def _fit(self, X_train, y_train, X_val, y_val, params):
        raise NotImplementedError

    def _predict(self, X):
        raise NotImplementedError

    def _save(self, path):
        raise NotImplementedError

    def _load(self, path):
        raise NotImplementedError


def load_error(path, model_type, exc):
    """InputError for an artifact the backend could not read as ``model_type``."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return InputError(path, "", f"not a readable {model_type} model ({first[:200]})")
