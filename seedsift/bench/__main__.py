"""``make bench``: throughput and memory figures of the steps, and the lift cases, printed and written as JSON.

Not a test: nothing here asserts a speed. Run on an otherwise idle machine.

    python -m seedsift.bench [--only sieve,sweeps,php_mt_seed,state,scoring,training,prediction,lift,cluster]
                             [--out benchmarks/bench.json]
"""

import argparse
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

from seedsift.data import synthetic
from seedsift.jsonio import write_json, write_json_array
from seedsift.manifests import REPO_ROOT as REPO
from seedsift.prng import kernels, runtimes
from seedsift.sieve import search

SECTIONS = ("sieve", "sweeps", "php_mt_seed", "state", "scoring", "training", "prediction", "lift", "cluster")


def _say(text):
    print(text, flush=True)


def _timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def bench_stage1():
    """Stage-1 seeds/s (the filter and the gathering of its seeds) per raw family and per runtime
    call (first forward draw, one skip, mod 1000), on 1 core and on all cores. A runtime's call 1
    follows its call 0, rejections included."""
    tpos = np.array([0], np.int64)
    tval = np.array([7], np.int64)
    empty = np.empty(0, np.uint64)
    cores = numba.config.NUMBA_NUM_THREADS
    out = {}
    for name in runtimes.names():
        call, cidx, uidx, coef, base = runtimes.kernel_args(name, 1000, np.array([1], np.int64))
        heavy = call[0] in (kernels.MT19937, kernels.MT_CPYTHON, kernels.MT_PHP_LEGACY, kernels.GLIBC)
        n = 1 << (22 if heavy else 27)
        kernels.candidates(call, np.uint64(0), 4096, empty, cidx, uidx, tpos, tval, coef, base)
        row = {}
        for threads in (1, cores):
            numba.set_num_threads(threads)
            _, dt = _timed(kernels.candidates, call, np.uint64(0), n, empty, cidx, uidx, tpos, tval, coef, base)
            row[f"seeds_per_s_{threads}_core{'s' if threads > 1 else ''}"] = n / dt
        numba.set_num_threads(cores)
        out[name] = row
        _say(f"  stage 1 {name:<42}" + "  ".join(f"{k}: {v / 1e6:8.1f} M" for k, v in row.items()))
    return {"cores": cores, "calls": out}


def _warm_up(spec, seed):
    """Compile both stages outside the timing: a range around the planted seed reaches stage 2."""
    lo = seed & ~0xFFFF
    search.sieve_range(spec, lo, lo + (1 << 16), progress_every=1e9)


def _sweep(name, mod, window, skip):
    seed = random.randrange(1 << 32)
    draws, _ = synthetic.generate(name, seed, skip, 0, 2 * window + 1, mod, 0.0, 1)
    spec = search.SieveSpec(name, tuple(draws), mod, skip, skip, 0, 0, window, 1.0)
    _warm_up(spec, seed)
    records, stats = search.sieve_range(spec, 0, 1 << 32, progress_every=30.0, label=f"{name} 2^32: ")
    found = any(r["seed"] == seed for r in records)
    return {"wall_s": stats["elapsed_s"], "seeds_per_s": stats["seeds_per_s"], "planted_seed_found": found,
            "survivors": len(records), "window": window, "mod": mod}


SWEEPS = (
    ("xorshift32", 1000, 8),  # exact 8-draw window
    ("mt19937", 1 << 32, 1),  # one raw 32-bit output: php_mt_seed's case
    ("glibc.rand", 1000, 8),  # srand(seed); rand() % 1000
    ("java.util.Random.nextInt", 1000, 8),  # new Random(seed).nextInt(1000), 32-bit seeds
)


def bench_sweeps():
    """Full 2^32 sweeps of single calls (one skip), with the planted seed found."""
    out = {}
    for name, mod, window in SWEEPS:
        res = _sweep(name, mod, window, 0)
        out[name] = res
        _say(f"  2^32 sweep {name}: {res['wall_s']:.1f} s ({res['seeds_per_s'] / 1e6:.1f} M seeds/s), "
             f"planted seed found: {res['planted_seed_found']}, survivors {res['survivors']}")
    return out


PEER = REPO.parent / "shared" / "peers" / "php_mt_seed"


def _seedsift_sweep(name, draws, mod, seed):
    spec = search.SieveSpec(name, tuple(draws * 3), mod, 0, 0, 0, 0, 1, 1.0)
    _warm_up(spec, seed)
    records, stats = search.sieve_range(spec, 0, 1 << 32, progress_every=30.0, label=f"{name} 2^32: ")
    return {"wall_s": stats["elapsed_s"], "seeds_per_s": stats["seeds_per_s"],
            "planted_seed_found": any(r["seed"] == seed for r in records)}


def bench_php_mt_seed(source=PEER, rounds=3):
    """One paired run on the same cores: php_mt_seed (built here from its public source, in a
    temporary folder) and seedsift searching all 2^32 seeds for one PHP 7.1+ mt_rand() output.

    The two sweeps alternate for ``rounds`` rounds and the ratio is the median of the rounds'
    ratios, so a drift in the machine's speed (a shared or virtual machine's neighbours, its clock)
    falls on both sides. seedsift's php.mt_rand.unbounded (the same task, PHP's own call) runs in
    the first round.
    """
    src = Path(source) / "php_mt_seed.c"
    if not src.is_file():
        _say(f"  php_mt_seed: no source at {src} (give --php-mt-seed DIR): paired figure skipped")
        return {"skipped": f"no php_mt_seed source at {src}"}
    seed = random.randrange(1 << 32)
    value = synthetic.generate("php.mt_rand.unbounded", seed, 0, 0, 1, 1 << 31, 0.0, 1)[0][0]
    raw = synthetic.generate("mt19937", seed, 0, 0, 1, 1 << 32, 0.0, 1)[0]
    out = {"value": value, "rounds": []}
    with tempfile.TemporaryDirectory(prefix="php_mt_seed-") as tmp:
        binary = Path(tmp) / "php_mt_seed"
        subprocess.run(["gcc", "-Wall", "-march=native", "-mtune=generic", "-O2", "-fomit-frame-pointer",
                        "-funroll-loops", "-fopenmp", str(src), "-o", str(binary)], check=True, capture_output=True)
        for r in range(rounds):
            t0 = time.perf_counter()
            done = subprocess.run([str(binary), str(value)], check=True, capture_output=True, text=True)
            peer_wall = time.perf_counter() - t0
            speeds = [float(m) for m in re.findall(r"speed ([0-9.]+) Mseeds/s", done.stdout + done.stderr)]
            # php_mt_seed first sweeps PHP 3.0.7-5.2.0 (a cheaper algorithm), then 5.2.1+; its last
            # speed figure is that of the 5.2.1+ sweep, the one comparable with ours.
            peer_speed = speeds[-1] * 1e6 if speeds else None
            peer = {"wall_s": peer_wall, "seeds_per_s_5_2_1_plus": peer_speed,
                    "planted_seed_found": f"= {seed} " in done.stdout or f"= {seed}\n" in done.stdout}
            ours = {"mt19937": _seedsift_sweep("mt19937", raw, 1 << 32, seed)}
            if r == 0:
                ours["php.mt_rand.unbounded"] = _seedsift_sweep("php.mt_rand.unbounded", [value], 1 << 31, seed)
            for row in ours.values():
                row["ratio_to_php_mt_seed"] = row["seeds_per_s"] / peer_speed if peer_speed else None
            out["rounds"].append({"php_mt_seed": peer, "seedsift": ours})
            _say(f"  round {r + 1}: php_mt_seed (5.2.1+ sweep) "
                 f"{peer_speed / 1e6 if peer_speed else float('nan'):.1f} M seeds/s, {peer_wall:.1f} s in all; "
                 + "; ".join(f"seedsift {name} {row['seeds_per_s'] / 1e6:.1f} M seeds/s "
                             f"({row['ratio_to_php_mt_seed']:.2f}x)" for name, row in ours.items()))
    ratios = [r["seedsift"]["mt19937"]["ratio_to_php_mt_seed"] for r in out["rounds"]]
    out["ratio_mt19937_median"] = float(np.median(ratios)) if None not in ratios else None
    if out["ratio_mt19937_median"] is not None:
        _say(f"  seedsift mt19937 / php_mt_seed, median of {rounds} rounds: {out['ratio_mt19937_median']:.2f}x")
    return out


def _fake_survivors(n, rng, families=("xorshift32", "pcg32", "java_random")):
    fams = rng.choice(len(families), n)
    seeds = rng.choice(1 << 32, n, replace=False)
    skips = rng.integers(0, 4, n)
    return [{"seed": int(s), "prng_type": families[f], "skip": int(k), "burn": 0, "window_start": 1, "window": 4,
             "forward_matches": 1, "reverse_matches": 1, "forward_match_rate": 0.25, "reverse_match_rate": 0.25,
             "bidirectional": True} for s, f, k in zip(seeds, fams, skips)]


def _run_jobs(cmds, parallel):
    """Run commands ``parallel`` at a time; returns [(wall_s, peak_rss_mb)] per command.

    The peak memory is the one each job logs itself (seedsift.cli.run): a forked child's
    ru_maxrss would include the benchmark process's own memory.
    """
    results = [None] * len(cmds)
    running = {}
    pending = list(enumerate(cmds))
    while pending or running:
        while pending and len(running) < parallel:
            i, cmd = pending.pop(0)
            proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
            running[proc.pid] = (i, time.perf_counter(), proc)
        pid, status, _ = os.wait4(-1, 0)
        i, t0, proc = running.pop(pid)
        err = proc.stderr.read()
        if status != 0:
            raise RuntimeError(f"benchmark job failed: {cmds[i]}\n{err[-2000:]}")
        peak = [float(line.split("peak memory ")[1].split()[0]) for line in err.splitlines() if "peak memory " in line]
        results[i] = (time.perf_counter() - t0, peak[-1] if peak else float("nan"))
    return results


def bench_scoring(n_e2e=400_000, shards=8):
    """Survivors scored per second (2,000-draw training history), then partition -> score ->
    aggregate end to end for ``n_e2e`` survivors with per-job peak RSS."""
    from seedsift.scoring import chunks

    rng = np.random.default_rng(0)
    train = rng.integers(0, 1000, 2000).tolist()
    holdout = rng.integers(0, 1000, 500).tolist()
    recs = _fake_survivors(20000, rng)
    # Warm up at full batch size: the first batch of a job pays for touching fresh memory once.
    chunks.score_records(recs[:chunks.BATCH], train, holdout, 1000, [8, 125, 1000])
    out = {"train_draws": 2000, "holdout_draws": 500, "batch": chunks.BATCH}
    cores = numba.config.NUMBA_NUM_THREADS
    for threads in (1, cores):
        numba.set_num_threads(threads)
        _, dt = _timed(chunks.score_records, recs, train, holdout, 1000, [8, 125, 1000])
        out[f"survivors_per_s_{threads}"] = len(recs) / dt
    numba.set_num_threads(cores)
    _say(f"  scoring (features, label and the JSON-ready record; no file I/O): "
         f"{out['survivors_per_s_1']:,.0f} survivors/s on 1 core, {out[f'survivors_per_s_{cores}']:,.0f}/s on {cores}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_json_array(tmp / "survivors.json", _fake_survivors(n_e2e, rng))
        (tmp / "train.json").write_text(json.dumps(train))
        (tmp / "holdout.json").write_text(json.dumps(holdout))
        params = json.dumps({"mod": 1000, "scoring": {"residue_mods": [8, 125, 1000]}})
        py = sys.executable
        chunks = [str(tmp / f"chunk_{i}.json") for i in range(shards)]
        scored = [str(tmp / f"scored_{i}.json") for i in range(shards)]
        t0 = time.perf_counter()
        part = _run_jobs([[py, str(REPO / "scripts/partition_survivors.py"), "--survivors", str(tmp / "survivors.json"),
                           "--chunks", *chunks]], 1)
        score = _run_jobs([[py, str(REPO / "scripts/score_chunk.py"), "--chunk", c, "--train", str(tmp / "train.json"),
                            "--holdout", str(tmp / "holdout.json"), "--params", params, "--output", s,
                            "--threads", "1"] for c, s in zip(chunks, scored)], cores)
        agg = _run_jobs([[py, str(REPO / "scripts/aggregate_scores.py"), "--scored", *scored, "--train",
                          str(tmp / "train.json"), "--holdout", str(tmp / "holdout.json"), "--params", params,
                          "--output", str(tmp / "out.json"), "--summary", str(tmp / "summary.json"),
                          "--global-features", str(tmp / "global.json")]], 1)
        wall = time.perf_counter() - t0
        out["e2e"] = {
            "survivors": n_e2e, "shards": shards, "parallel_jobs": cores, "wall_s": wall,
            "survivors_per_s": n_e2e / wall,
            "partition": {"wall_s": part[0][0], "peak_rss_mb": part[0][1]},
            "score_chunk": {"wall_s_max": max(w for w, _ in score), "peak_rss_mb_max": max(r for _, r in score)},
            "aggregate": {"wall_s": agg[0][0], "peak_rss_mb": agg[0][1]},
            "aggregate_mb": (tmp / "out.json").stat().st_size / 1e6,
        }
    e = out["e2e"]
    _say(f"  scoring end to end, {n_e2e:,} survivors in {shards} shards: {e['wall_s']:.1f} s "
         f"({e['survivors_per_s']:,.0f}/s); peak RSS partition {e['partition']['peak_rss_mb']:.0f} MB, "
         f"chunk job {e['score_chunk']['peak_rss_mb_max']:.0f} MB, aggregate {e['aggregate']['peak_rss_mb']:.0f} MB; "
         f"aggregate file {e['aggregate_mb']:.0f} MB")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections: " + ", ".join(SECTIONS))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/bench.json"))
    ap.add_argument("--php-mt-seed", type=Path, default=PEER, help="folder with php_mt_seed.c (default: %(default)s)")
    ap.add_argument("--php-mt-seed-rounds", type=int, default=3,
                    help="alternating rounds of the paired php_mt_seed run (default: %(default)s)")
    ap.add_argument("--scoring-survivors", type=int, default=400_000)
    ap.add_argument("--load-mb", type=float, default=1000, help="size of the generated survivors file to load")
    ap.add_argument("--prediction-records", type=int, default=100_000,
                    help="survivors of the Steps 6-7 memory benchmark (100,000: about 206 MB)")
    ap.add_argument("--lift-seeds", type=int, default=5, help="seeds of the lift cases (each runs the three cases)")
    args = ap.parse_args(argv)
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(wanted) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown sections {sorted(unknown)}; choose from {SECTIONS}")
    result = {"machine": {"cpus": os.cpu_count(), "numba_threads": numba.config.NUMBA_NUM_THREADS}}
    if "sieve" in wanted:
        _say("Sieve stage 1:")
        result["sieve_stage1"] = bench_stage1()
    if "sweeps" in wanted:
        _say("Full 2^32 sweeps:")
        result["sweeps"] = bench_sweeps()
    if "php_mt_seed" in wanted:
        _say("Paired with php_mt_seed (same cores, one mt_rand() output, all 2^32 seeds):")
        result["php_mt_seed"] = bench_php_mt_seed(args.php_mt_seed, args.php_mt_seed_rounds)
    if "scoring" in wanted:
        _say("Step 3 scoring:")
        result["scoring"] = bench_scoring(args.scoring_survivors)
    if "training" in wanted:
        from seedsift.bench import training as bench_training

        _say("Step 5 training (1 GB survivors file; one 5-fold trial per type on 100,000 x 50):")
        result["training"] = {
            "load": bench_training.bench_load(args.load_mb),
            "trials": bench_training.bench_trials(100_000, 50, 5, trials=(0,)),
        }
    if "prediction" in wanted:
        from seedsift.bench import prediction as bench_prediction

        _say("Steps 6-7 (prediction and evaluation as the pipeline runs them):")
        result["prediction"] = bench_prediction.bench_prediction(args.prediction_records)
    if "lift" in wanted:
        from seedsift.bench import lift as bench_lift

        _say("What the model adds (planted, null and switching histories, Steps 2-7):")
        result["lift"] = bench_lift.bench_lift(range(args.lift_seeds))
    if "cluster" in wanted:
        from seedsift.bench import cluster as bench_cluster

        _say("Cluster placer overhead (100 tiny jobs over loopback ssh vs the local executor):")
        result["cluster"] = bench_cluster.run_benchmark(100, copied=False)
        _say(f"  overhead {result['cluster']['overhead_per_job_s']:.3f} s per job")
    if "state" in wanted:
        from seedsift.bench import state as bench_state

        _say("State recovery (java.util.Random.nextInt(1000), MT19937 raw and % 1000, xorshift128 % 1000):")
        result["state"] = bench_state.run()
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    write_json(args.out, result)
    _say(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
