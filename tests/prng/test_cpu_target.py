"""The numba kernels' CPU target: 512-bit vectors on AVX-512 CPUs, a user's own target left alone."""

import json
import os
import subprocess
import sys

import llvmlite.binding as llvm

PROBE = ("import json, seedsift.prng.kernels; from numba.core import config; "
         "print(json.dumps([config.CPU_NAME, config.CPU_FEATURES]))")


def _target(**env):
    base = {k: v for k, v in os.environ.items()
            if k not in ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES", "SEEDSIFT_NUMBA_VECTOR_BITS")}
    done = subprocess.run([sys.executable, "-c", PROBE], env=base | env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_avx512_hosts_get_512_bit_vectors_and_others_keep_numbas_choice():
    name, features = _target()
    if llvm.get_host_cpu_features().get("avx512f"):
        assert name == llvm.get_host_cpu_name()
        assert features.endswith(",-prefer-256-bit") and "+avx512f" in features
    else:
        assert (name, features) == (None, None)


def test_a_target_the_user_set_is_left_alone():
    name, features = _target(NUMBA_CPU_NAME="generic")
    assert name == "generic" and "prefer-256-bit" not in (features or "")
    assert _target(SEEDSIFT_NUMBA_VECTOR_BITS="256") == [None, None]
