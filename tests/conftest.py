"""Shared fixtures: the repository root and a helper that runs the workflow on a tiny config."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

TINY_CONFIG = {
    "draws": "synthetic",
    "mod": 1000,
    "synthetic": {"prng": "xorshift32", "seed": 40503, "skip": 1, "burn": 0, "n_draws": 160, "noise": 0.0},
    "split": {"holdout_fraction": 0.2, "test_draws": 10},
    "sieve": {
        "prngs": ["xorshift32", "pcg32"],
        "seed_start": 0,
        "seed_end": 1 << 16,
        "skip_min": 0,
        "skip_max": 2,
        "window_start": 1,
        "window": 4,
        "threshold": 0.25,
        "shards": 2,
    },
    # The forward survivors are scored (about 1,600), so that a model is trained on them.
    "scoring": {"survivors": "forward"},
    # Small training: two model types, default parameters, two folds (tests of all four types and
    # of sampled trials set their own).
    "training": {"model_types": ["xgboost", "neural_net"], "trials": 1, "k_folds": 2},
}


def deep_update(base, extra):
    """Recursive dict update (returns a new dict)."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = deep_update(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def env():
    """Environment of a workflow subprocess: the venv (with the project installed) first on PATH."""
    e = dict(os.environ)
    e["PATH"] = f"{BIN}{os.pathsep}{e.get('PATH', '')}"
    e.pop("SEEDSIFT_NODES", None)
    return e


def snakemake(workdir, *args, config=None, check=True, timeout=900):
    """Run snakemake on the repository's Snakefile in ``workdir`` with ``config`` as config file."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "-d", str(workdir)]
    if config is not None:
        cfg = workdir / "test_config.yaml"
        cfg.write_text(yaml.safe_dump(config))
        cmd += ["--configfile", str(cfg)]
    cmd += list(args)
    proc = subprocess.run(cmd, cwd=workdir, env=env(), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


@pytest.fixture
def tiny_config():
    return deep_update(TINY_CONFIG, {})


@pytest.fixture(scope="session")
def gpu_cpu_build():
    """sieve.cu built for the CPU (g++), once per test session (and cached across sessions)."""
    from seedsift.prng.gpu.cpu_build import CpuBuild

    return CpuBuild()
