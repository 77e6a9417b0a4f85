"""Run snakemake and show the sieve's progress with the time left (the shards log it; this adds it up).

    python -m seedsift.pipeline.progress [--every 10] -- snakemake recover [snakemake options]

Snakemake's own output passes through. Every ``--every`` seconds, while sieve shards run, one
line sums their latest progress records (``logs/sieve/<call>/shard_<i>.log``): the share of
all seeds done, the combined rate and the time left. Exits with snakemake's status.
"""

import argparse
import re
import subprocess
import sys
import threading
from pathlib import Path

from seedsift.cli import split_at_dashdash

# What seedsift.sieve.search logs: "<label>12.5% of 4194304 seeds, 3.1 M seeds/s, 40 s left, 0 survivors so far"
PROGRESS = re.compile(r"([0-9.]+)% of (\d+) seeds, ([0-9.]+) M seeds/s, ([0-9.]+) s left")


def shard_progress(text):
    """(done seeds, total seeds, seeds/s) from the last progress record of a shard log, or None."""
    last = None
    for match in PROGRESS.finditer(text):
        last = match
    if last is None:
        return None
    share, total, rate = float(last.group(1)) / 100.0, int(last.group(2)), float(last.group(3)) * 1e6
    return share * total, total, rate


def summary_line(records, planned_seeds=None):
    """One line for the shards' progress records [(done, total, rate)], or None when there is none."""
    records = [r for r in records if r is not None]
    if not records:
        return None
    done = sum(r[0] for r in records)
    total = int(max(planned_seeds or 0, sum(r[1] for r in records)))
    running = [r for r in records if r[0] < r[1]]
    rate = sum(r[2] for r in running) or sum(r[2] for r in records)
    left = (total - done) / rate if rate > 0 else float("inf")
    return (f"sieve: {100.0 * done / total:.1f}% of {total:,} seeds searched, {rate / 1e6:,.1f} M seeds/s, "
            f"about {_duration(left)} left")


def _duration(seconds):
    if seconds == float("inf"):
        return "an unknown time"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _watch(workdir, every, stop, out):
    shown = None
    while not stop.wait(every):
        logs = sorted((workdir / "logs" / "sieve").glob("*/shard_*.log"))
        line = summary_line([shard_progress(p.read_text(encoding="utf-8", errors="replace")) for p in logs])
        if line and line != shown:
            print(line, file=out, flush=True)
            shown = line


def _workdir(args):
    for i, a in enumerate(args):
        if a in ("-d", "--directory") and i + 1 < len(args):
            return Path(args[i + 1])
        if a.startswith("--directory="):
            return Path(a.split("=", 1)[1])
    return Path.cwd()


def main(argv=None):
    options, command = split_at_dashdash(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(prog="python -m seedsift.pipeline.progress", description=__doc__.split("\n\n")[0])
    ap.add_argument("--every", type=float, default=10.0, help="seconds between progress lines (default 10)")
    args = ap.parse_args(options)
    if not command:
        ap.error("give the snakemake command after --")
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(_workdir(command), args.every, stop, sys.stderr), daemon=True)
    watcher.start()
    try:
        return subprocess.run(command, check=False).returncode
    finally:
        stop.set()
        watcher.join(timeout=1.0)


if __name__ == "__main__":
    sys.exit(main())
