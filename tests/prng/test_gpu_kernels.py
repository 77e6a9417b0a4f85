"""The GPU kernels (seedsift/prng/gpu/sieve.cu) against the numba kernels, through their CPU build.

Without a GPU, the same source is built by g++ and run on the CPU: every runtime call and raw
family must give the numba kernels' draws, stage-2 counts and stage-1 survivors exactly. With a
GPU and CuPy, the ``gpu`` tests run the same checks on the device.
"""

import json
import random
import re
import shutil
import subprocess

import numpy as np
import pytest

from seedsift.prng import runtimes
from seedsift.prng.gpu import KERNEL_SOURCE, conformance, device, plan


@pytest.mark.parametrize("name", runtimes.names())
def test_cpu_build_of_the_gpu_kernels_equals_the_numba_kernels(gpu_cpu_build, name):
    n, problems = conformance.check(gpu_cpu_build, names=[name])
    assert n == len(conformance.mods(name)) * len(conformance.CIDX)
    assert problems == []


class _Broken:
    """A backend that is wrong in one place: the check must say so."""

    def __init__(self, inner, where):
        self.inner, self.where = inner, where

    def prepare(self, p):
        return self.inner.prepare(p)

    def values(self, p, seeds):
        out = self.inner.values(p, seeds)
        if self.where == "values":
            out[-1, -1] += 1
        return out

    def stage2(self, p, seeds):
        out = self.inner.stage2(p, seeds)
        if self.where == "stage2":
            out[0, 0] += 1
        return out

    def stage1(self, p, start, n):
        out = self.inner.stage1(p, start, n)
        return out[1:] if self.where == "stage1" else out


@pytest.mark.parametrize("where, says", [("values", "draws of seed"), ("stage2", "stage 2 counts"), ("stage1", "stage 1 over")])
def test_the_check_finds_a_wrong_kernel(gpu_cpu_build, where, says):
    rng = random.Random(0)
    for name, mod, cidx in [("mt19937", 1000, (0,)), ("java.util.Random.nextInt", 600, (1, 300, 700, 1300))]:
        assert conformance.check_case(gpu_cpu_build, name, mod, cidx, rng) == []
        problems = conformance.check_case(_Broken(gpu_cpu_build, where), name, mod, cidx, rng)
        assert len(problems) == 1 and says in problems[0], problems


def test_more_stage1_candidates_than_room_reruns_the_launch(gpu_cpu_build):
    args = runtimes.kernel_args("xorshift32", 2, np.array([0], np.int64))
    p = plan.make(args, [0], [1])  # about half of all seeds match
    gpu_cpu_build._cap = 8
    got = gpu_cpu_build.stage1(p, 1000, 5000)
    draws = np.array([runtimes.draws("xorshift32", s, 1, 2)[0] for s in range(1000, 6000)])
    assert gpu_cpu_build._cap >= got.size > 2000
    assert np.array_equal(got, 1000 + np.nonzero(draws == 1)[0])


def test_fastmod_is_the_exact_remainder():
    rng = random.Random(1)
    for mod in [1, 2, 3, 6, 600, 1000, 1024, 2147483647, (1 << 30) + 1, (1 << 32) - 1, 1 << 32]:
        m = plan.fastmod_constant(mod) & ((1 << 64) - 1)
        for x in [0, 1, mod - 1, (1 << 32) - 1] + [rng.randrange(1 << 32) for _ in range(200)]:
            x &= (1 << 32) - 1
            assert ((m * x) & ((1 << 64) - 1)) * mod >> 64 == x % mod, (mod, x)


def test_every_call_has_a_kernel():
    for name in runtimes.names():
        call = runtimes.kernel_call(name, 1000 if name != "python.random.getrandbits" else 1024)
        assert (int(call[0]), int(call[1])) in plan.CALLS, name
    listed = KERNEL_SOURCE.read_text().split("#define SIEVE_CALLS(X)")[1].split("\n\n")[0]
    assert len(plan.CALLS) == listed.count("X(")
    for gen, mapping in plan.CALLS:
        assert f"X({gen}, {mapping})" in listed


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc (the CUDA compiler) is not installed")
def test_the_kernels_compile_for_an_nvidia_gpu(tmp_path):
    """The device side: nvcc compiles every kernel for Hopper (sm_90) without a warning."""
    out = tmp_path / "sieve.cubin"
    done = subprocess.run(["nvcc", "-arch=sm_90", "-cubin", "-Werror", "all-warnings", "--resource-usage", "-o", str(out),
                           str(KERNEL_SOURCE)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("Function properties for sieve_") == 3 * len(plan.CALLS)
    spills = re.findall(r"(\d+) bytes spill stores", done.stderr)
    assert len(spills) == 3 * len(plan.CALLS) and set(spills) == {"0"}, "a kernel spills registers"


def _gpu():
    backend, why = device.gpu_backend()
    if backend is None:
        pytest.skip(f"no usable GPU: {why}")
    return backend


@pytest.mark.gpu
@pytest.mark.parametrize("name", runtimes.names())
def test_gpu_kernels_equal_the_numba_kernels(name):
    n, problems = conformance.check(_gpu(), names=[name])
    assert n and problems == []


def test_the_gpu_benchmark_script_runs_end_to_end_on_the_cpu_build(gpu_cpu_build, tmp_path, capsys):
    """The script a GPU machine runs (seedsift.bench.gpu_sieve), on tiny ranges and the CPU build."""
    from seedsift.bench import gpu_sieve

    out = tmp_path / "gpu_sieve.json"
    assert gpu_sieve.main(["--shift", "22", "--skip-check", "--survivors", "200", "--out", str(out)],
                          backend=gpu_cpu_build) == 0
    result = json.loads(out.read_text())
    assert set(result["stage1"]) == set(runtimes.names()) | set(gpu_sieve.TARGETS)
    assert all(s["planted_seed_found"] for s in result["sweeps"].values())
    assert result["scoring"]["draws_share"] > 0 and result["scoring"]["best_saving_share"] >= 0
    assert "G seeds/s (target 5 G/s)" in capsys.readouterr().out


class _HostArray(np.ndarray):
    """A numpy array standing in for a CuPy device array."""

    def get(self):
        return np.asarray(self)


def _fake_cupy(library):
    """CuPy's API as the CuPy backend uses it, over host memory and the CPU build's launchers."""
    import ctypes
    import types

    from seedsift.prng.gpu import cpu_build

    lib = ctypes.CDLL(str(library))
    compiled = []

    def host(a):
        return np.ascontiguousarray(a).view(_HostArray)

    class RawModule:
        def __init__(self, code, options):
            assert code == KERNEL_SOURCE.read_text() and options[0].startswith("-DSIEVE_GEN=")
            compiled.append(options)

        def get_function(self, name):
            fn = getattr(lib, "launch_" + name[len("sieve_"):])
            fn.argtypes = cpu_build._ARGTYPES[name.split("_")[1]]

            def launch(grid, block, args):
                fn(grid[0], block[0], *[a.ctypes.data if isinstance(a, np.ndarray) else int(a) for a in args])
            return launch

    runtime = types.SimpleNamespace(is_hip=False, getDeviceCount=lambda: 1, runtimeGetVersion=lambda: 13000,
                                    getDeviceProperties=lambda i: {"name": b"host"}, deviceSynchronize=lambda: None)
    fake = types.SimpleNamespace(
        __version__="host", uint64=np.uint64, uint16=np.uint16, int64=np.int64, RawModule=RawModule,
        asarray=host, zeros=lambda shape, dtype: host(np.zeros(shape, dtype)),
        empty=lambda shape, dtype: host(np.empty(shape, dtype)), sort=lambda a: host(np.sort(a)),
        cuda=types.SimpleNamespace(runtime=runtime, compiler=types.SimpleNamespace(CompileException=RuntimeError)))
    return fake, compiled


def test_the_cupy_backend_passes_the_kernels_their_arguments(gpu_cpu_build):
    """The CuPy backend's host side over a stand-in for CuPy that runs the CPU build's kernels."""
    from seedsift.prng.gpu.cupy_backend import CupyBackend
    from seedsift.sieve import search

    fake, compiled = _fake_cupy(gpu_cpu_build.path)
    backend = CupyBackend(fake)
    backend._cap = 4  # stage 1 must rerun a chunk with more room
    names = ["mt19937", "python.random.randrange", "glibc.rand"]
    n, problems = conformance.check(backend, names=names)
    assert n > 40 and problems == []
    assert {o[0] for o in compiled} == {f"-DSIEVE_GEN={runtimes.kernel_call(k, 1000)[0]}" for k in names}
    s = search.SieveSpec("php.mt_rand", tuple(random.Random(3).randrange(600) for _ in range(30)), 600, 0, 2, 0, 1, 4, 0.25)
    (got, got_stats), (want, want_stats) = search.sieve_range(s, 10, 30000, backend=backend), search.sieve_range(s, 10, 30000)
    assert got == want and len(got) > 100 and got_stats["stage1_candidates"] == want_stats["stage1_candidates"]
    assert backend.info()["label"] == "gpu/cuda" and backend.info()["gpu_name"] == "host"
