"""The workflow itself: dry run of the default config, and the stages end to end on a tiny config."""

import json

from conftest import snakemake


def test_dry_run_of_the_default_config(tmp_path):
    proc = snakemake(tmp_path, "-n", "--quiet", "rules")
    text = proc.stdout + proc.stderr
    assert "sieve_shard" in text and "aggregate_sieve" in text
    assert not (tmp_path / "results").exists()


def test_tiny_run_end_to_end(tmp_path, tiny_config):
    snakemake(tmp_path, "--cores", "2", config=tiny_config)
    res = tmp_path / "results"
    draws = json.loads((res / "data/draws.json").read_text())
    train = json.loads((res / "data/train_history.json").read_text())
    holdout = json.loads((res / "data/holdout_history.json").read_text())
    test = json.loads((res / "data/test_history.json").read_text())
    assert len(draws) == 160 and train + holdout + test == draws and len(test) == 10
    truth = json.loads((res / "data/truth.json").read_text())
    assert truth["seed"] == tiny_config["synthetic"]["seed"]

    fwd = json.loads((res / "sieve/forward_survivors.json").read_text())
    bid = json.loads((res / "sieve/bidirectional_survivors.json").read_text())
    assert fwd == sorted(fwd, key=lambda r: (r["prng_type"], r["seed"]))
    assert {(r["prng_type"], r["seed"]) for r in bid} <= {(r["prng_type"], r["seed"]) for r in fwd}
    planted = [r for r in bid if r["prng_type"] == "xorshift32" and r["seed"] == truth["seed"]]
    assert planted and planted[0]["skip"] == truth["skip"]
    for field in ("seed", "prng_type", "skip", "burn", "forward_matches", "reverse_matches", "window",
                  "forward_match_rate", "reverse_match_rate"):
        assert field in planted[0]

    summary = json.loads((res / "sieve/sieve_summary.json").read_text())
    assert set(summary["families"]) == {"xorshift32", "pcg32"}
    for fam in summary["families"].values():
        assert fam["seeds_tested"] == 1 << 16
        assert fam["expected_false_forward"] > 0
    assert summary["forward_survivors"] == len(fwd)
    text = (res / "report/summary.txt").read_text()
    assert "Planted generator xorshift32 seed 40503" in text and "recovered" in text
    assert (tmp_path / "logs/sieve/pcg32/shard_1.log").exists()

    again = snakemake(tmp_path, "-n", config=tiny_config)
    assert "Nothing to be done" in again.stdout + again.stderr

    # Steps 5-7 ran: a model, predictions from it, a verdict; the planted seed leads.
    pred = json.loads((res / "prediction/predictions.json").read_text())
    assert pred["status"] == "OK" and pred["top_survivors"][0]["seed"] == truth["seed"]
    assert pred["metadata"]["prior_method"] == "out_of_sample"
    assert [s["predictions"][0] for s in pred["steps"]] == test
    ev = json.loads((res / "prediction/evaluation.json").read_text())
    assert ev["verdict"] == "signal" and ev["truth"]["rank_posterior"] == 1 and ev["truth"]["reproduces_test_draws"]
    assert "SIGNAL" in text and "Prediction for draw" in text

    # Lineage: from the predictions back to the draw history, each step naming its parent.
    chain = [
        "prediction/predictions.json", "training/model/best_model.meta.json",
        "training/reinforcement_engine_config.json", "training/table/table.json",
        "scoring/scoring_summary.json", "sieve/sieve_summary.json", "data/draw_history_summary.json",
    ]
    metas = [json.loads((res / f).read_text())["agent_metadata"] for f in chain]
    for child, parent in zip(metas, metas[1:]):
        assert child["parent_run_id"] == parent["run_id"], (child, parent)
    assert metas[-1]["parent_run_id"] is None
    assert [m["pipeline_step"] for m in metas] == [6, 5, 4, 4, 3, 2, 1]
    assert ev["agent_metadata"]["parent_run_id"] == metas[0]["run_id"]
    for m in metas:
        assert {"pipeline_step", "pipeline_step_name", "run_id", "parent_run_id", "inputs", "outputs",
                "success_criteria_met", "confidence"} <= set(m)
        # No clock time, host or GPU slot: equal inputs give equal files (logs and benchmarks hold those).
        assert not {"timestamp", "timestamp_injected", "placement"} & set(m), m


def test_real_draw_file_with_spaces_in_its_path(tmp_path, tiny_config):
    odd = tmp_path / "my draws; $(touch pwned)"
    odd.mkdir()
    path = odd / "history file.csv"
    from seedsift.data import synthetic

    draws, _ = synthetic.generate("pcg32", 777, 0, 0, 160, 1000, 0.0, 1)
    path.write_text("draw\n" + "\n".join(map(str, draws)) + "\n")
    cfg = dict(tiny_config, draws=str(path))
    snakemake(tmp_path, "--cores", "2", config=cfg)
    truth = json.loads((tmp_path / "results/data/truth.json").read_text())
    assert truth == {"synthetic": False, "source": str(path)}
    assert not list(tmp_path.rglob("pwned"))
    bid = json.loads((tmp_path / "results/sieve/bidirectional_survivors.json").read_text())
    assert any(r["prng_type"] == "pcg32" and r["seed"] == 777 for r in bid)
