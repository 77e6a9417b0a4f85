"""Registry of model types: name -> wrapper class, imported only when asked for.

Each wrapper module imports its own framework at import time, so looking up 'xgboost'
imports xgboost and nothing else. Adding a model type = one line here (and a wrapper
module); the conformance tests pick it up from ``MODEL_TYPES``.
"""

import importlib

from seedsift.errors import ConfigError

# model type -> (module, class, native file extension, checkpoint_format in the sidecar)
_REGISTRY = {
    "neural_net": ("models.wrappers.neural_net_wrapper", "NeuralNetWrapper", ".pth", "pth"),
    "xgboost": ("models.wrappers.xgboost_wrapper", "XGBoostWrapper", ".json", "json"),
    "lightgbm": ("models.wrappers.lightgbm_wrapper", "LightGBMWrapper", ".txt", "txt"),
    "catboost": ("models.wrappers.catboost_wrapper", "CatBoostWrapper", ".cbm", "cbm"),
}

MODEL_TYPES = tuple(_REGISTRY)


class UnknownModelTypeError(ConfigError):
    """A model type that is not registered; the message lists the valid names."""

    def __init__(self, name):
        super().__init__("model_type", name, f"one of {list(MODEL_TYPES)}")


def _entry(model_type):
    try:
        return _REGISTRY[model_type]
    except (KeyError, TypeError):
        raise UnknownModelTypeError(model_type) from None


def get_wrapper_class(model_type):
    """The wrapper class of ``model_type`` (its module is imported now, not before)."""
    module, cls, _, _ = _entry(model_type)
    return getattr(importlib.import_module(module), cls)


def model_extension(model_type):
    """Native file extension of ``model_type``'s artifact, e.g. '.json' for xgboost."""
    return _entry(model_type)[2]


def checkpoint_format(model_type):
    """The sidecar's ``checkpoint_format`` of ``model_type`` (extension without the dot)."""
    return _entry(model_type)[3]
