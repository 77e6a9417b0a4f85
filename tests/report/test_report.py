"""Step 9: the figures, the forward-match counts against chance and Snakemake's HTML report,
on one tiny workflow run shared by the module."""

import base64
import json
import re

import pytest

from seedsift import manifests
from seedsift.report import figures, matches

from conftest import TINY_CONFIG, snakemake

FIGURES = ["forward_matches", "model_comparison", "predicted_vs_actual", "feature_importance",
           "prediction_pool"]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    work = tmp_path_factory.mktemp("report")
    snakemake(work, "--cores", "2", config=TINY_CONFIG)
    snakemake(work, "--report", "matches.html", config=TINY_CONFIG)
    return work


def load(run, path):
    return json.loads((run / "results" / path).read_text())


def test_every_figure_is_a_png_and_in_the_html_report(run):
    html = (run / "matches.html").read_text()
    for name in FIGURES:
        png = (run / "results/report" / f"{name}.png").read_bytes()
        assert png.startswith(PNG) and len(png) > 20_000, name
        # The report embeds the file itself, with its caption and category.
        found = re.search(rf'filename={name}\.png;base64,([A-Za-z0-9+/=]+)"', html)
        assert found and base64.b64decode(found.group(1)) == png, name
    for caption in ("Sieve survivors against chance", "Model comparison", "Feature importance of the chosen model",
                    "Prediction pool", "Predicted vs actual holdout quality"):
        assert caption in html
    for category in ("1. Sieve", "2. Training", "3. Prediction"):
        assert category in html
    assert "seedsift looks for the seed" in html  # the workflow description


def test_manifest_lists_every_figure():
    outputs = manifests.load("report")["outputs"]
    assert {f"results/report/{name}.png" for name in FIGURES} <= set(outputs)
    assert set(FIGURES) == set(matches.FIGURES)


def test_forward_match_counts_stand_next_to_chance(run):
    counts = load(run, "report/forward_matches.json")
    summary = load(run, "sieve/sieve_summary.json")
    truth = load(run, "data/truth.json")
    assert counts["agent_metadata"]["parent_run_id"] == summary["agent_metadata"]["run_id"]
    assert set(counts["families"]) == set(summary["families"])
    for prng, fam in counts["families"].items():
        assert fam["observed_total"] == summary["families"][prng]["forward_survivors"]
        expected = sum(r["expected"] for r in fam["rows"])
        assert expected == pytest.approx(summary["families"][prng]["expected_false_forward"], rel=1e-9)
    # The planted generator matches the whole window, which chance almost never does.
    full = counts["families"][truth["prng"]]["rows"][-1]
    assert full["matches"] == counts["window"] and full["observed"] >= 1 and full["expected"] < 1e-3


def test_feature_importance_comes_from_select_model(run):
    ranking = load(run, "training/feature_importance.json")
    comparison = load(run, "training/model/model_comparison.json")
    plan = load(run, "training/reinforcement_engine_config.json")
    assert ranking["chosen"] == comparison["chosen"]
    assert set(ranking["per_type"]) == set(TINY_CONFIG["training"]["model_types"])
    assert ranking["methods"] == {"xgboost": "total_gain", "neural_net": "permutation"}
    for entry in ranking["per_type"].values():
        total = sum(entry["importance"].values())
        assert total == pytest.approx(1.0) or total == 0.0
        assert len(entry["top_10"]) <= 10 and set(entry["importance"]) == set(ranking["features"])
    assert [(p["a"], p["b"]) for p in ranking["drift"]["pairs"]] == [("xgboost", "neural_net")]
    assert ranking["agent_metadata"]["parent_run_id"] == plan["agent_metadata"]["run_id"]
    assert ranking["agent_metadata"]["pipeline_step"] == 5


def test_figures_say_why_when_there_is_nothing_to_draw(tmp_path):
    no_model = {"status": "no_model", "reason": "the label has no variance"}
    skipped = {"status": "PREDICTION_SKIPPED", "reason": "no model", "steps": []}
    figures.feature_importance(no_model, tmp_path / "a.png")
    figures.model_comparison(no_model, tmp_path / "b.png")
    figures.predicted_vs_actual(no_model, no_model, tmp_path / "c.png")
    figures.prediction_pool(skipped, tmp_path / "d.png")
    for name in "abcd":
        assert (tmp_path / f"{name}.png").read_bytes().startswith(PNG)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp files left
