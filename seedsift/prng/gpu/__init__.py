"""The sieve's GPU kernels: one CUDA C++ source (``sieve.cu``) for NVIDIA and AMD, and its CPU build.

``sieve.cu`` is compiled at run time by CuPy's RawModule (NVRTC on CUDA builds of CuPy, hipRTC on
ROCm builds), one (generator, mapping) pair at a time (:mod:`seedsift.prng.gpu.cupy_backend`).
The same file is compiled by g++ with ``cpu_prelude.h`` and ``cpu_launch.cpp`` into a shared
library that runs the grid on the CPU (:mod:`seedsift.prng.gpu.cpu_build`), so the tests compare
the GPU code itself with the numba kernels on machines without a GPU
(:mod:`seedsift.prng.gpu.conformance`). :mod:`seedsift.prng.gpu.device` chooses the device of a
sieve job (``sieve.device``); docs/gpu.md explains the design and what is verified where.
"""

from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parent
KERNEL_SOURCE = SOURCE_DIR / "sieve.cu"


def kernel_source():
    """The text of sieve.cu."""
    return KERNEL_SOURCE.read_text(encoding="utf-8")
