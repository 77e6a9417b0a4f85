"""sieve.cu built for the CPU with g++ and run through ctypes: the GPU kernels' own code, testable anywhere.

``cpu_prelude.h`` gives g++ what the kernels use of CUDA (qualifiers, thread coordinates, one
atomic, ``__umul64hi``); ``cpu_launch.cpp`` includes ``sieve.cu`` and adds one C launcher per
kernel that runs every block of the grid (one worker thread per core, the block's threads in order).
The library is built once per source, compiler and flags into a cache folder and reused.
"""

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from seedsift.errors import SeedsiftError
from seedsift.prng.gpu import SOURCE_DIR, plan

SOURCES = ("sieve.cu", "cpu_prelude.h", "cpu_launch.cpp")
FLAGS = ("-O2", "-std=c++14", "-pthread", "-shared", "-fPIC", "-Wall", "-Wextra", "-Wno-unknown-pragmas", "-Werror")
THREADS = 256
_U64, _I64, _U32, _P = ctypes.c_ulonglong, ctypes.c_longlong, ctypes.c_uint, ctypes.c_void_p
_ARGTYPES = {
    "stage1": [_U64, _U32, _P, _U64, _U64, _P, _P, _P, _P, _P, _P, _P, _U64],
    "stage2": [_U64, _U32, _P, _P, _U64, _P, _P, _P, _P, _P, _P, _P, _I64],
    "values": [_U64, _U32, _P, _P, _U64, _P, _P, _P, _P],
}


def cache_dir():
    """Where built libraries are kept: $SEEDSIFT_CACHE_DIR, else $XDG_CACHE_HOME/seedsift, else ~/.cache/seedsift."""
    root = os.environ.get("SEEDSIFT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "seedsift")
    return Path(root) / "gpu-cpu-build"


def _compiler():
    cxx = os.environ.get("CXX") or "g++"
    if shutil.which(cxx) is None:
        raise SeedsiftError(f"the CPU build of the GPU kernels needs a C++ compiler: {cxx} is not on PATH (set CXX)")
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True, check=False).stdout.splitlines()[:1]
    return cxx, version


def build(force=False):
    """Path of the shared library, built now unless this source, compiler and flags were built before."""
    cxx, version = _compiler()
    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update((SOURCE_DIR / name).read_bytes())
    digest.update(repr((cxx, version, FLAGS)).encode())
    target = cache_dir() / f"sieve-{digest.hexdigest()[:16]}.so"
    if target.exists() and not force:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    cmd = [cxx, *FLAGS, "-I", str(SOURCE_DIR), "-o", tmp, str(SOURCE_DIR / "cpu_launch.cpp")]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        os.unlink(tmp)
        first = next((ln for ln in done.stderr.splitlines() if "error" in ln), done.stderr.strip()[:300])
        raise SeedsiftError(f"{SOURCE_DIR / 'cpu_launch.cpp'}: g++ failed: {first}")
    os.replace(tmp, target)  # atomic: a concurrent build of the same source writes the same bytes
    return target


def _ptr(a):
    return a.ctypes.data


class CpuBuild:
    """The kernels of sieve.cu run on the CPU; the same interface as the CuPy backend."""

    device = "cpu"
    name = "cpu-build"

    def __init__(self, path=None):
        self.path = Path(path) if path else build()
        self._lib = ctypes.CDLL(str(self.path))
        self._cap = 1 << 12

    def info(self):
        """What the shard records: the device and the backend."""
        return {"device": self.device, "backend": self.name, "label": "cpu/cpu-build", "library": self.path.name}

    def chunk_seeds(self, gen):
        return plan.chunk_seeds(gen, 18, 22)

    def _fn(self, kind, p):
        fn = getattr(self._lib, f"launch_{kind}_{p.name}")
        fn.argtypes = _ARGTYPES[kind]
        fn.restype = None
        return fn

    def prepare(self, p):
        """The plan as the kernels read it (host arrays here, device arrays in the CuPy backend)."""
        return p

    def stage1(self, p, start, n):
        """Sorted seeds in [start, start + n) with a match among the plan's targets (uint64)."""
        fn = self._fn("stage1", p)
        blocks = (n + THREADS - 1) // THREADS
        while True:
            count = np.zeros(1, np.uint64)
            cand = np.empty(max(self._cap, 1), np.uint64)
            fn(blocks, THREADS, _ptr(p.prm), start, n, _ptr(p.cidx), _ptr(p.toff), _ptr(p.tval), _ptr(p.coef),
               _ptr(p.base), _ptr(cand), _ptr(count), self._cap)
            found = int(count[0])
            if found <= self._cap:
                return np.sort(cand[:found])
            self._cap = found

    def stage2(self, p, seeds):
        """counts[i, slot]: matches of seed i's draws with the plan's targets (uint16)."""
        seeds = np.ascontiguousarray(seeds, dtype=np.uint64)
        counts = np.zeros((seeds.size, p.nslots), np.uint16)
        if seeds.size:
            self._fn("stage2", p)((seeds.size + THREADS - 1) // THREADS, THREADS, _ptr(p.prm), _ptr(seeds), seeds.size,
                                  _ptr(p.cidx), _ptr(p.toff), _ptr(p.tval), _ptr(p.tslot), _ptr(p.coef), _ptr(p.base),
                                  _ptr(counts), p.nslots)
        return counts

    def values(self, p, seeds):
        """values[i, t]: seed i's draw at call index cidx[t] (int64)."""
        seeds = np.ascontiguousarray(seeds, dtype=np.uint64)
        out = np.zeros((seeds.size, p.cidx.size), np.int64)
        if seeds.size and p.cidx.size:
            self._fn("values", p)((seeds.size + THREADS - 1) // THREADS, THREADS, _ptr(p.prm), _ptr(seeds), seeds.size,
                                  _ptr(p.cidx), _ptr(p.coef), _ptr(p.base), _ptr(out))
        return out

    def synchronize(self):
        """Launches return when done here (the CuPy backend waits for the GPU)."""

    def sieve_chunk(self, p1, p2, start, n):
        """Stage 1 over [start, start + n), then stage 2 on its candidates: (candidates, counts)."""
        cand = self.stage1(p1, start, n)
        return cand, self.stage2(p2, cand)
