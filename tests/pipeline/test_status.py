"""make status: per step done / missing / stale from snakemake --summary, metrics, criteria, bounds."""

import importlib.util
import json

import pytest

from seedsift.pipeline import status

from conftest import REPO, TINY_CONFIG, deep_update, snakemake

# One model type keeps the run short; the status does not depend on which types are trained.
CONFIG = deep_update(TINY_CONFIG, {"training": {"model_types": ["xgboost"]}})


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    work = tmp_path_factory.mktemp("status")
    snakemake(work, "--cores", "2", config=CONFIG)
    return work


def args(work):
    return ["-s", str(REPO / "Snakefile"), "-d", str(work), "--configfile", str(work / "test_config.yaml")]


def script():
    spec = importlib.util.spec_from_file_location("status_script", REPO / "scripts" / "status.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def by_name(result):
    return {s["name"]: s for s in result["steps"]}


def test_a_finished_run_is_done_with_its_metrics(run):
    result = status.collect(args(run))
    steps = by_name(result)
    assert [s["pipeline_step"] for s in result["steps"]] == sorted(s["pipeline_step"] for s in result["steps"])
    assert {s["state"] for s in result["steps"]} == {"done"}, [(s["name"], s["state"]) for s in result["steps"]]
    assert result["config_error"] is None
    sieve = json.loads((run / "results/sieve/sieve_summary.json").read_text())
    assert steps["sieve"]["metrics"]["forward_survivors"] == sieve["forward_survivors"]
    assert steps["sieve"]["metrics"]["expected_false_forward"] == sieve["expected_false_forward"]
    assert steps["scoring"]["metrics"]["scored_survivors"] >= 1
    assert steps["training"]["metrics"]["chosen"] == "xgboost"
    assert steps["evaluation"]["metrics"]["verdict"] in {"signal", "no signal", "insufficient data"}
    for name in ("data", "sieve", "scoring", "training_plan", "training",
                 "prediction", "evaluation"):
        assert isinstance(steps[name]["success_criteria_met"], bool), name
    assert steps["summary"]["success_metrics"] == {}


def test_parameters_carry_bounds_defaults_and_the_run_values(run):
    steps = by_name(status.collect(args(run)))
    params = {p["key"]: p for p in steps["sieve"]["parameters"]}
    window = params["sieve.window"]
    assert window["value"] == 4 and window["default"] == 4 and window["allowed"] == "an integer in [1, 4096]"
    assert window["bounds"] == {"min": 1, "max": 4096}
    assert params["sieve.prngs"]["value"] == ["xorshift32", "pcg32"]
    training = {p["key"]: p for p in steps["training"]["parameters"]}
    assert training["training.model_types"]["value"] == ["xgboost"]
    assert "training.xgboost.max_depth" not in training  # search-space ranges are counted, not listed
    assert steps["training"]["search_space_parameters"] > 10


def test_text_and_json_from_the_script(run, capsys):
    assert script().main(["--"] + args(run)) == 0
    text = capsys.readouterr().out
    assert "Step 2 sieve" in text and "done" in text and "sieve.window = 4; an integer in [1, 4096]" in text
    assert "survivors: forward" in text and "(chance" in text
    assert script().main(["--json", "--"] + args(run)) == 0
    doc = json.loads(capsys.readouterr().out)
    n_steps = sum(len(status.manifests.steps(m)) for m in status.manifests.load_all().values())
    assert doc["format"] == status.FORMAT and len(doc["steps"]) == n_steps == 9


def test_a_deleted_output_is_missing_and_what_follows_is_stale(run):
    (run / "results/prediction/predictions.json").unlink()
    steps = by_name(status.collect(args(run)))
    assert steps["prediction"]["state"] == "missing"
    assert steps["prediction"]["missing"] == ["results/prediction/predictions.json"]
    assert steps["prediction"]["metrics"] is None
    assert "make rerun-missing" in " ".join(steps["prediction"]["notes"])
    for later in ("evaluation", "summary", "report"):
        assert steps[later]["state"] == "stale", later
    for earlier in ("data", "sieve", "scoring", "training"):
        assert steps[earlier]["state"] == "done", earlier
    text = status.render(status.collect(args(run)))
    assert "missing: results/prediction/predictions.json" in text


def test_snakemake_options_are_read_for_the_workdir_and_config_files():
    argv = ["--cores", "2", "--configfile", "a.yaml", "b.yaml", "-d", "w", "--forceall"]
    assert status.option_values(argv, "--configfile") == ["a.yaml", "b.yaml"]
    assert status.option_values(["--directory=x"], "-d", "--directory") == ["x"]
    assert str(status.workdir_of(argv, cwd="/base")) == "/base/w"
    assert status.step_state([]) == ("not in the workflow", {}, [], [])


def test_outputs_made_from_a_missing_file_are_stale_through_the_chain():
    rows = [{"output_file": "a", "input-file(s)": "-", "status": "missing", "plan": "no update"},
            {"output_file": "b", "input-file(s)": "a,x", "status": "ok", "plan": "no update"},
            {"output_file": "c", "input-file(s)": "b", "status": "ok", "plan": "no update"},
            {"output_file": "d", "input-file(s)": "x", "status": "ok", "plan": "no update"}]
    assert status.tainted_outputs(rows) == {"b", "c"}
    assert status.step_state(rows[2:3], {"b", "c"})[0] == "stale"
    assert status.step_state(rows[3:], {"b", "c"})[0] == "done"
    assert status.step_state(rows[:1])[0] == "missing"
