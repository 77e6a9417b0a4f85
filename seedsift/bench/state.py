"""``make bench`` section ``state``: state recovery times, peak memory and the draws each method needs.

Each figure is measured on fresh random states (64-bit seeds from the operating system), and every
recovery is checked: the recovered state must predict the next 100 draws. The draws needed are
measured, not quoted: for java.util.Random the fewest draws with which every trial recovered the
one true state; for the Mersenne Twister and xorshift128 the draws after which the recovery's own
elimination had pinned the state. The MT recoveries run in a child process so that their peak
memory is their own.

    python -m seedsift.bench.state [--only java,mt_raw,mt_1000,xorshift128] [--trials 10]
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time

from seedsift.cli import peak_rss_mb
from seedsift.prng import runtimes
from seedsift.prng import state as prng_state

AHEAD = 100
CASES = ("java", "mt_raw", "mt_1000", "xorshift128")


def _seed(bits):
    return random.SystemRandom().randrange(1 << bits)


def recover_once(prng, mod, n, seed, skip=0):
    """One timed recovery from ``n`` draws; whether it predicted the next AHEAD draws."""
    calls = runtimes.draws(prng, seed, (n + AHEAD) * (skip + 1), mod)[:: skip + 1]
    t0 = time.perf_counter()
    rec = prng_state.recover(prng, calls[:n], mod, skip, enforce_need=False)
    wall = time.perf_counter() - t0
    later = [j * (skip + 1) for j in range(n, n + AHEAD)]
    ok = rec.outcome == "unique" and prng_state.state_draws(prng, rec.states[0], mod, later) == calls[n:]
    return {"wall_s": wall, "outcome": rec.outcome, "predicts_next_100": ok, "detail": rec.detail,
            "statement": rec.statement}


def _child(prng, mod, n, seed):
    """Run one recovery in a fresh interpreter; its result and its own peak memory."""
    code = ("import json, sys; from seedsift.bench.state import recover_once; from seedsift.cli import peak_rss_mb; "
            f"r = recover_once({prng!r}, {mod}, {n}, {seed}); r['peak_rss_mb'] = peak_rss_mb(); print(json.dumps(r))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_java(trials=10, ns=(5, 6, 7, 8, 10, 12, 16)):
    """java.util.Random.nextInt(1000): time and success per number of draws."""
    recover_once("java.util.Random.nextInt", 1000, 16, _seed(63))  # compile the kernels first
    rows = {}
    for n in ns:
        runs = [recover_once("java.util.Random.nextInt", 1000, n, _seed(63)) for _ in range(trials)]
        walls = [r["wall_s"] for r in runs]
        rows[n] = {"trials": trials, "recovered": sum(r["predicts_next_100"] for r in runs),
                   "median_s": statistics.median(walls), "max_s": max(walls)}
        print(f"  java.util.Random.nextInt(1000) from {n:2d} draws: {rows[n]['recovered']}/{trials} recovered, "
              f"median {rows[n]['median_s']:.2f} s, max {rows[n]['max_s']:.2f} s", flush=True)
    needed = min((n for n, r in rows.items() if r["recovered"] == trials), default=None)
    return {"by_draws": rows, "draws_needed_measured": needed,
            "draws_needed_stated": prng_state.method_for("java.util.Random.nextInt", 1000).needed}


def bench_mt(mod, label):
    """One MT19937 recovery at exactly the stated draws (in a child process) and one with a draw fewer."""
    method = prng_state.method_for("mt19937", mod)
    n = method.needed
    full = _child("mt19937", mod, n, _seed(32))
    out = {"method": method.name, "draws_needed_stated": n, "run": full}
    pinned = full["detail"].get("pinned_after_draws") or (624 if method.name == "untemper and clone" else None)
    out["draws_needed_measured"] = pinned
    print(f"  {label}: {method.name} from {n:,} draws: {full['outcome']}, predicts the next 100: "
          f"{full['predicts_next_100']}, {full['wall_s']:.2f} s, peak memory {full['peak_rss_mb']:.0f} MB; "
          f"the equations pinned the state after {pinned} draws", flush=True)
    return out


def bench_mt_clone():
    """MT19937 from 624 raw outputs: untemper and clone (the 625th output and 100 more check it)."""
    seed = _seed(32)
    calls = runtimes.draws("mt19937", seed, 624 + AHEAD, 1 << 32)
    t0 = time.perf_counter()
    words = [int(w) for w in prng_state.untemper(calls[:624]).tolist()]
    clone = {"generator": "mt19937", "words": words}
    wall = time.perf_counter() - t0
    ok = prng_state.state_draws("mt19937", clone, 1 << 32, range(624, 624 + AHEAD)) == calls[624:]
    rec = _child("mt19937", 1 << 32, 625, seed)
    print(f"  mt19937 raw: clone from 624 outputs in {wall * 1000:.1f} ms (predicts the next 100: {ok}); the whole "
          f"recovery from 625 draws with its check {rec['wall_s']:.3f} s, peak memory {rec['peak_rss_mb']:.0f} MB",
          flush=True)
    return {"clone_s": wall, "clone_predicts_next_100": ok, "draws_needed_measured": 624, "recovery_625": rec}


def bench_xorshift128():
    method = prng_state.method_for("xorshift128", 1000)
    run = recover_once("xorshift128", 1000, method.needed, _seed(32))
    print(f"  xorshift128 % 1000: {method.needed} draws, {run['wall_s'] * 1000:.1f} ms, predicts the next 100: "
          f"{run['predicts_next_100']}", flush=True)
    return {"draws_needed_stated": method.needed, "draws_needed_measured": run["detail"].get("pinned_after_draws"),
            "run": run}


def run(only=CASES, trials=10):
    """Every case in ``only``; the section's JSON."""
    out = {"cpus": os.cpu_count()}
    if "java" in only:
        out["java_nextint_1000"] = bench_java(trials)
    if "mt_raw" in only:
        out["mt19937_raw"] = bench_mt_clone()
    if "mt_1000" in only:
        out["mt19937_mod_1000"] = bench_mt(1000, "mt19937 % 1000")
    if "xorshift128" in only:
        out["xorshift128_mod_1000"] = bench_xorshift128()
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(CASES))
    ap.add_argument("--trials", type=int, default=10)
    args = ap.parse_args(argv)
    print(json.dumps(run([c.strip() for c in args.only.split(",")], args.trials), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
