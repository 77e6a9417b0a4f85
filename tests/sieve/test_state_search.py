"""sieve.search: state in the pipeline: `snakemake recover` on draws the real runtimes wrote with
seeds from os.urandom finds the state and its next draws; the state file, the summary and the
survivor records; refusals before any job runs; random draws recover nothing."""

import json
import os
import random

import pytest

from seedsift.errors import SeedsiftError
from seedsift.pipeline.config import validate
from seedsift.prng import state as prng_state
from seedsift.sieve import state

import real_runtimes
from conftest import snakemake
from scripts_loader import load_script


def _config(tmp_path, prngs, draws, mod, skip_max=2):
    path = tmp_path / "draws.json"
    path.write_text(json.dumps(draws))
    return {"draws": str(path), "mod": mod, "split": {"holdout_fraction": 0.2, "test_draws": 10},
            "sieve": {"search": "state", "prngs": prngs, "skip_min": 0, "skip_max": skip_max, "window_start": 1,
                      "window": 4, "threshold": 1.0, "shards": 1}}


def _recover(tmp_path, config):
    proc = snakemake(tmp_path, "--cores", "2", "recover", config=config)
    return json.loads((tmp_path / "results/sieve/recovered.json").read_text()), proc.stdout


@pytest.mark.slow
def test_recover_finds_the_jvm_state_of_a_random_long_seed(tmp_path):
    seed = int.from_bytes(os.urandom(8), "little")  # any 64-bit long: no seed search reaches it
    skip = random.SystemRandom().randrange(3)
    n = 80  # 56 training draws: nextInt(1000) needs 7, xorshift128 % 1000 up to 44 (the skip decides)
    calls = real_runtimes.java_next_int([(seed, 0, 1000, n * (skip + 1))])[0]
    draws = calls[:: skip + 1]
    doc, out = _recover(tmp_path, _config(tmp_path, ["java.util.Random.nextInt", "xorshift128"], draws, 1000))
    assert doc["search"] == "state" and len(doc["recovered"]) == 1, doc["recovered"]
    best = doc["recovered"][0]
    assert (best["prng_type"], best["skip"], best["seed"]) == ("java.util.Random.nextInt", skip, 0)
    assert best["matches"] == best["n_known"] == n - 10 and best["test_matches"] == 10
    assert best["next_draws"][:10] == draws[-10:]
    assert "state candidate 0: 48-bit state" in out and "new Random(" in out
    # The state file states what it had against what it needs, per skip.
    sf = json.loads((tmp_path / "results/sieve/java.util.Random.nextInt/state.json").read_text())
    assert sf["method"]["name"] == "lift + search" and sf["draws_given"] == 56
    outcomes = {r["skip"]: r["outcome"] for r in sf["runs"]}
    assert outcomes[skip] == "unique" and all(v == "none" for k, v in outcomes.items() if k != skip)
    assert all("needs >= 7 consecutive draws, the training part has 56" in r["statement"] for r in sf["runs"])
    summary = json.loads((tmp_path / "results/sieve/sieve_summary.json").read_text())
    assert summary["search"] == "state" and summary["families"]["xorshift128"]["bidirectional_survivors"] == 0


@pytest.mark.slow
def test_recover_clones_gxx_mt19937_from_raw_outputs(tmp_path):
    seed = int.from_bytes(os.urandom(4), "little")
    n = 800  # 632 training draws: 625 needed
    draws = real_runtimes.cpp_raw_mod("mt19937", [(seed, 0, 1 << 32, n)])[0]
    doc, out = _recover(tmp_path, _config(tmp_path, ["mt19937"], draws, 1 << 32, skip_max=0))
    best = doc["recovered"][0]
    assert best["state"]["generator"] == "mt19937" and len(best["state"]["words"]) == 624
    assert best["next_draws"][:10] == draws[-10:] and best["test_matches"] == 10
    assert best["expected_false"] < 1e-6 and "624-word mt19937 state" in out


@pytest.mark.slow
def test_recover_finds_nothing_in_random_draws(tmp_path):
    draws = [int.from_bytes(os.urandom(4), "little") % 1000 for _ in range(80)]
    doc, out = _recover(tmp_path, _config(tmp_path, ["java.util.Random.nextInt", "xorshift128"], draws, 1000))
    assert doc["recovered"] == [] and "no recovered state reproduces the known draws" in out
    summary = json.loads((tmp_path / "results/sieve/sieve_summary.json").read_text())
    for fam in summary["families"].values():
        assert fam["bidirectional_survivors"] == 0
        assert all(r["outcome"] == "none" and "no consistent state" in r["statement"] for r in fam["runs"])


def test_state_file_and_records(tmp_path):
    """run_state: one record per state with the window fields measured, the state, seed = candidate number."""
    seed = int.from_bytes(os.urandom(8), "little") >> 1
    from seedsift.prng import runtimes

    draws = runtimes.draws("java.util.Random.nextInt", seed, 40, 1000)
    train = tmp_path / "train.json"
    train.write_text(json.dumps(draws))
    params = validate({"mod": 1000, "sieve": {"search": "state", "prngs": ["java.util.Random.nextInt"], "skip_max": 1,
                                              "window": 4}, "synthetic": {"n_draws": 100}})
    doc = state.run_state(train, "java.util.Random.nextInt", params, tmp_path / "state.json")
    assert [r["outcome"] for r in doc["runs"]] == ["unique", "none"]
    (rec,) = doc["survivors"]
    assert rec["seed"] == 0 and rec["skip"] == 0 and rec["burn"] == 0 and rec["bidirectional"]
    assert rec["forward_matches"] == rec["reverse_matches"] == 4
    assert prng_state.state_draws("java.util.Random.nextInt", rec["state"], 1000, range(40)) == draws
    assert doc["expected_false"] < 1e-100
    assert json.loads((tmp_path / "state.json").read_text())["survivors"] == [rec]


@pytest.mark.parametrize("changes,words", [
    ({"sieve": {"prngs": ["python.random.randrange"]}}, ["python.random.randrange, state:", "redraws"]),
    ({"sieve": {"prngs": ["mt19937"]}}, ["mt19937, GF(2) elimination: needs >= 6,647 consecutive draws (with any "
                                          "skip in 0..3), the training part has 304"]),
    ({"sieve": {"prngs": ["mt19937"], "skip_max": 0}}, ["mt19937, GF(2) elimination: needs >= 6,853 consecutive "
                                                        "draws, the training part has 304"]),
    ({"sieve": {"prngs": ["java.util.Random.nextInt"]}, "mod": 16},
     ["java.util.Random.nextInt, bounded search", "given 16"]),
    ({"sieve": {"prngs": ["java.util.Random.nextInt"]}, "synthetic": {"n_draws": 26}, "split": {"test_draws": 20}},
     ["java.util.Random.nextInt, lift + search: needs >= 7 consecutive draws (with any skip in 0..3), the training "
      "part has 5"]),
])
def test_a_state_search_that_cannot_work_is_refused_before_any_job(changes, words):
    config = {"sieve": {"search": "state"}}
    for key, value in changes.items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    config["sieve"]["search"] = "state"
    with pytest.raises(SeedsiftError) as err:
        validate(config)
    assert all(w in str(err.value) for w in words), str(err.value)


def test_the_seeds_search_is_the_default():
    assert validate({})["sieve"]["search"] == "seeds"


def test_recover_state_script_refuses_in_one_line(tmp_path, capfd):
    train = tmp_path / "train.json"
    train.write_text(json.dumps([1, 2, 3, 4, 5]))
    params = {"mod": 1000, "low": 0, "sieve": {"search": "state", "skip_min": 0, "skip_max": 0, "burn": 0,
                                               "window_start": 1, "window": 2, "threshold": 1.0}}
    main = load_script("recover_state").main
    from seedsift import cli

    code = cli.run(main, ["--train", str(train), "--prng", "java.util.Random.nextInt", "--params", json.dumps(params),
                          "--output", str(tmp_path / "state.json")])
    err = capfd.readouterr().err.strip().splitlines()
    assert code == 2 and not (tmp_path / "state.json").exists()
    line = next(ln for ln in err if ln.startswith("seedsift: error:"))
    assert "java.util.Random.nextInt, lift + search: needs >= 7 consecutive draws, the training part has 5" in line, line
