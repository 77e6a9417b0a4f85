"""Steps 6 and 7 on a large survivors file: wall time and peak memory of each job (not a test).

``python -m seedsift.bench.prediction --records 100000`` writes a survivors file like Step 3's
(about 2 KB per record with the pipeline's 46 features: 100,000 records are about 206 MB), a
model with its sidecar and out-of-sample priors, and the history files, then runs
``prediction_generator.py`` and ``evaluate_predictions.py`` as the pipeline does, each in its
own process, and reads the peak RSS each job logs (VmHWM). Target: under 300 MB for both.
``tests/prediction/test_memory.py`` bounds the same jobs on a smaller file.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from seedsift.bench.training import survivor_records
from seedsift.jsonio import write_json, write_json_array
from seedsift.manifests import REPO_ROOT as REPO
from seedsift.scoring import features

MOD = 1000
RESIDUES = [8, 125, 1000]
N_TRAIN, N_HOLDOUT, N_TEST = 304, 76, 20
PARAMS = {"mod": MOD, "prediction": {"k": 10, "horizon": N_TEST, "prior_strength": 10.0, "top_survivors": 20},
          "pool": {"tight": 20, "balanced": 100, "wide": 300, "tight_weight": 0.5, "balanced_weight": 0.3,
                   "wide_weight": 0.2},
          "scoring": {"residue_mods": RESIDUES}, "split": {"test_draws": N_TEST}, "evaluation": {"random_seed": 0}}
TARGET_MB = 300


def write_inputs(folder, n, seed=0, block=20000):
    """The files Steps 6 and 7 read, for ``n`` generated survivors; returns {name: path}."""
    from models import create_model
    from models.feature_schema import feature_schema_of
    from models.model_factory import save_model_with_sidecar

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = features.feature_names(MOD, RESIDUES)
    first = survivor_records(min(n, block), seed=seed, n_true=1, n_holdout=N_HOLDOUT, feature_names=names)

    def records():
        # Distinct seeds (an odd multiplier is a bijection mod 2^32): a hypothesis listed twice is refused.
        for i, rec in enumerate(first):
            yield dict(rec, seed=i * 2654435761 % 2**32)
        for k, start in enumerate(range(block, n, block)):
            for i, rec in enumerate(survivor_records(min(block, n - start), seed=seed + 1 + k, n_true=0,
                                                     n_holdout=N_HOLDOUT, feature_names=names)):
                yield dict(rec, seed=(start + i) * 2654435761 % 2**32)

    paths = {"survivors": folder / "survivors_with_scores.json"}
    write_json_array(paths["survivors"], records())
    sample = first[:2000]
    X = np.array([[r["features"][f] for f in sorted(names)] for r in sample])
    y = np.array([r["holdout_quality"] for r in sample])
    model = create_model("xgboost", {"n_estimators": 20, "max_depth": 3}).fit(X, y)
    paths["models"] = folder / "model"
    meta = save_model_with_sidecar(model, paths["models"], feature_schema_of(names, train_draws=N_TRAIN),
                                   {"field": "holdout_quality", "n_holdout": N_HOLDOUT},
                                   signal_quality={"signal_status": "weak", "prediction_allowed": True})
    from seedsift.jsonio import sha256_file

    rng = np.random.default_rng(seed)
    paths["priors"] = paths["models"] / "out_of_sample_priors.json"
    write_json(paths["priors"], {"format": "seedsift.out_of_sample_priors/1", "status": "ok",
                                 "model_type": meta["model_type"], "survivors_sha256": sha256_file(paths["survivors"]),
                                 "n": n, "prior": [round(float(v), 9) for v in rng.random(n) * 0.01]})
    draws = rng.integers(0, MOD, N_TRAIN + N_HOLDOUT + N_TEST).tolist()
    for name, part in (("train", draws[:N_TRAIN]), ("holdout", draws[N_TRAIN:N_TRAIN + N_HOLDOUT]),
                       ("test", draws[N_TRAIN + N_HOLDOUT:])):
        paths[name] = folder / f"{name}_history.json"
        paths[name].write_text(json.dumps(part))
    true = dict(first[0], seed=0)
    paths["truth"] = folder / "truth.json"
    # A synthetic truth makes Step 7 stream the survivors file to find it.
    paths["truth"].write_text(json.dumps({"synthetic": True, "prng": true["prng_type"], "seed": true["seed"],
                                          "skip": true["skip"], "burn": 0, "mod": MOD, "noise_positions": []}))
    return paths


def _peak(stderr):
    peaks = [float(line.split("peak memory ")[1].split()[0]) for line in stderr.splitlines() if "peak memory " in line]
    return peaks[-1] if peaks else None


def run_steps(paths, out_dir):
    """Run Step 6 and Step 7 as the pipeline's rules do; {step: {wall_s, peak_rss_mb}}."""
    out_dir = Path(out_dir)
    params = json.dumps(PARAMS)
    predictions, evaluation = out_dir / "predictions.json", out_dir / "evaluation.json"
    commands = {
        "prediction": [sys.executable, str(REPO / "scripts/prediction_generator.py"), "--models-dir",
                       str(paths["models"]), "--survivors-forward", str(paths["survivors"]), "--priors",
                       str(paths["priors"]), "--train", str(paths["train"]), "--holdout", str(paths["holdout"]),
                       "--params", params, "--output", str(predictions)],
        "evaluation": [sys.executable, str(REPO / "scripts/evaluate_predictions.py"), "--predictions", str(predictions),
                       "--train", str(paths["train"]), "--holdout", str(paths["holdout"]), "--test",
                       str(paths["test"]), "--truth", str(paths["truth"]), "--survivors", str(paths["survivors"]),
                       "--params", params, "--output", str(evaluation)],
    }
    out = {}
    for step, cmd in commands.items():
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{step} failed ({done.returncode}): {done.stderr[-2000:]}")
        out[step] = {"wall_s": round(time.perf_counter() - t0, 2), "peak_rss_mb": _peak(done.stderr)}
    return out


def bench_prediction(n=100_000, workdir=None):
    """Generate the inputs for ``n`` survivors and measure Steps 6 and 7; prints and returns the figures."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        t0 = time.perf_counter()
        paths = write_inputs(Path(tmp) / "in", n)
        generate_s = time.perf_counter() - t0
        steps = run_steps(paths, tmp)
        size = paths["survivors"].stat().st_size / 1e6
    result = {"records": n, "file_mb": round(size, 1), "generate_s": round(generate_s, 1), **steps,
              "target_peak_rss_mb": TARGET_MB}
    result["meets_target"] = all(steps[s]["peak_rss_mb"] is not None and steps[s]["peak_rss_mb"] < TARGET_MB
                                 for s in steps)
    print(f"  Steps 6-7 on {n:,} survivors ({size:.0f} MB): prediction {steps['prediction']['wall_s']} s, peak RSS "
          f"{steps['prediction']['peak_rss_mb']:.0f} MB; evaluation {steps['evaluation']['wall_s']} s, peak RSS "
          f"{steps['evaluation']['peak_rss_mb']:.0f} MB (target < {TARGET_MB} MB)", flush=True)
    return result


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--workdir", default=None, help="where the temporary files go (default: system temp)")
    args = ap.parse_args(argv)
    bench_prediction(args.records, args.workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
