"""The compact binary training table that every trial job memory-maps.

``survivors_with_scores.json`` can be close to a gigabyte; parsing it once per fold job
would dominate the training time. ``write_training_table`` parses it once (one streaming
pass) into a folder:

    X.npy       float32 (n, d) features, columns in lexicographic name order
    y.npy       float64 (n,) label
    ids.npy     structured (n,) seed/skip/burn/prng (prng indexes table.json's prng_types)
    table.json  feature names and schema hash, label metadata, n, d, the source file's
                sha256, prng_types, the history the features and the label were computed
                over (training and holdout draws, chance rate), and the sha256 of each .npy
                file; written last

An empty survivors file gives a table of 0 rows when the feature names are known (Step 3's
summary names them): every later step then says that no model could be trained.

All arrays are plain ``.npy`` files read with ``allow_pickle=False``.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.feature_schema import (
    DEFAULT_LABEL,
    IDS_DTYPE,
    feature_schema_of,
    label_metadata,
    load_quality_from_survivors,
)
from seedsift.errors import InputError
from seedsift.jsonio import atomic_open, read_json, sha256_file, write_json

TABLE_FORMAT = "seedsift.training_table/1"
TABLE_JSON = "table.json"
ARRAYS = ("X.npy", "y.npy", "ids.npy")


def table_dir(table_json):
    """The table folder of a ``table.json`` path (the rules name the file, the library the folder)."""
    table_json = Path(table_json)
    if table_json.name != TABLE_JSON:
        raise InputError(table_json, "", f"a training table is named by its {TABLE_JSON}")
    return table_json.parent


def _save_npy(path, array):
    with atomic_open(path, "wb") as fh:
        np.save(fh, array, allow_pickle=False)


def history_of(scoring_summary):
    """The table's ``history`` block from Step 3's scoring_summary.json content (None without one)."""
    if not scoring_summary:
        return None
    return {"train_draws": scoring_summary.get("n_train"), "holdout_draws": scoring_summary.get("n_holdout"),
            "chance_rate": scoring_summary.get("chance_holdout_quality")}


def write_training_table(survivors_path, out_dir, label_field=DEFAULT_LABEL, lineage=None, scoring_summary=None):
    """Parse ``survivors_path`` once and write the table folder; returns table.json's content.

    ``lineage`` (an agent_metadata dict) is stored in table.json with the written files as outputs.
    ``scoring_summary`` (Step 3's summary) gives the history the features and the label were
    computed over and, for an empty survivors file, the feature names.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stale = out_dir / TABLE_JSON
    if stale.exists():
        stale.unlink()
    history = history_of(scoring_summary)
    survivors, y, meta = load_quality_from_survivors(
        survivors_path, label_field=label_field, empty_names=(scoring_summary or {}).get("feature_names"))
    if history is not None:
        meta.update(n_holdout=history["holdout_draws"], chance_rate=history["chance_rate"])
    arrays = {"X.npy": survivors.X, "y.npy": y, "ids.npy": survivors.ids}
    for name, array in arrays.items():
        _save_npy(out_dir / name, array)
    schema = meta.pop("feature_schema")
    table = {
        "format": TABLE_FORMAT,
        "n": len(survivors),
        "d": len(survivors.feature_names),
        "feature_names": schema["feature_names"],
        "feature_schema_hash": schema["feature_schema_hash"],
        "feature_schema": schema,
        "label": meta,
        "source_file": meta["source_file"],
        "source_sha256": meta["source_sha256"],
        "prng_types": survivors.prng_types,
        "history": history,
        "files": {name: sha256_file(out_dir / name) for name in arrays},
    }
    if lineage is not None:
        table["agent_metadata"] = dict(lineage, outputs=[str(out_dir / n) for n in (*arrays, TABLE_JSON)])
    write_json(out_dir / TABLE_JSON, table)
    return table


def write_array_table(out_dir, X, y, feature_names, label_field=DEFAULT_LABEL):
    """A table folder from in-memory arrays (tests and benchmarks; the pipeline parses a file)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    order = np.argsort(feature_names)
    names = [feature_names[i] for i in order]
    arrays = {
        "X.npy": np.ascontiguousarray(np.asarray(X, dtype=np.float32)[:, order]),
        "y.npy": np.asarray(y, dtype=np.float64),
        "ids.npy": np.zeros(len(y), dtype=IDS_DTYPE),
    }
    arrays["ids.npy"]["seed"] = np.arange(len(y))
    for name, array in arrays.items():
        _save_npy(out_dir / name, array)
    schema = feature_schema_of(names, "arrays")
    label = label_metadata(arrays["y.npy"], label_field)
    label["source_sha256"] = None
    write_json(out_dir / TABLE_JSON, {
        "format": TABLE_FORMAT, "n": int(len(y)), "d": len(names), "feature_names": schema["feature_names"],
        "feature_schema_hash": schema["feature_schema_hash"], "feature_schema": schema, "label": label,
        "source_file": "arrays", "source_sha256": None, "prng_types": ["none"],
        "files": {name: sha256_file(out_dir / name) for name in arrays},
    })
    return out_dir


@dataclass
class TrainingTable:
    """An opened table: ``X`` is memory-mapped (read-only), ``y`` and ``ids`` are in memory."""

    X: np.ndarray
    y: np.ndarray
    ids: np.ndarray
    meta: dict
    path: Path

    @property
    def feature_names(self):
        return self.meta["feature_names"]

    def identifiers(self, rows):
        """[{seed, prng_type, skip, burn}] of the given row indices."""
        kinds = self.meta["prng_types"]
        return [{"seed": int(r["seed"]), "prng_type": kinds[int(r["prng"])], "skip": int(r["skip"]),
                 "burn": int(r["burn"])} for r in self.ids[rows]]


def open_training_table(out_dir, verify=False):
    """Open a table folder; shapes are always checked, file hashes only with ``verify``."""
    out_dir = Path(out_dir)
    meta = read_json(out_dir / TABLE_JSON, "training table")
    if not isinstance(meta, dict) or meta.get("format") != TABLE_FORMAT:
        raise InputError(out_dir / TABLE_JSON, "field 'format'", f"expected {TABLE_FORMAT!r}")
    arrays = {}
    for name in ARRAYS:
        path = out_dir / name
        if verify and sha256_file(path) != meta["files"][name]:
            raise InputError(path, "sha256", "differs from table.json: the table was modified after it was written")
        try:
            arrays[name] = np.load(path, mmap_mode="r" if name == "X.npy" else None, allow_pickle=False)
        except FileNotFoundError:
            raise InputError(path, "", "training table array does not exist") from None
        except ValueError as exc:
            raise InputError(path, "", f"not a plain .npy array ({exc})") from None
    X, y, ids = arrays["X.npy"], arrays["y.npy"], arrays["ids.npy"]
    n, d = meta["n"], meta["d"]
    if X.shape != (n, d) or X.dtype != np.float32:
        raise InputError(out_dir / "X.npy", "shape", f"{X.shape} {X.dtype}, table.json says ({n}, {d}) float32")
    if y.shape != (n,):
        raise InputError(out_dir / "y.npy", "shape", f"{y.shape}, table.json says ({n},)")
    if ids.shape != (n,) or ids.dtype != IDS_DTYPE:
        raise InputError(out_dir / "ids.npy", "shape", f"{ids.shape} {ids.dtype}, expected ({n},) {IDS_DTYPE}")
    return TrainingTable(X=X, y=y, ids=ids, meta=meta, path=out_dir)
