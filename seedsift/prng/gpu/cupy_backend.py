"""sieve.cu on a GPU through CuPy: NVRTC on CUDA builds of CuPy, hipRTC on ROCm builds.

Each call's kernels are compiled on first use with ``-DSIEVE_GEN=g -DSIEVE_MAP=m`` (CuPy keeps the
binary in its kernel cache, ``~/.cupy/kernel_cache``, so a node compiles each call once). The job
sees only the GPU of its slot (``CUDA_VISIBLE_DEVICES``, or ``ROCR_VISIBLE_DEVICES`` and
``HIP_VISIBLE_DEVICES`` on ROCm, set by the cluster placer), which is device 0 here.
"""

import os

import numpy as np

from seedsift.errors import SeedsiftError
from seedsift.prng.gpu import kernel_source, plan

THREADS = 256
VISIBLE_VARIABLES = ("CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES")


class GpuKernelError(SeedsiftError):
    """The GPU kernels could not be compiled or launched."""


class CupyBackend:
    """Stage 1, stage 2 and the draws on device 0 of this process."""

    device = "gpu"

    def __init__(self, cupy):
        self.cp = cupy
        self.hip = bool(getattr(cupy.cuda.runtime, "is_hip", False))
        self.name = "cupy-rocm" if self.hip else "cupy-cuda"
        self._modules = {}
        self._source = kernel_source()
        self._cap = 1 << 16

    def info(self):
        """What the shard records: device, backend, the GPU's name and the variables that chose it."""
        cp = self.cp
        props = cp.cuda.runtime.getDeviceProperties(0)
        name = props.get("name", b"")
        name = name.decode(errors="replace") if isinstance(name, bytes) else str(name)
        runtime = cp.cuda.runtime.runtimeGetVersion()
        return {
            "device": self.device,
            "backend": self.name,
            "label": f"gpu/{'rocm' if self.hip else 'cuda'}",
            "gpu_name": name,
            "cupy": cp.__version__,
            "runtime_version": int(runtime),
            "visible_devices": {k: os.environ[k] for k in VISIBLE_VARIABLES if k in os.environ},
        }

    def chunk_seeds(self, gen):
        return plan.chunk_seeds(gen, 28, 30)

    def _fn(self, kind, p):
        key = (p.gen, p.mapping)
        module = self._modules.get(key)
        if module is None:
            options = (f"-DSIEVE_GEN={p.gen}", f"-DSIEVE_MAP={p.mapping}")
            module = self._modules[key] = self.cp.RawModule(code=self._source, options=options)
        try:
            return module.get_function(f"sieve_{kind}_{p.name}")
        except self.cp.cuda.compiler.CompileException as exc:
            first = next((ln for ln in str(exc).splitlines() if "error" in ln), str(exc)[:300])
            raise GpuKernelError(f"sieve.cu: {'hipRTC' if self.hip else 'NVRTC'} failed: {first}") from None

    def prepare(self, p):
        """The plan's arrays on the GPU."""
        cp = self.cp
        return _DevicePlan(p, {k: cp.asarray(getattr(p, k)) for k in ("prm", "cidx", "toff", "tval", "tslot", "coef", "base")})

    def _stage1_device(self, dp, start, n):
        cp, p, a = self.cp, dp.plan, dp.arrays
        fn = self._fn("stage1", p)
        blocks = (n + THREADS - 1) // THREADS
        self._cap = max(self._cap, n >> 6)  # room for 1 in 64 seeds: discovery mode keeps about 1 in 60
        while True:
            count = cp.zeros(1, dtype=cp.uint64)
            cand = cp.empty(self._cap, dtype=cp.uint64)
            fn((blocks,), (THREADS,), (a["prm"], np.uint64(start), np.uint64(n), a["cidx"], a["toff"], a["tval"],
                                       a["coef"], a["base"], cand, count, np.uint64(self._cap)))
            found = int(count.get()[0])
            if found <= self._cap:
                return cp.sort(cand[:found])
            self._cap = found  # rare: more candidates than room, so this chunk runs again

    def _stage2_device(self, dp, seeds):
        cp, p, a = self.cp, dp.plan, dp.arrays
        counts = cp.zeros((seeds.size, p.nslots), dtype=cp.uint16)
        if seeds.size:
            self._fn("stage2", p)(((seeds.size + THREADS - 1) // THREADS,), (THREADS,), (
                a["prm"], seeds, np.uint64(seeds.size), a["cidx"], a["toff"], a["tval"], a["tslot"], a["coef"],
                a["base"], counts, np.int64(p.nslots)))
        return counts

    def stage1(self, dp, start, n):
        """Sorted seeds in [start, start + n) with a match among the plan's targets (host uint64)."""
        return self._stage1_device(dp, start, n).get()

    def stage2(self, dp, seeds):
        """counts[i, slot] of explicit seeds (host uint16)."""
        return self._stage2_device(dp, self.cp.asarray(np.ascontiguousarray(seeds, dtype=np.uint64))).get()

    def values(self, dp, seeds):
        """values[i, t]: seed i's draw at call index cidx[t] (host int64)."""
        cp, p, a = self.cp, dp.plan, dp.arrays
        seeds = cp.asarray(np.ascontiguousarray(seeds, dtype=np.uint64))
        out = cp.zeros((seeds.size, p.cidx.size), dtype=cp.int64)
        if seeds.size and p.cidx.size:
            self._fn("values", p)(((seeds.size + THREADS - 1) // THREADS,), (THREADS,), (
                a["prm"], seeds, np.uint64(seeds.size), a["cidx"], a["coef"], a["base"], out))
        return out.get()

    def sieve_chunk(self, dp1, dp2, start, n):
        """Stage 1 over [start, start + n) and stage 2 on its candidates without leaving the GPU."""
        cand = self._stage1_device(dp1, start, n)
        counts = self._stage2_device(dp2, cand)
        return cand.get(), counts.get()

    def synchronize(self):
        self.cp.cuda.runtime.deviceSynchronize()


class _DevicePlan:
    def __init__(self, p, arrays):
        self.plan = p
        self.arrays = arrays
