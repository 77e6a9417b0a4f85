"""Step 5 benchmarks (not tests): survivor-file loading speed and memory, and trial times.

``python -m seedsift.bench.training load --mb 1000`` generates a survivors file of about
that size in a temporary folder and measures the one-pass loader in a fresh subprocess
(MB/s and peak RSS; targets >= 40 MB/s and <= 600 MB). ``... trials --n 100000
--trials 0 1 2`` times whole trials (all folds, one thread) per model type on a generated
table (targets: trees <= 10 s, neural_net <= 30 s per 5-fold trial).

``write_survivors_file`` is also the test suites' generator of realistic survivor files.
"""

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from seedsift.jsonio import write_json_array

# The original's 50 per-seed feature names (reference section 3.5): realistic keys and sizes.
ORIGINAL_FEATURES = (
    ["score", "confidence", "exact_matches", "total_predictions", "best_offset"]
    + [f"residue_{m}_{k}" for m in (8, 125, 1000) for k in ("match_rate", "kl_divergence", "coherence")]
    + [f"temporal_stability_{s}" for s in ("mean", "std", "min", "max", "trend")]
    + ["pred_mean", "pred_std", "pred_min", "pred_max", "actual_mean", "actual_std", "residual_mean",
       "residual_std", "residual_abs_mean", "residual_max_abs", "lane_agreement_8", "lane_agreement_125",
       "lane_consistency"]
    + ["forward_count", "reverse_count", "bidirectional_count", "intersection_count", "intersection_ratio",
       "survivor_overlap_ratio", "skip_min", "skip_max", "skip_range", "skip_mean", "skip_std", "skip_entropy",
       "bidirectional_selectivity", "survivor_velocity", "velocity_acceleration", "intersection_weight",
       "forward_only_count", "reverse_only_count"]
)
INT_FEATURES = {"exact_matches", "total_predictions", "best_offset", "forward_count", "reverse_count",
                "bidirectional_count", "intersection_count", "skip_min", "skip_max", "skip_range",
                "forward_only_count", "reverse_only_count", "pred_min", "pred_max", "residual_max_abs"}


def survivor_records(n, seed=0, n_true=1, n_holdout=76, mod=1000, feature_names=ORIGINAL_FEATURES,
                     signal=0.0):
    """Generate ``n`` survivor records like Step 3's, sorted by score descending.

    Chance survivors reproduce each holdout draw with probability 1/mod; the first
    ``n_true`` are true hypotheses reproducing all of them. With ``signal`` > 0 the label
    also depends (non-linearly) on two features, so a model has something to learn.
    """
    rng = np.random.default_rng(seed)
    F = rng.random((n, len(feature_names)))
    matches = rng.binomial(n_holdout, 1.0 / mod, size=n)
    matches[:n_true] = n_holdout
    quality = matches / n_holdout
    if signal:
        quality = np.clip(quality + signal * (np.sin(3 * F[:, 0]) * F[:, 1]), 0.0, 1.0)
    scores = rng.random(n) * 0.5
    scores[:n_true] = 1.0
    records = []
    for i in range(n):
        feats = {}
        for j, name in enumerate(feature_names):
            v = float(F[i, j])
            feats[name] = int(v * 1000) if name in INT_FEATURES else v
        records.append({
            "seed": int(rng.integers(0, 2**32)), "prng_type": ("java_random", "xorshift32", "mt19937")[i % 3],
            "skip": int(i % 4), "burn": 0, "score": float(scores[i]), "features": feats,
            "holdout_quality": float(quality[i]), "holdout_matches": int(matches[i]),
            "metadata": {"worker_host": "node-a", "gpu": None, "timestamp": "2026-01-01T00:00:00+00:00"},
        })
    records.sort(key=lambda r: -r["score"])
    return records


def write_survivors_file(path, n, **kwargs):
    """Write ``survivor_records(n, **kwargs)`` as Step 3 does (an array, one record per line)."""
    return write_json_array(path, survivor_records(n, **kwargs))


def write_sized_survivors_file(path, megabytes, seed=0, block=20000):
    """A survivors file of about ``megabytes`` MB, generated in blocks (bounded memory)."""
    total = max(1, math.ceil(megabytes * 1e6 / _record_bytes()))

    def records():
        for k, start in enumerate(range(0, total, block)):
            # One true survivor in the whole file, as in a real run.
            yield from survivor_records(min(block, total - start), seed=seed + k, n_true=1 if k == 0 else 0)

    return write_json_array(path, records())


def _record_bytes():
    """Size of one generated record as written (a line of the array)."""
    return len(json.dumps(survivor_records(50)[10])) + 2


def _peak_rss_mb():
    """Peak resident memory of this process in MB.

    Linux's VmHWM starts afresh at exec; ru_maxrss would carry over the parent's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _load_child(path):
    """Run in a fresh interpreter: load the file, print figures as JSON."""
    from models.feature_schema import load_quality_from_survivors

    base = _peak_rss_mb()
    start = time.perf_counter()
    survivors, y, meta = load_quality_from_survivors(path)
    seconds = time.perf_counter() - start
    print(json.dumps({"n": len(survivors), "d": survivors.X.shape[1], "seconds": seconds,
                      "bytes": meta["source_bytes"], "peak_rss_mb": _peak_rss_mb(), "rss_before_mb": base}))


def bench_load(megabytes=50, workdir=None, keep=False):
    """Generate a ~``megabytes`` MB survivors file and measure the loader; prints and returns figures."""
    tmp = tempfile.TemporaryDirectory(dir=workdir)
    try:
        path = Path(tmp.name) / "survivors_with_scores.json"
        t0 = time.perf_counter()
        n = write_sized_survivors_file(path, megabytes)
        gen_s = time.perf_counter() - t0
        out = subprocess.run([sys.executable, "-m", "seedsift.bench.training", "_load_child", str(path)],
                             capture_output=True, text=True, check=True).stdout
        child = json.loads(out.strip().splitlines()[-1])
        mb = child["bytes"] / 1e6
        result = {
            "file_mb": round(mb, 1), "records": n, "features": child["d"], "generate_s": round(gen_s, 1),
            "load_s": round(child["seconds"], 2), "mb_per_s": round(mb / child["seconds"], 1),
            "peak_rss_mb": round(child["peak_rss_mb"], 1), "rss_before_load_mb": round(child["rss_before_mb"], 1),
            "targets": {"mb_per_s": ">= 40", "peak_rss_mb": "<= 600"},
        }
        result["meets_targets"] = result["mb_per_s"] >= 40 and result["peak_rss_mb"] <= 600
        print(json.dumps(result, indent=1))
        return result
    finally:
        if not keep:
            tmp.cleanup()


def bench_trials(n=100_000, d=50, k_folds=5, model_types=None, seed=0, threads=1, trials=(0,)):
    """Time whole trials (``k_folds`` folds each) per model type on a generated table.

    Trial 0 uses the defaults, later trials sampled parameters, as in the pipeline. Prints a
    line per (type, trial) and returns the figures.
    """
    from models.wrappers import MODEL_TYPES
    from seedsift.training.folds import run_fold, summarize_trial
    from seedsift.training.plan import default_training_config, make_plan
    from seedsift.training.table import write_array_table

    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(seed)
        X = rng.random((n, d), dtype=np.float32)
        y = np.clip((rng.random(n) < 0.001) + 0.05 * np.sin(3 * X[:, 0]) * X[:, 1], 0, 1)
        table_dir = write_array_table(Path(tmp) / "table", X, y, [f"f{i:02d}" for i in range(d)])
        cfg = default_training_config()
        cfg.update(k_folds=k_folds, trials=max(trials) + 1, model_types=list(model_types or MODEL_TYPES))
        plan = make_plan(table_dir, cfg)
        result = {}
        for model_type in cfg["model_types"]:
            for t in trials:
                t0 = time.perf_counter()
                folds = [run_fold(table_dir, plan, model_type, t, k, n_jobs=threads) for k in range(k_folds)]
                trial = summarize_trial(folds)
                row = {"trial_s": round(time.perf_counter() - t0, 2), "mean_val_mse": trial["mean_val_mse"],
                       "mean_best_iteration": trial["mean_best_iteration"], "device": folds[0]["device"]}
                result[f"{model_type}/trial_{t}"] = row
                print(model_type, t, json.dumps(row), flush=True)
        return {"n": n, "d": d, "k_folds": k_folds, "threads": threads, "per_trial": result}


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_load_child"]:
        _load_child(argv[1])
        return 0
    ap = argparse.ArgumentParser(description=__doc__)
    sub = ap.add_subparsers(dest="what", required=True)
    load = sub.add_parser("load", help="survivor-file loading speed and peak RSS")
    load.add_argument("--mb", type=float, default=50)
    load.add_argument("--workdir", default=None, help="where the temporary file goes (default: system temp)")
    trials = sub.add_parser("trials", help="time of one trial per model type")
    trials.add_argument("--n", type=int, default=100_000)
    trials.add_argument("--d", type=int, default=50)
    trials.add_argument("--k-folds", type=int, default=5)
    trials.add_argument("--model-types", nargs="*", default=None)
    trials.add_argument("--threads", type=int, default=1)
    trials.add_argument("--trials", type=int, nargs="*", default=[0], help="trial numbers (0 = defaults)")
    args = ap.parse_args(argv)
    if args.what == "load":
        bench_load(args.mb, args.workdir)
    else:
        bench_trials(args.n, args.d, args.k_folds, args.model_types, threads=args.threads, trials=args.trials)
    return 0


if __name__ == "__main__":
    sys.exit(main())
