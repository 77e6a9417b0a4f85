"""The warm-up compiles the kernels with the argument types every runtime's sieve and Step 3 use."""

import json
import subprocess
import sys

import pytest

from conftest import REPO, env

# A process that sieves and scores other runtimes than the warm-up's (glibc's coefficients,
# CPython's base state, a rejection loop) and reports what each kernel did not find in the cache.
PROBE = r"""
import json
import numpy as np
from seedsift.prng import kernels, runtimes
from seedsift.scoring import feature_kernel, features
from seedsift.sieve import search

misses = {}
for name in ("glibc.rand", "python.random.randrange", "java.util.Random.nextInt"):
    train = runtimes.draws(name, 11, 40, 600)
    spec = search.SieveSpec(name, tuple(train[:30]), 600, 0, 2, 0, 1, 6, 0.5)
    records, _ = search.sieve_range(spec, 0, 1 << 12, progress_every=1e9)
    assert any(r["seed"] == 11 for r in records), name
    search.sieve_seeds(spec, [11, 12])
    features.compute(records[:3], train[:30], train[30:], 600, [2, 5])
for f in (kernels._any_match, kernels._gather, kernels.count_matches, kernels.calls_at,
          feature_kernel._survivor_features):
    misses[f.__name__] = sorted(str(s) for s in f.stats.cache_misses)
print(json.dumps(misses))
"""


@pytest.mark.slow
def test_after_the_warm_up_no_runtime_compiles_a_kernel_again():
    e = env()
    subprocess.run([sys.executable, "-m", "seedsift.pipeline.warm", "--jobs", "2"], check=True, cwd=REPO, env=e,
                   capture_output=True, timeout=1800)
    done = subprocess.run([sys.executable, "-c", PROBE], check=True, cwd=REPO, env=e, capture_output=True,
                          text=True, timeout=600)
    misses = json.loads(done.stdout.strip().splitlines()[-1])
    assert misses == {name: [] for name in misses}, misses
