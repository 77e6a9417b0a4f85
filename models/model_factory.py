"""Create, save and load models; the sidecar ``best_model.meta.json`` is the model contract.

The sidecar (the seed's M.5 schema 3.1.2, extended) is the only source of a model's type:
file extensions are never read. It records the artifact's sha256, which is checked on
load, and it is written last, so an existing sidecar always means a complete artifact.
"""

import hashlib
import logging
from pathlib import Path, PurePosixPath

from models.feature_schema import feature_schema_of, schema_hash, validate_feature_schema_hash
from models.wrappers import MODEL_TYPES, checkpoint_format, get_wrapper_class, model_extension
from seedsift.errors import InputError
from seedsift.jsonio import read_json, sha256_file, write_json

log = logging.getLogger(__name__)

SCHEMA_VERSION = "3.1.2"
SIDECAR_NAME = "best_model.meta.json"
ARTIFACT_STEM = "best_model"
# Keys of the label metadata that belong in the sidecar's y_label_source.
_LABEL_KEYS = ("field", "n", "observed_min", "observed_max", "observed_range", "mean", "std", "n_distinct",
               "nonzero_count", "normalization_method", "output_range", "warnings", "source_sha256", "n_holdout",
               "chance_rate")


class NoModelError(InputError):
    """The sidecar says no model was trained (degenerate label); ``meta`` holds why."""

    def __init__(self, source, meta):
        self.meta = meta
        reason = (meta.get("signal_quality") or {}).get("reason", "no reason recorded")
        super().__init__(source, "field 'checkpoint_path'", f"is null: no model was trained ({reason})")


def create_model(model_type, config=None, device="auto"):
    """An unfitted wrapper of ``model_type`` (config = hyper-parameters, see its DEFAULTS)."""
    return get_wrapper_class(model_type)(config=config, device=device)


def load_model(model_type, path, device="auto"):
    """A fitted wrapper of ``model_type`` read from ``path`` (no sidecar, no checks)."""
    return get_wrapper_class(model_type).load(path, device=device)


def get_model_extension(model_type):
    """Native artifact extension of ``model_type``."""
    return model_extension(model_type)


def sidecar_path(models_dir):
    """The sidecar file of a models directory (or the path itself if it is the sidecar)."""
    p = Path(models_dir)
    return p if p.suffix == ".json" and not p.is_dir() else p / SIDECAR_NAME


def _label_block(y_metadata):
    y_metadata = dict(y_metadata or {})
    return {k: y_metadata[k] for k in _LABEL_KEYS if k in y_metadata}


def _check_schema(feature_schema):
    names = feature_schema.get("feature_names")
    if not names:
        raise ValueError("feature_schema has no feature_names: the schema hash could not be checked")
    expected = schema_hash(names)
    if feature_schema.get("feature_schema_hash") != expected:
        raise ValueError(f"feature_schema_hash {feature_schema.get('feature_schema_hash')!r} "
                         f"does not match its feature_names (expected {expected})")
    if feature_schema.get("feature_count") != len(names):
        raise ValueError(f"feature_count {feature_schema.get('feature_count')} != {len(names)} feature_names")
    return feature_schema_of(names, feature_schema.get("source_file"), feature_schema.get("train_draws"))


def _remove_stale(output_dir, keep=None):
    """Remove artifacts of other model types from an earlier run of the same directory."""
    for model_type in MODEL_TYPES:
        p = output_dir / f"{ARTIFACT_STEM}{model_extension(model_type)}"
        if p.name != keep and p.exists():
            log.info("removing %s, left by an earlier run", p)
            p.unlink()


def _agent_metadata(content_key, lineage=None):
    """Step 5's agent_metadata; ``lineage`` adds the pipeline's fields (parent_run_id, inputs, ...)."""
    return dict(lineage or {}) | {
        "pipeline_step": 5,
        "pipeline_step_name": "anti_overfit_training",
        "agent_name": "reinforcement_agent",
        # Derived from what was trained, so the same model always has the same id.
        "run_id": "step5_" + hashlib.sha256(content_key.encode()).hexdigest()[:12],
    }


def save_model_with_sidecar(model, output_dir, feature_schema, y_metadata, *, validation_metrics=None,
                            training_info=None, training_params=None, test_metrics=None, signal_quality=None,
                            hardware=None, provenance=None, extra=None, lineage=None):
    """Write ``best_model<ext>`` (native format) then ``best_model.meta.json``; returns the sidecar.

    The artifact goes first and the sidecar last (both atomically); an earlier sidecar is
    removed before the artifact is replaced, so no sidecar ever describes another file.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    _check_schema(feature_schema)
    model._check_fitted()
    side = sidecar_path(output_dir)
    if side.exists():
        side.unlink()
    name = f"{ARTIFACT_STEM}{model_extension(model.model_type)}"
    model.save(output_dir / name)
    return write_sidecar(output_dir, model, name, feature_schema, y_metadata, validation_metrics=validation_metrics,
                         training_info=training_info, training_params=training_params, test_metrics=test_metrics,
                         signal_quality=signal_quality, hardware=hardware, provenance=provenance, extra=extra,
                         lineage=lineage)


def write_sidecar(output_dir, model, artifact_name, feature_schema, y_metadata, *, validation_metrics=None,
                  training_info=None, training_params=None, test_metrics=None, signal_quality=None,
                  hardware=None, provenance=None, extra=None, lineage=None):
    """Write ``best_model.meta.json`` for the artifact ``artifact_name`` (already written) of ``model``.

    Records the artifact's sha256 and removes artifacts of other model types left in the folder
    by an earlier run, so the sidecar is the one complete, checked handle on the model.
    """
    output_dir = Path(output_dir)
    schema = _check_schema(feature_schema)
    model._check_fitted()
    if model.n_features_in_ != schema["feature_count"]:
        raise ValueError(f"model has {model.n_features_in_} inputs, feature_schema has {schema['feature_count']}")
    artifact = output_dir / artifact_name
    digest = sha256_file(artifact)
    _remove_stale(output_dir, keep=artifact.name)
    meta = {
        "schema_version": SCHEMA_VERSION,
        "model_type": model.model_type,
        "checkpoint_path": artifact.name,
        "checkpoint_format": checkpoint_format(model.model_type),
        "checkpoint_sha256": digest,
        "checkpoint_bytes": artifact.stat().st_size,
        "feature_schema": schema,
        "y_label_source": _label_block(y_metadata),
        "training_params": training_params or {},
        "validation_metrics": validation_metrics or {},
        "test_metrics": test_metrics or {},
        "training_info": training_info or {"model_type": model.model_type},
        "signal_quality": signal_quality or {},
        "hardware": hardware or {"device_used": getattr(model, "device_", None),
                                 "note": getattr(model, "device_note_", None)},
        "provenance": provenance or {},
        "agent_metadata": _agent_metadata(f"{digest}:{schema['feature_schema_hash']}", lineage),
    }
    meta.update(extra or {})
    write_json(sidecar_path(output_dir), meta)
    return meta


def save_no_model_sidecar(output_dir, feature_schema, y_metadata, signal_quality, *, training_info=None,
                          provenance=None, extra=None, lineage=None):
    """Sidecar of a run that trained no model (degenerate label): ``checkpoint_path`` is null."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    side = sidecar_path(output_dir)
    if side.exists():
        side.unlink()
    _remove_stale(output_dir)
    schema = _check_schema(feature_schema)
    meta = {
        "schema_version": SCHEMA_VERSION,
        "model_type": None,
        "checkpoint_path": None,
        "checkpoint_format": None,
        "checkpoint_sha256": None,
        "feature_schema": schema,
        "y_label_source": _label_block(y_metadata),
        "training_params": {},
        "validation_metrics": {},
        "test_metrics": {},
        "training_info": training_info or {},
        "signal_quality": signal_quality,
        "provenance": provenance or {},
        "agent_metadata": _agent_metadata(f"no-model:{schema['feature_schema_hash']}", lineage),
    }
    meta.update(extra or {})
    write_json(side, meta)
    return meta


def _field(meta, side, key, kinds):
    if key not in meta:
        raise InputError(side, f"field '{key}'", "is missing")
    if not isinstance(meta[key], kinds):
        raise InputError(side, f"field '{key}'", f"value {meta[key]!r} has the wrong type")
    return meta[key]


def read_sidecar(models_dir):
    """The validated sidecar dict (a null checkpoint_path is allowed here; see NoModelError)."""
    side = sidecar_path(models_dir)
    meta = read_json(side, "model sidecar")
    if not isinstance(meta, dict):
        raise InputError(side, "top level", "expected a JSON object")
    version = _field(meta, side, "schema_version", str)
    if version != SCHEMA_VERSION:
        raise InputError(side, "field 'schema_version'", f"value {version!r} is not supported (expected {SCHEMA_VERSION!r})")
    schema = _field(meta, side, "feature_schema", dict)
    names = schema.get("feature_names")
    if not isinstance(names, list) or not names:
        raise InputError(side, "field 'feature_schema.feature_names'", "is missing or empty")
    if schema.get("feature_schema_hash") != schema_hash(names):
        raise InputError(side, "field 'feature_schema.feature_schema_hash'",
                         f"value {schema.get('feature_schema_hash')!r} does not match feature_names ({schema_hash(names)})")
    if meta.get("checkpoint_path") is None:
        return meta
    model_type = _field(meta, side, "model_type", str)
    if model_type not in MODEL_TYPES:
        raise InputError(side, "field 'model_type'", f"value {model_type!r} is not one of {list(MODEL_TYPES)}")
    _field(meta, side, "checkpoint_path", str)
    _field(meta, side, "checkpoint_sha256", str)
    return meta


def _artifact_path(side, meta):
    rel = PurePosixPath(meta["checkpoint_path"])
    if rel.is_absolute() or ".." in rel.parts:
        raise InputError(side, "field 'checkpoint_path'",
                         f"value {meta['checkpoint_path']!r} must be a path relative to the sidecar's folder, inside it")
    return side.parent / Path(*rel.parts)


def check_artifact(side, meta):
    """The sidecar's artifact path after checking that it exists and has the sidecar's sha256."""
    if meta.get("checkpoint_path") is None:
        raise NoModelError(side, meta)
    artifact = _artifact_path(side, meta)
    if not artifact.is_file():
        raise InputError(side, "field 'checkpoint_path'", f"artifact {meta['checkpoint_path']!r} does not exist")
    digest = sha256_file(artifact)
    if digest != meta["checkpoint_sha256"]:
        raise InputError(artifact, "sha256", f"{digest} differs from the sidecar's checkpoint_sha256 "
                         f"{meta['checkpoint_sha256']}: the artifact was changed or replaced after training")
    return artifact


def load_model_from_sidecar(models_dir, device="auto", feature_names=None, meta=None):
    """(model, meta) from a models directory or sidecar path; the type comes from the sidecar only.

    Checks: sidecar schema and fields, a registered model_type, the artifact's existence and
    sha256, that the backend reads it as that type, and its input count. With
    ``feature_names`` (the runtime columns) the schema hash is compared too (M.6). ``meta`` is
    the sidecar as ``read_sidecar`` returned it, for a caller that has already read it.
    """
    side = sidecar_path(models_dir)
    if meta is None:
        meta = read_sidecar(side)
    artifact = check_artifact(side, meta)
    try:
        model = get_wrapper_class(meta["model_type"]).load(artifact, device=device)
    except InputError as exc:
        raise InputError(artifact, "", f"{exc.problem} [model_type {meta['model_type']!r} from {side.name}]") from None
    expected = meta["feature_schema"]
    if model.n_features_in_ != len(expected["feature_names"]):
        raise InputError(artifact, "inputs", f"model has {model.n_features_in_} inputs, the sidecar's "
                         f"feature_schema has {len(expected['feature_names'])}")
    if feature_names is not None:
        validate_feature_schema_hash(expected["feature_schema_hash"], feature_names, expected["feature_names"])
    log.info("loaded %s model %s (sha256 %s)", meta["model_type"], artifact, meta["checkpoint_sha256"][:12])
    return model, meta
