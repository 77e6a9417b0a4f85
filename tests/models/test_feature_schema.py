"""Feature schema hash (M.6 test vector), the one-pass streaming loader and the training table."""

import json

import ijson
import numpy as np
import pytest

from models import feature_schema as fs
from seedsift import jsonio
from seedsift.bench.training import ORIGINAL_FEATURES, survivor_records, write_survivors_file
from seedsift.errors import InputError
from seedsift.training.table import open_training_table, write_training_table

# The original system's 50 per-seed feature names (reference section 3.5): 32 computed + 18 copied.
ORIGINAL_50 = [
    "score", "confidence", "exact_matches", "total_predictions", "best_offset",
    "residue_8_match_rate", "residue_8_kl_divergence", "residue_8_coherence",
    "residue_125_match_rate", "residue_125_kl_divergence", "residue_125_coherence",
    "residue_1000_match_rate", "residue_1000_kl_divergence", "residue_1000_coherence",
    "temporal_stability_mean", "temporal_stability_std", "temporal_stability_min", "temporal_stability_max",
    "temporal_stability_trend",
    "pred_mean", "pred_std", "pred_min", "pred_max", "actual_mean", "actual_std",
    "residual_mean", "residual_std", "residual_abs_mean", "residual_max_abs",
    "lane_agreement_8", "lane_agreement_125", "lane_consistency",
    "forward_count", "reverse_count", "bidirectional_count", "intersection_count", "intersection_ratio",
    "survivor_overlap_ratio", "skip_min", "skip_max", "skip_range", "skip_mean", "skip_std", "skip_entropy",
    "bidirectional_selectivity", "survivor_velocity", "velocity_acceleration", "intersection_weight",
    "forward_only_count", "reverse_only_count",
]


def record(i, features, label=0.0, **extra):
    rec = {"seed": i, "prng_type": "java_random", "skip": i % 3, "burn": 0, "score": 0.5,
           "features": features, "holdout_quality": label, "holdout_matches": 0,
           "metadata": {"worker_host": "h", "gpu": None, "timestamp": "t"}}
    rec.update(extra)
    return rec


def write(path, records):
    path.write_text(json.dumps(records))
    return path


def test_original_feature_names_hash_to_the_seed_test_vector(tmp_path):
    assert len(ORIGINAL_50) == len(set(ORIGINAL_50)) == 50
    assert fs.schema_hash(ORIGINAL_50) == "5026d8e9d692e009"
    assert fs.schema_hash([n for n in ORIGINAL_50 if n not in ("score", "confidence")]) == "779dd68f4bf7554a"
    # From a file, whatever the key order inside each record.
    shuffled = list(reversed(ORIGINAL_50))
    path = write(tmp_path / "s.json", [record(0, {n: 0.1 for n in shuffled})])
    schema = fs.get_feature_schema_with_hash(path)
    assert schema["feature_schema_hash"] == "5026d8e9d692e009"
    assert schema["feature_names"] == sorted(ORIGINAL_50)
    assert schema["ordering"] == "lexicographic_by_key" and schema["feature_count"] == 50
    assert sorted(ORIGINAL_FEATURES) == sorted(ORIGINAL_50)


def test_loader_uses_the_c_backend_and_one_streaming_pass(tmp_path, monkeypatch):
    assert ijson.backend == "yajl2_c"
    path = tmp_path / "s.json"
    write_survivors_file(path, 300, seed=1)
    calls = []
    real_items = jsonio.ijson.items
    monkeypatch.setattr(jsonio.ijson, "items", lambda *a, **k: calls.append(1) or real_items(*a, **k))
    monkeypatch.setattr(jsonio.ijson, "parse", lambda *a, **k: pytest.fail("a second pass was made"))
    survivors, y, meta = fs.load_quality_from_survivors(path)
    assert len(calls) == 1
    assert survivors.X.shape == (300, 50) and survivors.X.dtype == np.float32 and y.shape == (300,)
    assert meta["n_records"] == 300 and meta["source_bytes"] == path.stat().st_size


def test_loader_values_ids_and_exclusions(tmp_path):
    recs = survivor_records(2500, seed=3, n_true=2)  # > 1024 rows: the matrix has to grow twice
    path = tmp_path / "s.json"
    path.write_text(json.dumps(recs))
    survivors, y, meta = fs.load_quality_from_survivors(path)
    names = sorted(ORIGINAL_FEATURES)
    assert survivors.feature_names == names
    expected = np.array([[r["features"][n] for n in names] for r in recs], dtype=np.float32)
    np.testing.assert_array_equal(survivors.X, expected)
    np.testing.assert_array_equal(y, [r["holdout_quality"] for r in recs])
    assert [dict(s) for s in survivors][:5] == [
        {k: r[k] for k in ("seed", "prng_type", "skip", "burn")} for r in recs[:5]]
    assert survivors[2499]["seed"] == recs[2499]["seed"]
    # Label, its count, identifiers and the top-level score never become features.
    for leaked in ("holdout_quality", "holdout_matches", "seed", "prng_type", "burn"):
        assert leaked not in survivors.feature_names
    assert meta["field"] == "holdout_quality" and meta["observed_max"] == 1.0 and meta["nonzero_count"] >= 2
    import hashlib
    assert meta["source_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_label_and_identifiers_inside_features_are_dropped_and_reported(tmp_path):
    feats = {"a": 1.0, "b": 2.0, "holdout_quality": 0.7, "seed": 5}
    path = write(tmp_path / "s.json", [record(0, dict(feats), 0.7), record(1, dict(feats, a=3.0), 0.2)])
    survivors, y, meta = fs.load_quality_from_survivors(path)
    assert survivors.feature_names == ["a", "b"]
    assert meta["dropped_from_features"] == ["holdout_quality", "seed"]
    assert any("holdout_quality" in w for w in meta["warnings"])
    # The schema function agrees with the loader.
    assert fs.get_feature_schema_with_hash(path)["feature_names"] == ["a", "b"]


def test_configurable_label_field(tmp_path):
    recs = [record(i, {"a": float(i)}, 0.0, holdout_matches=i) for i in range(4)]
    path = write(tmp_path / "s.json", recs)
    survivors, y, meta = fs.load_quality_from_survivors(path, label_field="holdout_matches")
    np.testing.assert_array_equal(y, [0, 1, 2, 3])
    assert meta["field"] == "holdout_matches" and "holdout_matches" not in survivors.feature_names


GOOD = record(0, {"a": 1.5, "b": 2})
BAD_INPUTS = [
    ("truncated", "[" + json.dumps(GOOD) + "," + json.dumps(GOOD)[:60], "record 1", "truncated"),
    ("missing label", [GOOD, {k: v for k, v in GOOD.items() if k != "holdout_quality"}], "record 1, field 'holdout_quality'", "missing"),
    ("missing feature", [GOOD, dict(GOOD, features={"a": 1.0})], "record 1, field 'features.b'", "missing"),
    ("extra feature", [GOOD, dict(GOOD, features={"a": 1.0, "b": 2, "c": 3})], "record 1, field 'features.c'", "not a feature"),
    ("string feature", [GOOD, dict(GOOD, features={"a": "1.5", "b": 2})], "record 1, field 'features.a'", "not a finite number"),
    ("bool feature", [GOOD, GOOD, dict(GOOD, features={"a": 1.0, "b": True})], "record 2, field 'features.b'", "not a finite number"),
    ("overflowing number", "[" + json.dumps(GOOD) + "," + json.dumps(GOOD).replace('"b": 2', '"b": 1e999') + "]",
     "record 1, field 'features.b'", "not a finite number"),
    ("NaN token", "[" + json.dumps(GOOD).replace('"b": 2', '"b": NaN') + "]", "record 0, field 'features.b'", "invalid"),
    ("float32 overflow", [GOOD, dict(GOOD, features={"a": 1e39, "b": 2})], "record 1, field 'features.a'", "float32"),
    ("label string", [dict(GOOD, holdout_quality="0.5")], "record 0, field 'holdout_quality'", "not a finite number"),
    ("negative seed", [GOOD, dict(GOOD, seed=-3)], "record 1, field 'seed'", "non-negative integer"),
    ("missing prng_type", [{k: v for k, v in GOOD.items() if k != "prng_type"}], "record 0, field 'prng_type'", "missing"),
    ("features not an object", [dict(GOOD, features=[1, 2])], "record 0, field 'features'", "object"),
    ("top level object", {"survivors": [GOOD]}, "top level", "JSON array"),
    ("empty array", [], "", "empty"),
]


@pytest.mark.parametrize("content,where,needle", [b[1:] for b in BAD_INPUTS], ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_names_file_record_and_field(tmp_path, content, where, needle):
    path = tmp_path / "bad.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(InputError) as exc:
        fs.load_quality_from_survivors(path)
    msg = str(exc.value)
    assert msg.startswith(str(path)) and where in msg and needle in msg and "\n" not in msg


def test_schema_mismatch_lists_missing_and_extra_columns():
    fs.validate_feature_schema_hash(fs.schema_hash(["a", "b"]), ["b", "a"])
    with pytest.raises(fs.FeatureSchemaMismatch, match=r"retrain required.*missing columns \['b'\].*extra columns \['c'\]"):
        fs.validate_feature_schema_hash(fs.schema_hash(["a", "b"]), ["a", "c"], ["a", "b"])


def test_training_table_round_trip_is_memory_mapped(tmp_path):
    path = tmp_path / "s.json"
    recs = survivor_records(120, seed=5)
    path.write_text(json.dumps(recs))
    table = write_training_table(path, tmp_path / "table")
    opened = open_training_table(tmp_path / "table", verify=True)
    assert isinstance(opened.X, np.memmap) and opened.X.shape == (120, 50)
    assert table["feature_schema_hash"] == fs.schema_hash(ORIGINAL_FEATURES) == opened.meta["feature_schema_hash"]
    np.testing.assert_array_equal(opened.y, [r["holdout_quality"] for r in recs])
    assert opened.identifiers([0, 119]) == [{k: recs[i][k] for k in ("seed", "prng_type", "skip", "burn")} for i in (0, 119)]
    # A modified array is detected.
    np.save(tmp_path / "table" / "y.npy", np.zeros(120))
    with pytest.raises(InputError, match="sha256"):
        open_training_table(tmp_path / "table", verify=True)


def test_model_inputs_apply_the_training_rule_and_the_schema_order():
    meta = {"feature_schema": fs.feature_schema_of(["a", "b"]), "y_label_source": {"field": "holdout_quality"}}
    names = ["seed", "b", "holdout_matches", "a"]
    X = np.array([[2, 20, 5, 10], [3, 30, 6, 11]], dtype=np.float32)
    cols, Xm = fs.model_inputs(names, X, meta)
    assert cols == ["a", "b"] and Xm.tolist() == [[10, 20], [11, 30]]
    with pytest.raises(fs.FeatureSchemaMismatch, match=r"missing columns \['b'\].*extra columns \['c'\]"):
        fs.model_inputs(["a", "c"], X[:, :2], meta)
