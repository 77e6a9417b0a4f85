#!/usr/bin/env python3
"""Exercise every model type on the GPU this job was given and print the device each one used.

    CUDA_VISIBLE_DEVICES=0 python bench/gpu_check.py [--n 100000] [--d 50]

Without CUDA_VISIBLE_DEVICES / HIP_VISIBLE_DEVICES it assigns device 0 (the point of the
check is the GPU path). For each type: fit with early stopping, time it, compare with a CPU
fit of the same data, save and reload the native artifact, and report the device actually
used with the wrapper's note (e.g. LightGBM's CPU fallback when its OpenCL learner finds no
device). Exit status 1 if a type whose backend has a GPU path fell back to the CPU while
torch sees a GPU; 0 otherwise.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from models import create_model, load_model
from models.gpu_memory import memory_report
from models.model_selector import regression_metrics
from models.wrappers import MODEL_TYPES, model_extension

# Types whose backend ships a CUDA path in the pinned builds (LightGBM's PyPI wheel has OpenCL only).
EXPECT_GPU = ("neural_net", "xgboost", "catboost")
SMALL = {"neural_net": {"epochs": 30}, "xgboost": {"n_estimators": 200}, "lightgbm": {"n_estimators": 200},
         "catboost": {"n_estimators": 200}}


def data(n, d, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2] + 0.1 * rng.normal(size=n)
    cut, val = int(n * 0.6), int(n * 0.8)
    return (X[:cut], y[:cut]), (X[cut:val], y[cut:val]), (X[val:], y[val:])


def check(model_type, splits, device):
    (Xt, yt), (Xv, yv), (Xs, ys) = splits
    start = time.perf_counter()
    model = create_model(model_type, dict(SMALL[model_type], seed=0), device=device).fit(Xt, yt, Xv, yv)
    seconds = time.perf_counter() - start
    pred = model.predict(Xs)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"m{model_extension(model_type)}"
        model.save(path)
        reloaded = load_model(model_type, path, device=device)
        max_diff = float(np.max(np.abs(reloaded.predict(Xs) - pred)))
    return {"model_type": model_type, "device_requested": device, "device_used": model.device_,
            "note": model.device_note_, "fit_s": round(seconds, 2), "best_iteration": model.best_iteration_,
            "test_r2": round(regression_metrics(ys, pred)["r2"], 4), "reload_max_abs_diff": max_diff}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--d", type=int, default=50)
    ap.add_argument("--model-types", nargs="*", default=list(MODEL_TYPES))
    ap.add_argument("--no-cpu", action="store_true", help="skip the CPU comparison fits")
    args = ap.parse_args(argv)
    if not (os.environ.get("CUDA_VISIBLE_DEVICES") or os.environ.get("HIP_VISIBLE_DEVICES")):
        os.environ["CUDA_VISIBLE_DEVICES"] = "0"
        print("CUDA_VISIBLE_DEVICES was unset: using device 0 for this check")
    splits = data(args.n, args.d)
    rows, failed = [], []
    for model_type in args.model_types:
        row = check(model_type, splits, "auto")
        if not args.no_cpu:
            cpu = check(model_type, splits, "cpu")
            row.update(cpu_fit_s=cpu["fit_s"], cpu_test_r2=cpu["test_r2"])
        rows.append(row)
        print(json.dumps(row), flush=True)
        if model_type in EXPECT_GPU and row["device_used"] != "cuda":
            failed.append(model_type)
    print(json.dumps({"memory_report": memory_report()}))
    print(f"{'model':<12}{'device':>8}{'fit s':>8}{'cpu s':>8}{'R2':>8}  note")
    for r in rows:
        print(f"{r['model_type']:<12}{r['device_used']:>8}{r['fit_s']:>8}{r.get('cpu_fit_s', '-'):>8}"
              f"{r['test_r2']:>8}  {r['note']}")
    torch_gpu = False
    if "torch" in sys.modules:
        torch_gpu = sys.modules["torch"].cuda.is_available()
    if failed and torch_gpu:
        print(f"GPU available but not used by: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
