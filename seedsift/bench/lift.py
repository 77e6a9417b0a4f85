"""What the model adds: Steps 2-7 in one process on three kinds of history, and the lift of each.

Not a test (tests/system/test_honesty.py asserts on the same cases): ``python -m seedsift.bench.lift``
prints, for every case, the evaluation's verdict and its lift section - the model's ranking
paired with the likelihood baseline and with the holdout evidence alone - as docs/trust.md
quotes them.

The cases (mod 1000, burn 0, xorshift32 with a skip in 0..3, 150 training and 20 test draws, the
sieve of the tests: skips 0..3, a window from draw 1, one match to pass, bidirectional survivors;
catboost with its defaults, 3 folds):

* ``planted``: one hypothesis made every draw; 40 holdout draws; the sieve's window is 4 draws. The
  model has one positive among about 70 chance survivors: nothing it can generalise from;
* ``null``: draws from os.urandom, otherwise the same: nothing to learn at all;
* ``switching``: the generator is reseeded at every draw, cycling through 8 seeds, so that each
  of them made every 8th draw: 8 partly true hypotheses, which all survive an 8-draw window. The
  holdout is short (16 draws: 2 matches each), so the holdout evidence says little, while the
  model sees the training features of several such survivors and of about 260 chance ones:
  the case where it has something to learn.
"""

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from seedsift.jsonio import write_json_array
from seedsift.prediction import evaluation
from seedsift.prediction import predict as prediction
from seedsift.prng.hypothesis import hypothesis_draws
from seedsift.scoring import features
from seedsift.scoring.chunks import score_records
from seedsift.sieve import search

MOD = 1000
PRNG = "xorshift32"
RESIDUES = [8, 125, 1000]
SKIP_MAX = 3
PARAMS = {"k": 10, "prior_strength": 10.0, "top_survivors": 5,
          "pool": {"tight": 20, "balanced": 100, "wide": 300,
                   "tight_weight": 0.5, "balanced_weight": 0.3, "wide_weight": 0.2}}
# One model type for every case, so that the cases differ only in their draws.
TRAINING = {"model_types": ["catboost"], "model_type": "catboost", "trials": 1, "k_folds": 3}


def planted_history(prng, seed, skip, n):
    """``n`` draws of one hypothesis, and its truth record."""
    draws = hypothesis_draws(prng, [seed], np.arange(n), skip, 0, MOD)[0]
    return [int(d) for d in draws], {"synthetic": True, "prng": prng, "seed": int(seed), "skip": int(skip),
                                     "burn": 0, "mod": MOD, "noise_positions": []}


def urandom_history(n):
    """``n`` uniform draws from the operating system (modulo bias below 1e-6)."""
    return [int.from_bytes(os.urandom(4), "little") % MOD for _ in range(n)], {"synthetic": False}


def switching_history(prng, seeds, skip, n, first_test):
    """Draw j made by seed ``seeds[j % len(seeds)]`` at history position j (a reseed at every draw,
    cycling through the seeds). The truth record names the seed that makes test draw
    ``first_test``; the draws the other seeds made are its "noise positions"."""
    seeds = [int(s) for s in seeds]
    table = hypothesis_draws(prng, seeds, np.arange(n), skip, 0, MOD)
    draws = [int(table[j % len(seeds), j]) for j in range(n)]
    mine = first_test % len(seeds)
    return draws, {"synthetic": True, "prng": prng, "seed": seeds[mine], "skip": int(skip), "burn": 0, "mod": MOD,
                   "noise_positions": [j for j in range(n) if j % len(seeds) != mine], "switching_seeds": seeds}


def run_case(work, draws, truth, prng, n_train, n_holdout, seeds=1 << 20, survivors_kind="bidirectional",
             training=None, seed=0, window=4):
    """Steps 2-7 on ``draws`` in ``work``: sieve, score, train (the pipeline's training library),
    predict with the out-of-sample priors, evaluate. Returns the evaluation document."""
    from seedsift.training import run as training_run

    work = Path(work)
    train, holdout = draws[:n_train], draws[n_train:n_train + n_holdout]
    test = draws[n_train + n_holdout:]
    spec = search.SieveSpec(prng, tuple(train), MOD, 0, SKIP_MAX, 0, 1, window, 1.0 / window)
    records, _ = search.sieve_range(spec, 0, seeds)
    if survivors_kind == "bidirectional":
        records = [r for r in records if r["bidirectional"]]
    scored = score_records(records, train, holdout, MOD, RESIDUES)
    path = work / "survivors_with_scores.json"
    write_json_array(path, scored)
    summary = {"feature_names": features.feature_names(MOD, RESIDUES), "n_train": len(train),
               "n_holdout": len(holdout), "chance_holdout_quality": 1.0 / MOD}
    out = work / "model"
    training_run.run_all(path, out, work / "training", dict(TRAINING, **(training or {}), seed=seed),
                         scoring_summary=summary)
    params = dict(PARAMS, horizon=len(test))
    predictions = work / "predictions.json"
    priors = out / "out_of_sample_priors.json"
    prediction.run(out, path, train, holdout, MOD, params, RESIDUES, predictions, [], priors_path=priors)
    doc = json.loads(predictions.read_text())
    return evaluation.evaluate(doc, test, MOD, truth, path, n_train + n_holdout, seed=seed)


def lift_row(case, ev):
    """The figures docs/trust.md quotes for one case."""
    lift = ev["lift"]
    row = {"case": case, "verdict": ev["verdict"], "prior_method": lift.get("prior_method")}
    for name in ("baseline", "evidence"):
        part = lift.get(name) or {}
        row[name] = {k: part.get(k) for k in ("verdict", "log_score_gain", "interval", "p_value", "topk_hits")}
    m = ev.get("model") or {}
    row["log_score"] = {"model": m.get("log_score"), "baseline": (ev.get("likelihood_baseline") or {}).get("log_score"),
                        "evidence": (ev.get("evidence_only") or {}).get("log_score")}
    row["truth_rank"] = lift.get("truth_rank")
    return row


SWITCHING_SEEDS = 8
SWITCHING_HOLDOUT = 16


def cases(rng, n_train=150, n_test=20):
    """{name: (draws, truth, n_train, n_holdout, sieve window)} of the three cases."""
    seed, skip = int(rng.integers(1, 1 << 20)), int(rng.integers(0, SKIP_MAX + 1))
    seeds = rng.choice(np.arange(1, 1 << 20), SWITCHING_SEEDS, replace=False)
    n_switch = n_train + SWITCHING_HOLDOUT
    return {
        "planted": (*planted_history(PRNG, seed, skip, n_train + 40 + n_test), n_train, 40, 4),
        "null": (*urandom_history(n_train + 40 + n_test), n_train, 40, 4),
        "switching": (*switching_history(PRNG, seeds, skip, n_switch + n_test, n_switch), n_train,
                      SWITCHING_HOLDOUT, SWITCHING_SEEDS),
    }


def bench_lift(seeds):
    """The three cases for each of ``seeds``; prints one line per case and returns the rows."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            for name, (draws, truth, n_train, n_holdout, window) in cases(np.random.default_rng(seed)).items():
                work = Path(tmp) / f"{seed}_{name}"
                work.mkdir()
                ev = run_case(work, draws, truth, PRNG, n_train, n_holdout, window=window)
                row = dict(lift_row(name, ev), seed=seed)
                rows.append(row)
                b, e = row["baseline"], row["evidence"]
                print(f"  seed {seed} {name:<9} verdict {ev['verdict']:<9}; model vs likelihood baseline: {b['verdict']} "
                      f"({b['log_score_gain']:+.3f} nats/draw, p = {b['p_value']:.2g}); model vs holdout evidence "
                      f"alone: {e['verdict']} ({(e['log_score_gain'] or 0.0):+.3f}, p = {e['p_value'] or 1.0:.2g})",
                      flush=True)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=5, help="run the three cases for seeds 0..N-1")
    ap.add_argument("--out", type=Path, default=None, help="write the rows as JSON here")
    args = ap.parse_args(argv)
    rows = bench_lift(range(args.seeds))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
