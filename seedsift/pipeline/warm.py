"""Compile the pipeline's numba kernels into their cache, several kernels at once.

A kernel is compiled the first time a process calls it and then loaded from ``__pycache__``
(numba's ``cache=True``). On a fresh checkout the first run therefore compiles every kernel, one
after another as the DAG reaches it, and two jobs that start together compile the same kernel
twice. Each kernel takes one to three minutes (most of it numba's inlining of the generators).
This module compiles each kernel in its own process, ``--jobs`` at a time, through the same
calls the pipeline makes, so that the argument types, and with them the cache entries, are the
pipeline's. ``make setup`` runs it.

    python -m seedsift.pipeline.warm [--jobs N]
"""

import argparse
import os
import subprocess
import sys
import time

# The history of the warm-up: what seed 7 of xorshift32 draws (mod 1000, skip 0), from the
# reference generator, so that no kernel is compiled in making it. The sieve's range 0..4095 then
# has a stage-1 candidate, and stage 2 runs too.
_MOD = 1000


def _history(n=24):
    from seedsift.prng import runtimes

    return runtimes.draws("xorshift32", 7, n, _MOD)


def _spec(train):
    from seedsift.sieve import search

    return search.SieveSpec("xorshift32", tuple(train), _MOD, 0, 1, 0, 1, 4, 0.5)


def _sieve():
    """Stage 1 (kernels.candidates) and stage 2 (count_matches) of a seed range, and stage 2 on
    explicit seeds (the exact check of ``snakemake recover``)."""
    from seedsift.sieve import search

    spec = _spec(_history())
    records, _ = search.sieve_range(spec, 0, 4096, progress_every=1e9)
    if not any(r["seed"] == 7 for r in records):
        raise RuntimeError("warm-up sieve: the planted seed 7 did not survive, so stage 2 was not compiled")
    search.sieve_seeds(spec, [7, 8])


def _features():
    """Step 3: draws of survivors (calls_at) and their features."""
    from seedsift.scoring import features

    train = _history(30)
    records = [{"prng_type": "xorshift32", "seed": s, "skip": 0, "burn": 0, "forward_match_rate": 0.0,
                "reverse_match_rate": 0.0} for s in (7, 8)]
    features.compute(records, train[:20], train[20:], _MOD, [2, 3])


TASKS = {"sieve": _sieve, "features": _features}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="kernels compiled at once (default: the cores)")
    ap.add_argument("--task", choices=sorted(TASKS), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.task:
        TASKS[args.task]()
        return 0
    t0 = time.monotonic()
    pending = sorted(TASKS)
    running = []
    failed = []
    while pending or running:
        while pending and len(running) < max(1, args.jobs):
            task = pending.pop(0)
            running.append((task, subprocess.Popen([sys.executable, "-m", "seedsift.pipeline.warm", "--task", task])))
        time.sleep(0.2)
        for item in list(running):
            task, proc = item
            if proc.poll() is not None:
                running.remove(item)
                if proc.returncode:
                    failed.append(task)
    if failed:
        print(f"seedsift.pipeline.warm: compiling {', '.join(failed)} failed", file=sys.stderr)
        return 1
    print(f"numba kernels compiled or loaded from the cache in {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
