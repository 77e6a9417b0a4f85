"""The CPU target the numba kernels are compiled for.

LLVM prefers 256-bit vectors on AVX-512 CPUs (to avoid the clock drop older Xeons had on 512-bit
instructions), which halves the lanes of the sieve's 32- and 64-bit integer loops. On the CPUs
measured (docs/development.md, Benchmarks) 512-bit vectors make the seed sieve 25-70% faster, so
seedsift asks for them wherever the CPU has AVX-512. A target the user set with ``NUMBA_CPU_NAME``
or ``NUMBA_CPU_FEATURES`` is left alone, and ``SEEDSIFT_NUMBA_VECTOR_BITS=256`` keeps LLVM's choice.
"""

import os
import sys


def prefer_wide_vectors():
    """Compile for the host CPU with 512-bit vectors where it has AVX-512 (before numba compiles)."""
    if {"NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES"} & os.environ.keys():
        return
    if os.environ.get("SEEDSIFT_NUMBA_VECTOR_BITS") == "256":
        return
    import llvmlite.binding as llvm

    features = llvm.get_host_cpu_features()
    if not features.get("avx512f"):
        return
    os.environ["NUMBA_CPU_NAME"] = llvm.get_host_cpu_name()
    os.environ["NUMBA_CPU_FEATURES"] = features.flatten() + ",-prefer-256-bit"
    if "numba" in sys.modules:
        from numba.core import config

        config.reload_config()


prefer_wide_vectors()
