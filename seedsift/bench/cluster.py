"""Per-job overhead of the cluster profile (placer + ssh) against the local executor: ``make cluster-bench``.

    python -m seedsift.bench.cluster [--jobs 100] [--output bench/out/cluster_bench.json]

Runs a workflow of N tiny jobs (each ``touch``es its output through the placer) twice: with the
local executor at 2 cores (the placer runs the command in place), and with the cluster profile
on two loopback ssh nodes of one slot each (the test suite's tests/loopback.py; needs root and openssh-server), so
both runs have two jobs going at a time. Reported per job:

* ``seconds_per_job``: wall time x 2 slots / N, the slot time one job costs end to end;
* ``overhead_per_job_s``: the cluster's seconds_per_job minus the local one (target <= 1.5 s);
* from the run manifest: the mean time of a placed attempt (ssh connection, remote shell and
  ``touch``) and the mean idle gap on a node between one job's end and the next one's start.
"""

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from seedsift.cluster import place, run_manifest
from seedsift.jsonio import write_json
from seedsift.manifests import REPO_ROOT
from seedsift.pipeline.rerun import snakemake_executable

REPO = REPO_ROOT


def _load_loopback():
    # The loopback ssh nodes are a fixture of the test suite, not of the library; this benchmark
    # runs from a checkout, like the tests.
    spec = importlib.util.spec_from_file_location("loopback", REPO_ROOT / "tests" / "loopback.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


loopback = _load_loopback()

TARGET_S = 1.5
SLOTS = 2

SNAKEFILE = '''\
N = int(config["n_jobs"])


rule all:
    input:
        expand("out/{i}.txt", i=range(N)),


rule tiny:
    output:
        "out/{i}.txt",
    shell:
        "python -m seedsift.cluster.place --rule tiny --wildcards {wildcards:q} -- touch {output:q}"
'''


def _run(cmd, cwd, env):
    start = time.monotonic()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.monotonic() - start
    if done.returncode != 0:
        raise loopback.LoopbackError(f"benchmark run failed (exit {done.returncode}): {done.stderr.strip()[-800:]}")
    return wall


def _attempt_stats(manifest):
    seconds, gaps = [], []
    per_node = {}
    for job in manifest["jobs"]:
        for att in job["attempts"]:
            if att["seconds"] is not None:
                seconds.append(att["seconds"])
                per_node.setdefault(att["node"], []).append(
                    (datetime.fromisoformat(att["start"]).timestamp(), datetime.fromisoformat(att["end"]).timestamp()))
    for spans in per_node.values():
        spans.sort()
        gaps += [b[0] - a[1] for a, b in zip(spans, spans[1:])]
    return {
        "mean_attempt_s": round(statistics.fmean(seconds), 3) if seconds else None,
        "mean_gap_between_jobs_on_a_node_s": round(statistics.fmean(gaps), 3) if gaps else None,
        "jobs_per_node": {n: len(s) for n, s in sorted(per_node.items())},
    }


def run_benchmark(n_jobs=100, workdir=None):
    """Run both workflows in ``workdir`` (a temporary folder by default) and return the figures."""
    with tempfile.TemporaryDirectory(prefix="seedsift-cluster-bench-") as tmp:
        root = Path(workdir or tmp)
        (root / "Snakefile").write_text(SNAKEFILE)
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
        env.pop(place.ENV_NODES, None)
        env.pop(place.ENV_LOCKDIR, None)
        common = ["-s", str(root / "Snakefile"), "--config", f"n_jobs={n_jobs}", "--workflow-profile", "none"]
        snakemake = snakemake_executable()

        local_dir = root / "local"
        local_dir.mkdir()
        wall_local = _run([snakemake, *common, "-d", str(local_dir), "--cores", str(SLOTS), "--scheduler", "greedy"],
                          root, env)

        nodes = [loopback.LoopbackNode("node-a", "127.0.0.2"), loopback.LoopbackNode("node-b", "127.0.0.3")]
        with loopback.LoopbackCluster(nodes, root=root / "ssh") as cluster:
            env[place.ENV_NODES] = str(cluster.write_inventory(root / "nodes.yaml"))
            cluster_dir = root / "cluster"
            cluster_dir.mkdir()
            wall_cluster = _run([snakemake, *common, "-d", str(cluster_dir), "--profile", str(REPO / "profiles/cluster"),
                                 "--resources", f"gpu_slots={SLOTS}", "--set-resources", "tiny:gpu_slots=1",
                                 "--set-threads", "tiny=0"], root, env)
            logins = sum(cluster.logins(n.name) for n in nodes)
        manifest = json.loads(run_manifest.write(cluster_dir).read_text())

    local_per_job = wall_local * SLOTS / n_jobs
    cluster_per_job = wall_cluster * SLOTS / n_jobs
    return {
        "jobs": n_jobs,
        "slots": SLOTS,
        "local": {"wall_s": round(wall_local, 2), "seconds_per_job": round(local_per_job, 3)},
        "cluster": {
            "wall_s": round(wall_cluster, 2),
            "seconds_per_job": round(cluster_per_job, 3),
            "completed": manifest["totals"]["completed"],
            "ssh_logins": logins,
            **_attempt_stats(manifest),
        },
        "overhead_per_job_s": round(cluster_per_job - local_per_job, 3),
        "target_s": TARGET_S,
        "within_target": cluster_per_job - local_per_job <= TARGET_S,
        "cpu_count": os.cpu_count(),
        "measured": datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def main(argv=None):
    """Run the benchmark, print the figures and write them as JSON."""
    ap = argparse.ArgumentParser(prog="python -m seedsift.bench.cluster", description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=100, help="tiny jobs per run (default: 100)")
    ap.add_argument("--output", type=Path, default=Path("bench/out/cluster_bench.json"))
    args = ap.parse_args(argv)
    reason = loopback.unavailable_reason()
    if reason:
        raise loopback.LoopbackError(f"cannot start loopback ssh nodes: {reason}")
    figures = run_benchmark(args.jobs)
    write_json(args.output, figures)
    local, cluster = figures["local"], figures["cluster"]
    print(f"{figures['jobs']} tiny jobs, {figures['slots']} at a time")
    print(f"  local executor : {local['wall_s']:7.2f} s wall, {local['seconds_per_job']:.3f} s per job")
    print(f"  cluster profile: {cluster['wall_s']:7.2f} s wall, {cluster['seconds_per_job']:.3f} s per job "
          f"({cluster['completed']} completed over {cluster['ssh_logins']} ssh logins, jobs per node {cluster['jobs_per_node']})")
    print(f"  placed attempt : {cluster['mean_attempt_s']} s mean; idle gap on a node between jobs: "
          f"{cluster['mean_gap_between_jobs_on_a_node_s']} s mean")
    print(f"  overhead       : {figures['overhead_per_job_s']:.3f} s per job (target <= {TARGET_S} s: "
          f"{'met' if figures['within_target'] else 'NOT met'})")
    print(f"  written to {args.output}")
    return 0


if __name__ == "__main__":
    from seedsift.cli import run

    sys.exit(run(main))
