"""The ML package of the seed (Addendum M.7): four model types behind one interface.

``create_model(type, config)`` makes an unfitted wrapper, ``load_model(type, path)`` reads
one, ``ModelSelector`` compares types. Importing this package imports no ML framework:
each backend is loaded when its model type is first used.
"""

from models.model_factory import create_model, load_model, load_model_from_sidecar, save_model_with_sidecar
from models.model_selector import ModelSelector

__all__ = ["create_model", "load_model", "ModelSelector", "load_model_from_sidecar", "save_model_with_sidecar"]
