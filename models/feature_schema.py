"""Feature schema (names, order, hash) and the one-pass streaming loader of survivor files.

A survivors file (``survivors_with_scores.json``) is a JSON array of records
``{seed, prng_type, skip, burn, score, features: {name: number}, holdout_quality,
holdout_matches, metadata}``. The model's inputs are the ``features`` only, in
lexicographic order of their names; the schema hash is the first 16 hex digits of the
SHA-256 of the names joined by ',' (the seed's algorithm, M.6), so a model and the data it
is applied to can be checked for the same columns.

Never a feature: the label (``holdout_quality`` by default), its count, the identifiers
(``seed``, ``prng_type``, ``burn``) and every top-level field such as ``score``; should any of
these names also appear inside ``features`` they are dropped and listed in the metadata. The
hypothesis' ``skip`` is the exception: Step 3 exports it as a feature on purpose (how many
outputs each draw skips changes how likely a chance match is).
"""

import hashlib
import logging
import operator
import time
from pathlib import Path

import numpy as np

from seedsift.errors import InputError
from seedsift.jsonio import ArrayReader

log = logging.getLogger(__name__)

ORDERING = "lexicographic_by_key"
DEFAULT_LABEL = "holdout_quality"
ID_FIELDS = ("seed", "prng_type", "skip", "burn")
# Names that never become features even when they appear inside ``features``.
NEVER_FEATURES = ("holdout_quality", "holdout_matches", "seed", "prng_type", "burn")
IDS_DTYPE = np.dtype([("seed", "<u8"), ("skip", "<i8"), ("burn", "<i8"), ("prng", "<i2")])
_NUMBER_TYPES = frozenset((int, float))



class FeatureSchemaMismatch(ValueError):
    """Runtime columns differ from the ones a model was trained on (M.6)."""


def schema_hash(names):
    """First 16 hex digits of SHA-256 of the sorted names joined by ','."""
    return hashlib.sha256(",".join(sorted(names)).encode("utf-8")).hexdigest()[:16]


def feature_schema_of(names, source_file=None, train_draws=None):
    """The sidecar's ``feature_schema`` block for these feature names.

    ``train_draws`` is the number of training draws the features were computed over (None when
    not known): features such as match runs and rates depend on it, so a model is applied only
    to features over the same number of draws (the hash covers the names only, as in the seed).
    """
    names = sorted(names)
    return {
        "source_file": None if source_file is None else str(source_file),
        "feature_count": len(names),
        "feature_names": names,
        "ordering": ORDERING,
        "feature_schema_hash": schema_hash(names),
        "train_draws": None if train_draws is None else int(train_draws),
    }


def validate_feature_schema_hash(expected_hash, runtime_names, expected_names=None):
    """Raise FeatureSchemaMismatch unless ``runtime_names`` hash to ``expected_hash``.

    With ``expected_names`` the message lists the missing and the extra columns.
    """
    runtime_hash = schema_hash(runtime_names)
    if runtime_hash == expected_hash:
        return runtime_hash
    detail = f"expected hash {expected_hash}, data has {runtime_hash}"
    if expected_names is not None:
        missing = sorted(set(expected_names) - set(runtime_names))
        extra = sorted(set(runtime_names) - set(expected_names))
        detail += f"; missing columns {missing}; extra columns {extra}"
    raise FeatureSchemaMismatch(f"Feature schema mismatch - retrain required ({detail})")


def check_model_columns(names, meta):
    """The sidecar's feature names, after checking that the runtime columns ``names`` are exactly them.

    Applies the training rule first (label and identifier names inside ``features`` are never
    inputs), then requires exactly the sidecar's feature names: anything else raises
    FeatureSchemaMismatch listing the missing and extra columns (M.6).
    """
    schema = meta["feature_schema"]
    label = (meta.get("y_label_source") or {}).get("field") or DEFAULT_LABEL
    never = set(excluded_names(label))
    usable = [n for n in names if n not in never]
    validate_feature_schema_hash(schema["feature_schema_hash"], usable, schema["feature_names"])
    return list(schema["feature_names"])


def model_inputs(names, X, meta):
    """The columns of ``X`` (named ``names``) that the model of sidecar ``meta`` takes, in its order
    (checked by check_model_columns)."""
    columns = check_model_columns(names, meta)
    position = {n: i for i, n in enumerate(names)}
    return columns, np.asarray(X)[:, [position[n] for n in columns]]


def excluded_names(label_field=DEFAULT_LABEL, exclude=()):
    """Every name that is never a feature for this label."""
    return tuple(sorted(set(NEVER_FEATURES) | {label_field} | set(exclude)))


def get_feature_schema_from_data(path, label_field=DEFAULT_LABEL, exclude=()):
    """Sorted feature names of the first record of a survivors file (streamed, not loaded)."""
    with ArrayReader(path, "survivors") as reader:
        for index, record in reader:
            feats = _features_of(path, index, record)
            skip = set(excluded_names(label_field, exclude))
            return sorted(k for k in feats if k not in skip)
    raise InputError(path, "", "the survivors array is empty: there is no feature schema")


def get_feature_schema_with_hash(path, label_field=DEFAULT_LABEL, exclude=()):
    """The sidecar's ``feature_schema`` block of a survivors file (M.5/M.6)."""
    return feature_schema_of(get_feature_schema_from_data(path, label_field, exclude), path)


def _features_of(path, index, record):
    if type(record) is not dict:
        raise InputError(path, f"record {index}", f"expected a JSON object, got {type(record).__name__}")
    feats = record.get("features")
    if type(feats) is not dict:
        problem = "is missing" if feats is None else f"must be an object of numbers, got {type(feats).__name__}"
        raise InputError(path, f"record {index}, field 'features'", problem)
    return feats


class SurvivorTable:
    """Survivors in file order: light identifiers plus the float32 feature matrix ``X``.

    Iterating or indexing gives ``{seed, prng_type, skip, burn}`` dicts made on demand, so a
    million survivors cost 26 bytes each instead of a Python dict each.
    """

    def __init__(self, ids, prng_types, X, feature_names):
        self.ids = ids
        self.prng_types = list(prng_types)
        self.X = X
        self.feature_names = list(feature_names)

    def __len__(self):
        return int(self.ids.shape[0])

    def __getitem__(self, i):
        row = self.ids[i]
        return {"seed": int(row["seed"]), "prng_type": self.prng_types[int(row["prng"])],
                "skip": int(row["skip"]), "burn": int(row["burn"])}

    def __iter__(self):
        return (self[i] for i in range(len(self)))


def _bad_number(path, index, field, value):
    return InputError(path, f"record {index}, field '{field}'", f"value {value!r} is not a finite number")


def _check_int(path, index, record, field):
    try:
        value = record[field]
    except KeyError:
        raise InputError(path, f"record {index}, field '{field}'", "is missing") from None
    if type(value) is not int or value < 0:
        raise InputError(path, f"record {index}, field '{field}'", f"value {value!r} is not a non-negative integer")
    return value


def load_quality_from_survivors(path, label_field=DEFAULT_LABEL, exclude=(), max_survivors=None, empty_names=None):
    """Read a survivors file in one streaming pass: (survivors, actual_quality, metadata).

    An empty array is an error unless ``empty_names`` (the feature names the records would have)
    is given: then the result has 0 rows and those columns.

    ``survivors`` is a SurvivorTable (identifiers and the float32 feature matrix ``X``),
    ``actual_quality`` the label as float64 (n,), ``metadata`` the label statistics and
    warnings, the feature schema and the file's sha256. Any bad record (truncated JSON, a
    missing field, a wrong type, a non-finite number, a feature set that differs from the
    first record's) raises InputError naming the file, the record index and the field.
    """
    path = Path(path)
    start = time.perf_counter()
    skip = excluded_names(label_field, exclude)
    # float32 overflow is checked once over the whole matrix after the pass.
    with ArrayReader(path, "survivors") as reader, np.errstate(over="ignore"):
        X, y, ids, n, names, dropped, prng_codes = _parse(path, reader, label_field, set(skip), max_survivors)
        reader.drain()
    if names is None:
        if not empty_names:
            raise InputError(path, "", "the survivors array is empty: nothing to train on")
        names = sorted(n for n in empty_names if n not in set(skip))
        X, y, ids = np.empty((0, len(names)), dtype=np.float32), np.empty(0), np.empty(0, dtype=IDS_DTYPE)
    X = _trim(X, n)
    bad_rows = ~np.isfinite(X).all(axis=1)
    if bad_rows.any():
        row = int(np.argmax(bad_rows))
        col = int(np.argmax(~np.isfinite(X[row])))
        raise InputError(path, f"record {row}, field 'features.{names[col]}'",
                         "value does not fit a finite float32 (|x| > 3.4e38)")
    y = y[:n].copy()
    ids = ids[:n].copy()
    seconds = time.perf_counter() - start
    survivors = SurvivorTable(ids, list(prng_codes), X, names)
    metadata = label_metadata(y, label_field)
    metadata.update({
        "source_file": str(path),
        "source_sha256": reader.sha256,
        "source_bytes": reader.nbytes,
        "n_records": n,
        "excluded_from_features": list(skip),
        "dropped_from_features": dropped,
        "feature_schema": feature_schema_of(names, path),
    })
    for name in dropped:
        metadata["warnings"].append(f"'{name}' was inside 'features' and was dropped: it is a label or an identifier")
    log.info("%s: %d survivors x %d features in %.1f s (%.1f MB/s)", path, n, len(names), seconds,
             reader.nbytes / 1e6 / max(seconds, 1e-9))
    return survivors, y, metadata


def _parse(path, reader, label_field, skip_set, max_survivors):
    """The streaming pass: fill X, y and ids, doubling their capacity when full."""
    cap, n = 1024, 0
    X = y = ids = None
    names, keyset, getter, dropped = None, None, None, []
    prng_codes = {}
    for i, rec in reader:
        if max_survivors is not None and i >= max_survivors:
            break
        feats = _features_of(path, i, rec)
        if names is None:
            names = sorted(k for k in feats if k not in skip_set)
            if not names:
                raise InputError(path, "record 0, field 'features'", "has no usable feature")
            dropped = sorted(k for k in feats if k in skip_set)
            keyset = set(feats)
            getter = operator.itemgetter(*names)
            X = np.empty((cap, len(names)), dtype=np.float32)
            y = np.empty(cap, dtype=np.float64)
            ids = np.empty(cap, dtype=IDS_DTYPE)
        elif feats.keys() != keyset:
            missing = sorted(keyset - set(feats))
            if missing:
                raise InputError(path, f"record {i}, field 'features.{missing[0]}'",
                                 "is missing (every record must have the first record's features)")
            extra = sorted(set(feats) - keyset)
            raise InputError(path, f"record {i}, field 'features.{extra[0]}'",
                             "is not a feature of the first record (every record must have the same features)")
        vals = getter(feats)
        if len(names) == 1:
            vals = (vals,)
        if not set(map(type, vals)) <= _NUMBER_TYPES:
            for name, v in zip(names, vals):
                if type(v) not in _NUMBER_TYPES:
                    raise _bad_number(path, i, f"features.{name}", v)
        try:
            label = rec[label_field]
        except KeyError:
            raise InputError(path, f"record {i}, field '{label_field}'", "is missing (the label)") from None
        if type(label) not in _NUMBER_TYPES or not np.isfinite(label):
            raise _bad_number(path, i, label_field, label)
        prng = rec.get("prng_type")
        if type(prng) is not str or not prng:
            raise InputError(path, f"record {i}, field 'prng_type'",
                             "is missing" if prng is None else f"value {prng!r} is not a non-empty string")
        seed = _check_int(path, i, rec, "seed")
        skip_v = _check_int(path, i, rec, "skip")
        burn = _check_int(path, i, rec, "burn")
        if n == cap:
            cap *= 2
            X = _grow(X, cap)
            y = _grow(y, cap)
            ids = _grow(ids, cap)
        try:
            X[n] = vals
        except OverflowError:
            bad = next(name for name, v in zip(names, vals) if abs(v) > 3.4e38)
            raise _bad_number(path, i, f"features.{bad}", feats[bad]) from None
        y[n] = label
        code = prng_codes.setdefault(prng, len(prng_codes))
        ids[n] = (seed, skip_v, burn, code)
        n += 1
    return X, y, ids, n, names, dropped, prng_codes


def _grow(array, cap):
    out = np.empty((cap,) + array.shape[1:], dtype=array.dtype)
    out[: array.shape[0]] = array
    return out


def _trim(array, n):
    """``array[:n]`` without keeping the spare capacity alive."""
    if array.shape[0] == n:
        return array
    array.resize((n,) + array.shape[1:], refcheck=False)
    return array


def label_metadata(y, label_field=DEFAULT_LABEL):
    """The sidecar's ``y_label_source`` block: what the label looked like, and warnings."""
    y = np.asarray(y, dtype=np.float64)
    warnings = []
    if y.size == 0:
        return {"field": label_field, "n": 0, "observed_min": None, "observed_max": None,
                "observed_range": None, "mean": None, "std": None, "n_distinct": 0, "nonzero_count": 0,
                "normalization_method": "none", "output_range": None, "warnings": ["no labels"]}
    lo, hi = float(y.min()), float(y.max())
    n_distinct = int(np.unique(y).size)
    if n_distinct == 1:
        warnings.append(f"label '{label_field}' is constant ({lo!r}): nothing can be learned from it")
    if lo < 0.0 or hi > 1.0:
        warnings.append(f"label '{label_field}' leaves [0, 1] (observed [{lo}, {hi}])")
    return {
        "field": label_field,
        "n": int(y.size),
        "observed_min": lo,
        "observed_max": hi,
        "observed_range": hi - lo,
        "mean": float(y.mean()),
        "std": float(y.std()),
        "n_distinct": n_distinct,
        "nonzero_count": int(np.count_nonzero(y)),
        # The label is a fraction already; rescaling it would only hide its real spread.
        "normalization_method": "none",
        "output_range": [lo, hi],
        "warnings": warnings,
    }
