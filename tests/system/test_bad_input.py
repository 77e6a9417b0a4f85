"""Bad input through the command-line scripts: exit status 2, one line naming the file, the field
or position and the problem, no traceback, and no output file left behind.

Each case calls ``cli.run(script.main, argv)``, the same entry point a job uses, and captures
stderr at the file-descriptor level, so output written by a native library counts too.

Bad-input cases in the suite (one parametrized id = one case), 124 in all:
  tests/test_draws.py        19  draw files: 18 bad formats and values, a missing file
  tests/test_config.py       18  configs: 16 bad keys, types, bounds and ranges; a bad draw file
                                 named in the config; one snakemake run stopped by a bad config
  tests/test_scoring.py       8  survivor files at partition (5); truncated or unsorted scored chunks (3)
  tests/test_prediction.py    3  sidecar naming the wrong type, schema mismatch, sha256 mismatch (library)
  tests/test_faults.py        1  truncated sieve shard
  this file                  75  sidecars 13 (prediction_generator.py); model artifacts 15 (all four
                                 types); survivor files 27 (partition_survivors.py 11 + 1 missing,
                                 prediction_generator.py 14 + 1 missing); history parts 20
                                 (score_chunk.py 10, sieve_shard.py 10)
"""

import json
import shutil

import numpy as np
import pytest

from models import create_model
from models.feature_schema import feature_schema_of
from models.model_factory import save_model_with_sidecar
from models.wrappers import MODEL_TYPES
from seedsift import cli
from seedsift.data import synthetic
from seedsift.jsonio import sha256_file, write_json_array
from seedsift.scoring.chunks import score_records
from seedsift.sieve import search

from scripts_loader import load_script

MOD = 1000
RESIDUES = [8, 125, 1000]
# Tiny models: the cases below test loading, not learning.
TINY = {
    "xgboost": {"n_estimators": 5, "max_depth": 2},
    "lightgbm": {"n_estimators": 5, "num_leaves": 4, "min_child_samples": 5},
    "catboost": {"n_estimators": 5, "depth": 2},
    "neural_net": {"hidden_layers": [8], "epochs": 3, "batch_size": 64},
}
SCRIPTS = {}


def script(name):
    if name not in SCRIPTS:
        SCRIPTS[name] = load_script(name)
    return SCRIPTS[name]


@pytest.fixture(autouse=True)
def no_gpu_assigned(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("HIP_VISIBLE_DEVICES", raising=False)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """Good inputs: history parts, sieve survivors, scored survivors and one model per type."""
    root = tmp_path_factory.mktemp("good")
    draws, _ = synthetic.generate("pcg32", 4321, 1, 0, 200, MOD, 0.0, 1)
    train, holdout = draws[:150], draws[150:190]
    (root / "train.json").write_text(json.dumps(train))
    (root / "holdout.json").write_text(json.dumps(holdout))
    spec = search.SieveSpec("pcg32", tuple(train), MOD, 0, 2, 0, 1, 4, 0.25)
    records, _ = search.sieve_range(spec, 0, 1 << 14)
    write_json_array(root / "forward_survivors.json", records)
    scored = score_records(records, train, holdout, MOD, RESIDUES)
    write_json_array(root / "survivors_with_scores.json", scored)
    names = sorted(scored[0]["features"])
    X = np.array([[r["features"][n] for n in names] for r in scored])
    y = np.array([r["holdout_quality"] for r in scored])
    for model_type in MODEL_TYPES:
        model = create_model(model_type, TINY[model_type]).fit(X, y)
        save_model_with_sidecar(model, root / model_type, feature_schema_of(names), {"field": "holdout_quality"},
                                signal_quality={"signal_status": "weak", "prediction_allowed": True})
    return root


def run(capfd, name, argv):
    """(exit status, non-empty stderr lines) of one script call."""
    capfd.readouterr()
    code = cli.run(script(name).main, [str(a) for a in argv])
    return code, [ln for ln in capfd.readouterr().err.splitlines() if ln.strip()]


def assert_one_line(code, lines, path, *needles):
    assert code == cli.EXIT_INPUT, (code, lines)
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.startswith("seedsift: error: "), line
    assert str(path) in line, (str(path), line)
    for needle in needles:
        assert needle in line, (needle, line)


def assert_nothing_written(out):
    """No output, and no temp file beside it that could pass for one."""
    assert not out.exists()
    assert not [p.name for p in out.parent.glob("*") if out.name in p.name]


def copy_models(base, tmp_path, model_type="xgboost"):
    dst = tmp_path / f"models_{model_type}"
    shutil.copytree(base / model_type, dst)
    return dst, dst / "best_model.meta.json"


def edit_json(path, change):
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def predict(capfd, base, tmp_path, models_dir, survivors=None):
    out = tmp_path / "out" / "predictions.json"
    code, lines = run(capfd, "prediction_generator", [
        "--models-dir", models_dir, "--survivors-forward", survivors or base / "survivors_with_scores.json",
        "--train", base / "train.json", "--holdout", base / "holdout.json", "--output", out])
    return code, lines, out


def test_good_inputs_pass(capfd, base, tmp_path):
    """The cases below fail because of what they break, not because the good inputs are bad."""
    for model_type in MODEL_TYPES:
        code, lines, out = predict(capfd, base, tmp_path / model_type, base / model_type)
        assert code == 0 and out.exists(), lines
    out = tmp_path / "chunk_0.json"
    code, lines = run(capfd, "partition_survivors", ["--survivors", base / "forward_survivors.json", "--chunks", out])
    assert code == 0 and out.exists(), lines


# -- sidecars (prediction_generator.py) ----------------------------------------------------------
def _artifact(doc):
    return doc["checkpoint_path"]


SIDECARS = {
    "missing": (lambda side: side.unlink(), "SIDE", ["model sidecar does not exist"]),
    "invalid_json": (lambda side: side.write_text('{"schema_version": "3.1.2",'), "SIDE", ["line 1", "invalid JSON"]),
    "not_an_object": (lambda side: side.write_text("[]"), "SIDE", ["top level", "JSON object"]),
    "unknown_model_type": (lambda side: edit_json(side, lambda d: d.update(model_type="random_forest")),
                           "SIDE", ["field 'model_type'", "'random_forest'", "not one of"]),
    "model_type_not_a_string": (lambda side: edit_json(side, lambda d: d.update(model_type=7)),
                                "SIDE", ["field 'model_type'", "wrong type"]),
    "missing_checkpoint": (lambda side: (side.parent / json.loads(side.read_text())["checkpoint_path"]).unlink(),
                           "SIDE", ["field 'checkpoint_path'", "does not exist"]),
    "checkpoint_outside_folder": (lambda side: edit_json(side, lambda d: d.update(checkpoint_path="../best_model.json")),
                                  "SIDE", ["field 'checkpoint_path'", "inside it"]),
    "missing_sha256_field": (lambda side: edit_json(side, lambda d: d.pop("checkpoint_sha256")),
                             "SIDE", ["field 'checkpoint_sha256'", "missing"]),
    "sha256_mismatch": (lambda side: edit_json(side, lambda d: d.update(checkpoint_sha256="0" * 64)),
                        "ARTIFACT", ["sha256", "differs from the sidecar's checkpoint_sha256"]),
    "schema_hash_mismatch": (lambda side: edit_json(side, lambda d: d["feature_schema"].update(feature_schema_hash="f" * 16)),
                             "SIDE", ["field 'feature_schema.feature_schema_hash'", "does not match feature_names"]),
    "wrong_schema_version": (lambda side: edit_json(side, lambda d: d.update(schema_version="2.0")),
                             "SIDE", ["field 'schema_version'", "'2.0'", "not supported"]),
    # The sha256 matches (the artifact is untouched), but the sidecar names another type.
    "wrong_model_type": (lambda side: edit_json(side, lambda d: d.update(model_type="catboost")),
                         "ARTIFACT", ["not a readable catboost model", "model_type 'catboost'"]),
}


@pytest.mark.parametrize("case", sorted(SIDECARS))
def test_bad_sidecar(capfd, base, tmp_path, case):
    change, named, needles = SIDECARS[case]
    models_dir, side = copy_models(base, tmp_path)
    artifact = models_dir / json.loads(side.read_text())["checkpoint_path"]
    change(side)
    code, lines, out = predict(capfd, base, tmp_path, models_dir)
    assert_one_line(code, lines, side if named == "SIDE" else artifact, *needles)
    assert_nothing_written(out)


def test_features_that_differ_from_the_sidecar_schema(capfd, base, tmp_path):
    """M.6: the runtime schema is compared with the sidecar's; the line lists both columns."""
    records = json.loads((base / "survivors_with_scores.json").read_text())
    for r in records:
        r["features"]["extra_column"] = r["features"].pop("skip")
    bad = tmp_path / "survivors.json"
    write_json_array(bad, records)
    code, lines, out = predict(capfd, base, tmp_path, base / "xgboost", bad)
    assert_one_line(code, lines, base / "xgboost" / "best_model.meta.json",
                    "Feature schema mismatch - retrain required", "skip", "extra_column")
    assert_nothing_written(out)


# -- corrupt model artifacts: the sidecar's sha256 is made to match, so loading is what fails -----
def _truncate(data):
    return data[: len(data) // 2]


def _garble_head(data):
    return bytes(b ^ 0x5A for b in data[:16]) + data[16:]


def _garble_middle(data):
    mid = len(data) // 3
    return data[:mid] + bytes(b ^ 0x5A for b in data[mid:mid + 64]) + data[mid + 64:]


CORRUPTIONS = {"truncated": _truncate, "garbled_head": _garble_head, "empty": lambda data: b""}
# Damage inside the body is caught where the format can catch it: LightGBM's text has a number
# in every token, a torch checkpoint is a zip with a CRC per member. (A CatBoost or XGBoost file
# can hold changed numbers that still parse; only the sidecar's sha256 catches those.)
ARTIFACT_CASES = [(t, c) for t in MODEL_TYPES for c in CORRUPTIONS] + [
    ("lightgbm", "garbled_middle"), ("neural_net", "garbled_middle")]


@pytest.mark.parametrize("model_type,corruption", ARTIFACT_CASES, ids=[f"{t}-{c}" for t, c in ARTIFACT_CASES])
def test_corrupt_model_artifact(capfd, base, tmp_path, model_type, corruption):
    models_dir, side = copy_models(base, tmp_path, model_type)
    artifact = models_dir / json.loads(side.read_text())["checkpoint_path"]
    damage = CORRUPTIONS.get(corruption, _garble_middle)
    artifact.write_bytes(damage(artifact.read_bytes()))
    edit_json(side, lambda d: d.update(checkpoint_sha256=sha256_file(artifact)))
    code, lines, out = predict(capfd, base, tmp_path, models_dir)
    assert_one_line(code, lines, artifact, f"not a readable {model_type} model", f"model_type '{model_type}'")
    assert_nothing_written(out)


# -- survivor files (partition_survivors.py and prediction_generator.py) --------------------------
def _records(base, name):
    return json.loads((base / name).read_text())


def _with(rec, **change):
    out = dict(rec)
    for key, value in change.items():
        if value is None:
            out.pop(key)
        else:
            out[key] = value
    return out


SURVIVOR_CASES = {
    # name: (make the file's text from the good records, where, problem)
    "truncated_json": (lambda recs: json.dumps(recs)[: len(json.dumps(recs)) // 2], "record", "truncated JSON"),
    "missing_field": (lambda recs: json.dumps([recs[0], _with(recs[1], skip=None)]), "record 1 field 'skip'", "missing"),
    "seed_is_a_string": (lambda recs: json.dumps([_with(recs[0], seed=str(recs[0]["seed"]))]),
                         "record 0 field 'seed'", "is not int"),
    "skip_is_a_float": (lambda recs: json.dumps([recs[0], recs[1], _with(recs[2], skip=1.5)]),
                        "record 2 field 'skip'", "is not int"),
    "seed_above_32_bits": (lambda recs: json.dumps([_with(recs[0], seed=1 << 32)]), "record 0 field 'seed'",
                           "outside the seed space [0, 4294967296)"),
    "unknown_prng_type": (lambda recs: json.dumps([recs[0], _with(recs[1], prng_type="lcg_mystery")]),
                          "record 1 field 'prng_type'", "'lcg_mystery'"),
    "duplicate_hypothesis": (lambda recs: json.dumps(recs[:3] + [recs[1]]), "record 3", "duplicate hypothesis"),
    "empty_file": (lambda recs: "", "", "empty"),
    "top_level_object": (lambda recs: json.dumps({"survivors": recs}), "top level", "expected a JSON array"),
    "record_not_an_object": (lambda recs: json.dumps([recs[0], 5]), "record 1", "expected an object"),
}
PARTITION_ONLY = {
    "rate_out_of_range": (lambda recs: json.dumps([_with(recs[0], forward_match_rate=1.5)]),
                          "record 0 field 'forward_match_rate'", "not a rate in [0, 1]"),
}
PREDICTION_ONLY = {
    "features_not_an_object": (lambda recs: json.dumps([_with(recs[0], features=[1, 2])]),
                               "record 0 field 'features'", "is not an object"),
    "features_differ_between_records": (
        lambda recs: json.dumps([recs[0], _with(recs[1], features={"a": 1.0})]),
        "record 1 field 'features'", "different feature names"),
    "feature_not_a_number": (
        lambda recs: json.dumps([recs[0], _with(recs[1], features=dict(recs[1]["features"], skip="one"))]),
        "record 1 field 'features'", "'skip'"),
    "features_in_some_records_only": (lambda recs: json.dumps([recs[0], _with(recs[1], features=None)]),
                                      "field 'features'", "missing in others"),
}


def _partition(capfd, base, tmp_path, text):
    src = tmp_path / "survivors.json"
    src.write_text(text)
    chunks = [tmp_path / "chunks" / f"chunk_{i}.json" for i in range(2)]
    code, lines = run(capfd, "partition_survivors", ["--survivors", src, "--chunks", *chunks])
    return src, code, lines, chunks


@pytest.mark.parametrize("case", sorted(SURVIVOR_CASES) + sorted(PARTITION_ONLY))
def test_bad_survivors_at_partition(capfd, base, tmp_path, case):
    make, where, problem = {**SURVIVOR_CASES, **PARTITION_ONLY}[case]
    src, code, lines, chunks = _partition(capfd, base, tmp_path, make(_records(base, "forward_survivors.json")))
    assert_one_line(code, lines, src, where, problem)
    for chunk in chunks:
        assert_nothing_written(chunk)


@pytest.mark.parametrize("case", sorted(SURVIVOR_CASES) + sorted(PREDICTION_ONLY))
def test_bad_survivors_at_prediction(capfd, base, tmp_path, case):
    make, where, problem = {**SURVIVOR_CASES, **PREDICTION_ONLY}[case]
    src = tmp_path / "survivors_with_scores.json"
    src.write_text(make(_records(base, "survivors_with_scores.json")))
    code, lines, out = predict(capfd, base, tmp_path, base / "xgboost", src)
    assert_one_line(code, lines, src, where, problem)
    assert_nothing_written(out)


@pytest.mark.parametrize("name", ["partition_survivors", "prediction_generator"])
def test_missing_survivors_file(capfd, base, tmp_path, name):
    src = tmp_path / "nowhere" / "survivors.json"
    if name == "partition_survivors":
        out = tmp_path / "chunk_0.json"
        code, lines = run(capfd, name, ["--survivors", src, "--chunks", out])
    else:
        code, lines, out = predict(capfd, base, tmp_path, base / "xgboost", src)
    assert_one_line(code, lines, src, "does not exist")
    assert_nothing_written(out)


# -- history parts (score_chunk.py, sieve_shard.py) -----------------------------------------------
HISTORY_CASES = {
    "string": ("[1, 2, \"3\", 4]", "index 2", "'3' is not an integer draw in [0, 1000)"),
    "float": ("[1, 2.5, 3]", "index 1", "2.5 is not an integer draw"),
    "boolean": ("[1, true, 3]", "index 1", "True is not an integer draw"),
    "negative": ("[1, 2, -3]", "index 2", "-3 is not an integer draw"),
    "not_below_mod": ("[999, 1000]", "index 1", "1000 is not an integer draw in [0, 1000)"),
    "nan": ("[1, NaN]", "line 1", "invalid JSON"),
    "object": ("{\"draws\": [1, 2]}", "top level", "expected a JSON array of draws"),
    "truncated": ("[1, 2, 3", "line 1", "invalid JSON"),
    "empty": ("", "", "draw history is empty"),
}


def _score_chunk(capfd, base, tmp_path, part, text):
    paths = {"train": base / "train.json", "holdout": base / "holdout.json"}
    paths[part] = tmp_path / f"{part}.json"
    paths[part].write_text(text)
    chunk = tmp_path / "chunk.json"
    write_json_array(chunk, _records(base, "forward_survivors.json")[:20])
    out = tmp_path / "scored" / "chunk_0.json"
    code, lines = run(capfd, "score_chunk", [
        "--chunk", chunk, "--train", paths["train"], "--holdout", paths["holdout"], "--output", out,
        "--params", json.dumps({"mod": MOD, "scoring": {"residue_mods": RESIDUES}})])
    return paths[part], code, lines, out


SCORE_CHUNK_CASES = [("train", c) for c in ("string", "not_below_mod", "object", "empty", "nan")] + [
    ("holdout", c) for c in ("boolean", "float", "truncated")]


@pytest.mark.parametrize("part,case", SCORE_CHUNK_CASES, ids=[f"{p}-{c}" for p, c in SCORE_CHUNK_CASES])
def test_bad_history_part_at_score_chunk(capfd, base, tmp_path, part, case):
    text, where, problem = HISTORY_CASES[case]
    path, code, lines, out = _score_chunk(capfd, base, tmp_path, part, text)
    assert_one_line(code, lines, path, where, problem)
    assert_nothing_written(out)


def _sieve_params(**sieve_changes):
    sv = {"seed_start": 0, "seed_end": 1 << 12, "shards": 1, "skip_min": 0, "skip_max": 1, "burn": 0,
          "window_start": 1, "window": 4, "threshold": 0.25}
    sv.update(sieve_changes)
    return json.dumps({"mod": MOD, "sieve": sv})


def _sieve_shard(capfd, tmp_path, train_text, params=None):
    train = tmp_path / "train_history.json"
    train.write_text(train_text)
    out = tmp_path / "sieve" / "pcg32" / "shard_0.json"
    code, lines = run(capfd, "sieve_shard", ["--train", train, "--prng", "pcg32", "--shard", "0",
                                             "--params", params or _sieve_params(), "--output", out])
    return train, code, lines, out


@pytest.mark.parametrize("case", ["float", "boolean", "negative", "not_below_mod", "nan", "object", "truncated",
                                  "empty"])
def test_bad_history_part_at_sieve_shard(capfd, tmp_path, case):
    text, where, problem = HISTORY_CASES[case]
    train, code, lines, out = _sieve_shard(capfd, tmp_path, text)
    assert_one_line(code, lines, train, where, problem)
    assert_nothing_written(out)


def test_missing_history_part(capfd, base, tmp_path):
    missing = tmp_path / "no" / "train_history.json"
    out = tmp_path / "scored.json"
    code, lines = run(capfd, "score_chunk", [
        "--chunk", base / "forward_survivors.json", "--train", missing, "--holdout", base / "holdout.json",
        "--output", out, "--params", json.dumps({"mod": MOD, "scoring": {"residue_mods": RESIDUES}})])
    assert_one_line(code, lines, missing, "draw history does not exist")
    assert_nothing_written(out)


@pytest.mark.parametrize("n_draws", [0, 6])
def test_history_part_too_short_for_the_sieve_windows(capfd, tmp_path, n_draws):
    """window_start 1 + two windows of 4 need 9 training draws; fewer must not wrap around."""
    train, code, lines, out = _sieve_shard(capfd, tmp_path, json.dumps(list(range(n_draws))))
    assert_one_line(code, lines, train, f"{n_draws} draws", "9")
    assert_nothing_written(out)


def test_empty_train_part_at_score_chunk(capfd, base, tmp_path):
    path, code, lines, out = _score_chunk(capfd, base, tmp_path, "train", "[]")
    assert_one_line(code, lines, path, "0 draws", "to compute features")
    assert_nothing_written(out)


def test_lightgbm_file_missing_a_whole_tree(capfd, base, tmp_path):
    """LightGBM itself aborts the process on this file (and without tree_sizes it would load the
    remaining trees and predict with them, silently)."""
    models_dir, side = copy_models(base, tmp_path, "lightgbm")
    artifact = models_dir / json.loads(side.read_text())["checkpoint_path"]
    text = artifact.read_text()
    last = text.rindex("\nTree=") + 1
    artifact.write_text(text[:last] + text[text.index("end of trees", last):])
    edit_json(side, lambda d: d.update(checkpoint_sha256=sha256_file(artifact)))
    code, lines, out = predict(capfd, base, tmp_path, models_dir)
    assert_one_line(code, lines, artifact, "not a readable lightgbm model", "Tree=")
    assert_nothing_written(out)


def test_a_multi_line_message_is_printed_as_one_line(capsys):
    from seedsift.errors import InputError

    def main(argv):
        raise InputError("x.json", "record 3", "backend said:\nparse error\n   ^ here")

    assert cli.run(main, []) == cli.EXIT_INPUT
    assert capsys.readouterr().err.strip() == "seedsift: error: x.json: record 3: backend said: parse error ^ here"
