"""The sieve on one GPU: correctness first, then stage-1 seeds/s per call, full sweeps, and Step 3.

    python -m seedsift.bench.gpu_sieve [--quick | --shift N] [--skip-check] [--out benchmarks/gpu_sieve.json]

One short script for a machine with a GPU and CuPy (docs/gpu.md says how to run it there):

1. the GPU kernels against the numba kernels for every call (draws, stage-2 counts, stage-1
   survivors; the same check the CPU build passes in the tests); any mismatch stops the script;
2. stage-1 seeds/s of every call on the GPU (first forward draw, one skip, mod 1000, like
   ``make bench``'s CPU table), and the two targets: mt19937's first raw output and
   java.util.Random.nextInt(1000)'s first call;
3. a full 2^32 mt19937 sweep for one raw 32-bit output (php_mt_seed's task) on the GPU and on all
   CPU cores, each with the planted seed found or not;
4. java.util.Random.nextInt over 2^36 seeds, and what that rate makes of the 2^48 Java states;
5. Step 3: how much of the scoring time is the survivors' draws (the part a GPU could take), the
   GPU's time for those draws, and so whether a GPU scorer would pay.

Prints figures and writes them as JSON. Asserts no speed: targets are printed next to the figures.
"""

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

import numba
import numpy as np

from seedsift.prng import runtimes
from seedsift.prng.gpu import conformance, device, plan
from seedsift.sieve import search

TARGETS = {"mt19937 first output": 5e9, "java.util.Random.nextInt first call": 50e9}


def _say(text):
    print(text, flush=True)


def _stage1_rate(backend, name, mod, cidx, n, value=7):
    """Seeds/s of stage 1 over n seeds in the sieve's chunks (kernel, sort of the survivors, copy back)."""
    args = runtimes.kernel_args(name, mod, np.array(cidx, np.int64))
    p = backend.prepare(plan.make(args, [0], [value]))
    chunk = backend.chunk_seeds(int(args[0][0]))
    backend.stage1(p, 0, 1 << 12)  # compile and warm up
    backend.synchronize()
    t0 = time.perf_counter()
    kept = 0
    for lo in range(0, n, chunk):
        kept += backend.stage1(p, lo, min(chunk, n - lo)).size
    backend.synchronize()
    dt = time.perf_counter() - t0
    return n / dt, kept


def bench_check(backend):
    t0 = time.perf_counter()
    n, problems = conformance.check(backend)
    out = {"cases": n, "mismatches": problems[:20], "identical": not problems, "wall_s": time.perf_counter() - t0}
    _say(f"check: {n} cases (every call, mods, call indices), GPU = numba kernels: {out['identical']} ({out['wall_s']:.0f} s)")
    for line in problems[:20]:
        _say(f"  MISMATCH {line}")
    return out


def bench_stage1(backend, shift=0):
    out = {}
    for name in runtimes.names():
        mod = 1024 if name == "python.random.getrandbits" else 1000
        heavy = runtimes.kernel_call(name, mod)[0] in plan.HEAVY
        n = 1 << (28 if heavy else 32) - shift
        rate, _ = _stage1_rate(backend, name, mod, [1], n)
        out[name] = {"seeds_per_s": rate, "seeds": n}
        _say(f"  stage 1 {name:<42} {rate / 1e9:8.2f} G seeds/s")
    for label, (name, mod, n) in {"mt19937 first output": ("mt19937", 1 << 32, 1 << 32),
                                  "java.util.Random.nextInt first call": ("java.util.Random.nextInt", 1000, 1 << 34)}.items():
        n >>= shift
        rate, _ = _stage1_rate(backend, name, mod, [0], n, value=123456789 % mod)
        out[label] = {"seeds_per_s": rate, "seeds": n, "target": TARGETS[label]}
        _say(f"  {label:<50} {rate / 1e9:8.2f} G seeds/s (target {TARGETS[label] / 1e9:.0f} G/s)")
    return out


def _sweep(name, mod, window, n, backend, rng):
    from seedsift.data import synthetic

    seed = rng.randrange(n)
    draws, _ = synthetic.generate(name, seed, 0, 0, 2 * window + 1, mod, 0.0, 1)
    spec = search.SieveSpec(name, tuple(draws), mod, 0, 0, 0, 0, window, 1.0)
    t0 = time.perf_counter()
    records, stats = search.sieve_range(spec, 0, n, progress_every=30.0, label=f"{name}: ", backend=backend)
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "seeds": n, "seeds_per_s": n / wall, "planted_seed_found": any(r["seed"] == seed for r in records),
            "survivors": len(records), "stage1_candidates": stats["stage1_candidates"]}


def bench_sweeps(backend, shift=0):
    rng = random.Random(7)
    out = {}
    n32 = 1 << (32 - shift)
    for where, b in (("gpu", backend), (f"cpu ({numba.get_num_threads()} threads)", None)):
        res = _sweep("mt19937", 1 << 32, 1, n32, b, rng)
        out[f"mt19937 2^32 {where}"] = res
        _say(f"  mt19937 sweep of {n32:,} seeds, one raw output, on the {where}: {res['wall_s']:.1f} s "
             f"({res['seeds_per_s'] / 1e9:.2f} G seeds/s), planted seed found: {res['planted_seed_found']}")
    n36 = 1 << (36 - shift)
    res = _sweep("java.util.Random.nextInt", 1000, 8, n36, backend, rng)
    res["hours_for_2^48"] = (1 << 48) / res["seeds_per_s"] / 3600
    out["java.util.Random.nextInt 2^36 gpu"] = res
    _say(f"  java.util.Random.nextInt(1000), exact 8-draw window, {n36:,} seeds on the GPU: {res['wall_s']:.1f} s "
         f"({res['seeds_per_s'] / 1e9:.2f} G seeds/s; all 2^48 states: {res['hours_for_2^48']:.1f} h), "
         f"planted seed found: {res['planted_seed_found']}")
    return out


def bench_scoring(backend, n=20000):
    """Step 3 on the CPU, the share its draws take, and those draws on the GPU."""
    from seedsift.prng.hypothesis import hypothesis_draws
    from seedsift.scoring import features

    rng = np.random.default_rng(0)
    train = rng.integers(0, 1000, 2000).tolist()
    holdout = rng.integers(0, 1000, 500).tolist()
    fams = ("xorshift32", "pcg32", "java_random", "mt19937")
    recs = [{"seed": int(s), "prng_type": fams[i % len(fams)], "skip": int(k), "burn": 0, "window_start": 1, "window": 4,
             "forward_matches": 1, "reverse_matches": 1, "forward_match_rate": 0.25, "reverse_match_rate": 0.25,
             "bidirectional": True} for i, (s, k) in enumerate(zip(rng.choice(1 << 32, n, replace=False), rng.integers(0, 4, n)))]
    features.compute(recs[:500], train, holdout, 1000, [8, 125, 1000])  # compile
    t0 = time.perf_counter()
    features.compute(recs, train, holdout, 1000, [8, 125, 1000])
    total = time.perf_counter() - t0
    positions = np.arange(len(train) + len(holdout))
    cpu_draws = gpu_draws = 0.0
    for name in fams:  # the draws as features.compute makes them: one call per call name
        pick = [r for r in recs if r["prng_type"] == name]
        t0 = time.perf_counter()
        hypothesis_draws(name, [r["seed"] for r in pick], positions, [r["skip"] for r in pick], 0, 1000)
        cpu_draws += time.perf_counter() - t0
    groups = {}
    for r in recs:
        groups.setdefault((r["prng_type"], r["skip"]), []).append(r["seed"])
    for (name, skip), seeds in groups.items():
        seeds = np.array(seeds, np.uint64)
        want = hypothesis_draws(name, seeds, positions, skip, 0, 1000)
        cidx = positions * (skip + 1)
        p = backend.prepare(plan.make(runtimes.kernel_args(name, 1000, cidx)))
        backend.values(p, seeds[:8])
        backend.synchronize()
        t0 = time.perf_counter()
        got = backend.values(p, seeds)
        gpu_draws += time.perf_counter() - t0
        if not np.array_equal(got, want):
            raise SystemExit(f"the GPU's draws of {name} skip {skip} differ from the CPU's")
    out = {"survivors": n, "train_draws": len(train), "holdout_draws": len(holdout), "cpu_scoring_s": total,
           "cpu_draws_s": cpu_draws, "gpu_draws_s": gpu_draws, "draws_share": cpu_draws / total,
           "best_saving_share": max(0.0, cpu_draws - gpu_draws) / total}
    _say(f"  Step 3 on {numba.get_num_threads()} CPU threads: {n / total:,.0f} survivors/s; the draws take "
         f"{100 * out['draws_share']:.0f}% of it ({cpu_draws:.2f} s), on the GPU {gpu_draws:.2f} s (copy back included): "
         f"a GPU scorer would save at most {100 * out['best_saving_share']:.0f}% of the scoring time")
    return out


def main(argv=None, backend=None):
    """Run every section on ``backend`` (default: this process's GPU through CuPy)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="16x fewer seeds everywhere (--shift 4)")
    ap.add_argument("--shift", type=int, default=0, help="2^N times fewer seeds everywhere")
    ap.add_argument("--survivors", type=int, default=20000, help="survivors of the Step 3 measurement")
    ap.add_argument("--skip-check", action="store_true", help="do not compare the GPU with the numba kernels first")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/gpu_sieve.json"))
    args = ap.parse_args(argv)
    shift = max(args.shift, 4 if args.quick else 0)
    if backend is None:
        backend, why = device.gpu_backend()
        if backend is None:
            _say(f"no usable GPU: {why}")
            return 1
    result = {"gpu": backend.info(), "cpu_threads": numba.get_num_threads(), "cpu_count": os.cpu_count(), "shift": shift}
    _say(f"GPU: {json.dumps(result['gpu'])}")
    if not args.skip_check:
        result["check"] = bench_check(backend)
        if not result["check"]["identical"]:
            _write(args.out, result)
            return 1
    _say("stage 1 on the GPU (first forward draw, one skip, mod 1000):")
    result["stage1"] = bench_stage1(backend, shift)
    _say("sweeps:")
    result["sweeps"] = bench_sweeps(backend, shift)
    _say("scoring:")
    result["scoring"] = bench_scoring(backend, args.survivors)
    _write(args.out, result)
    return 0


def _write(path, result):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1, default=float) + "\n", encoding="utf-8")
    _say(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
