"""Which device a sieve job uses (``sieve.device``): the GPU of its slot, or the CPU.

``auto`` takes the GPU when the job sees one and CuPy imports, else the numba CPU kernels;
``gpu`` refuses with one line when no GPU is usable; ``cpu`` never looks. A job the cluster
placer put on a CPU slot (``SEEDSIFT_GPU_KIND=none``) never takes a GPU: another slot owns it.
"""

import logging
import os

from seedsift.errors import ConfigError

log = logging.getLogger(__name__)

MODES = ("auto", "cpu", "gpu")


def gpu_backend():
    """(CupyBackend, None) when this process can use a GPU, else (None, why not)."""
    try:
        import cupy
    except ImportError as exc:
        return None, f"CuPy is not installed ({exc}); install it with make setup GPU=cuda or GPU=rocm"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except (RuntimeError, OSError) as exc:  # CUDARuntimeError is a RuntimeError; a missing driver an OSError
        return None, f"CuPy sees no GPU ({type(exc).__name__}: {exc})"
    if count < 1:
        return None, "CuPy sees no GPU (the visible-devices variables hide every device)"
    from seedsift.prng.gpu.cupy_backend import CupyBackend

    return CupyBackend(cupy), None


def cpu_info():
    """What a shard run by the numba kernels records."""
    import numba

    return {"device": "cpu", "backend": "numba", "label": "cpu/numba", "numba": numba.__version__,
            "threads": numba.get_num_threads()}


def select(mode, environ=None):
    """The GPU backend for ``mode``, or None for the numba CPU kernels (see the module docstring)."""
    environ = os.environ if environ is None else environ
    if mode not in MODES:
        raise ConfigError("sieve.device", mode, " | ".join(MODES))
    if mode == "cpu":
        return None
    if environ.get("SEEDSIFT_GPU_KIND") == "none":
        if mode == "gpu":
            raise ConfigError("sieve.device", mode, "auto or cpu: the cluster placer gave this job a CPU slot "
                                                    "(SEEDSIFT_GPU_KIND=none), so it has no GPU")
        return None
    backend, why = gpu_backend()
    if backend is None:
        if mode == "gpu":
            raise ConfigError("sieve.device", mode, f"auto or cpu: no usable GPU in this job: {why}")
        log.info("sieve.device auto: the CPU (%s)", why)
    return backend
