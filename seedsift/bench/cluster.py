"""The cluster benchmark: ``make cluster-bench``.

    python -m seedsift.bench.cluster [--only schedule,overhead,scale] [--jobs 100] [--scale-jobs 1000]
                                     [--durations-from DIR] [--head-cores 16] [--output benchmarks/cluster_bench.json]

Three sections:

* ``schedule``: the per-kind schedule of the seed's cluster (profiles/cluster/nodes.yaml: a CUDA
  head with 2 GPUs, two ROCm rigs with 12 each) for the default DAG, simulated
  (seedsift.cluster.simulate) before and after per-kind accounting: makespan, busy share per
  node and per kind, where each job type ran and how long placers waited holding a slot. Once
  with one job per GPU (the inventory as shipped) and once with one job per node (the seed's
  coordinator). Job lengths come from a finished default run (``--durations-from``, default: a
  run made here first, which takes a few minutes on 2 cores).
* ``overhead``: the per-job cost of the cluster profile: N tiny jobs two at a time, with the
  local executor, then on two loopback ssh nodes sharing the head's files, then on two that get
  copies over rsync (``shared: false``). Target: <= 1.5 s per job over the local executor.
* ``scale``: a DAG of 1,000 trivial placed jobs over 4 loopback nodes (2 slots each): the dry
  run's time (target <= 15 s), the run's wall time, every output present, the run manifest
  complete and no node over its limit.

The loopback sections start private sshd servers on 127.0.0.x (tests/loopback.py): they need
root, openssh-server and rsync. Figures depend on the machine; run it on an idle one.
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

from seedsift.cluster import inventory, place, run_manifest, simulate
from seedsift.jsonio import write_json
from seedsift.manifests import REPO_ROOT
from seedsift.pipeline.rerun import snakemake_executable

REPO = REPO_ROOT
SEED_INVENTORY = REPO / "profiles" / "cluster" / "nodes.yaml"
TOY = REPO / "tests" / "cluster" / "toy" / "Snakefile"
TARGET_S = 1.5
DRY_RUN_TARGET_S = 15.0
SLOTS = 2
SECTIONS = ("schedule", "overhead", "scale")


def _load_loopback():
    # The loopback ssh nodes are a fixture of the test suite, not of the library; this benchmark
    # runs from a checkout, like the tests.
    spec = importlib.util.spec_from_file_location("loopback", REPO_ROOT / "tests" / "loopback.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


loopback = _load_loopback()

SNAKEFILE = '''\
N = int(config["n_jobs"])


rule all:
    input:
        expand("out/{i}.txt", i=range(N)),


rule seed:
    output:
        "seed.txt",
    shell:
        "echo 1 > {output:q}"


rule tiny:
    input:
        "seed.txt",
    output:
        "out/{i}.txt",
    shell:
        "python -m seedsift.cluster.place --rule tiny --wildcards {wildcards:q} --inputs {input:q} --outputs {output:q}"
        " -- cp {input:q} {output:q}"
'''


def _env():
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    for key in (place.ENV_NODES, place.ENV_LOCKDIR, place.ENV_SSH_CONFIG):
        env.pop(key, None)
    return env


def _run(cmd, cwd, env, what="benchmark run"):
    start = time.monotonic()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.monotonic() - start
    if done.returncode != 0:
        raise loopback.LoopbackError(f"{what} failed (exit {done.returncode}): {done.stderr.strip()[-800:]}")
    return wall, done


# --------------------------------------------------------------------------- schedule


def default_run(workdir, cores=2):
    """Run the default pipeline in ``workdir`` (for its job lengths); returns its wall time."""
    wall, _ = _run([snakemake_executable(), "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--cores", str(cores)],
                   workdir, _env(), "the default run")
    return wall


def default_dag(inv_path, workdir):
    """The default DAG's jobs, with the resources the cluster profile gives them under ``inv_path``."""
    env = _env()
    env[place.ENV_NODES] = str(inv_path)
    _, done = _run([snakemake_executable(), "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--profile",
                    str(REPO / "profiles" / "cluster"), "-n", "--forceall"], workdir, env, "the dry run")
    return simulate.jobs_from_dry_run(done.stdout + done.stderr)


def _one_job_per_node(inv_path, out):
    data = __import__("yaml").safe_load(Path(inv_path).read_text())
    data.setdefault("defaults", {})["max_jobs"] = 1
    for spec in data["nodes"].values():
        spec["max_jobs"] = 1
    Path(out).write_text(__import__("yaml").safe_dump(data, sort_keys=False))
    return Path(out)


def schedule(durations_from=None, head_cores=16):
    """The simulated per-kind schedule of the seed's cluster for the default DAG, before and after."""
    with tempfile.TemporaryDirectory(prefix="seedsift-schedule-") as tmp:
        tmp = Path(tmp)
        measured = None
        if durations_from is None:
            durations_from = tmp / "default"
            durations_from.mkdir()
            measured = round(default_run(durations_from), 1)
        variants = {"one_job_per_gpu": SEED_INVENTORY,
                    "one_job_per_node": _one_job_per_node(SEED_INVENTORY, tmp / "one_per_node.yaml")}
        out = {"durations_from": str(durations_from) if measured is None else "a default run made for this benchmark",
               "default_run_wall_s": measured, "head_cores": head_cores, "variants": {}}
        for name, path in variants.items():
            dag_dir = tmp / f"dag-{name}"
            dag_dir.mkdir()
            jobs = default_dag(path, dag_dir)
            missing = simulate.durations_from_run(durations_from, jobs)
            inv = inventory.load(path)
            result = {"jobs": len(jobs), "jobs_without_a_length": missing}
            for policy in ("before", "after"):
                result[policy] = simulate.simulate(jobs, inv, policy, head_cores=head_cores).summary(inv, jobs)
            before, after = result["before"]["makespan_s"], result["after"]["makespan_s"]
            result["speedup"] = round(before / after, 2) if after else None
            out["variants"][name] = result
        return out


# --------------------------------------------------------------------------- overhead


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


def run_benchmark(n_jobs=100, workdir=None, copied=True):
    """The overhead section (``make bench`` calls it too): local executor against the cluster
    profile on two loopback nodes, shared and (``copied``) copying."""
    with tempfile.TemporaryDirectory(prefix="seedsift-cluster-bench-") as tmp:
        root = Path(workdir or tmp)
        (root / "Snakefile").write_text(SNAKEFILE)
        env = _env()
        common = ["-s", str(root / "Snakefile"), "--config", f"n_jobs={n_jobs}", "--workflow-profile", "none"]
        snakemake = snakemake_executable()

        local_dir = root / "local"
        local_dir.mkdir()
        wall_local, _ = _run([snakemake, *common, "-d", str(local_dir), "--cores", str(SLOTS), "--scheduler", "greedy"],
                             root, env)
        local_per_job = wall_local * SLOTS / n_jobs
        figures = {"jobs": n_jobs, "slots": SLOTS,
                   "local": {"wall_s": round(wall_local, 2), "seconds_per_job": round(local_per_job, 3)}}
        for mode in ("shared", "copied") if copied else ("shared",):
            nodes = [loopback.LoopbackNode("node-a", "127.0.0.2", shared=mode == "shared"),
                     loopback.LoopbackNode("node-b", "127.0.0.3", shared=mode == "shared")]
            with loopback.LoopbackCluster(nodes, root=root / f"ssh-{mode}") as cluster:
                env[place.ENV_NODES] = str(cluster.write_inventory(root / f"nodes-{mode}.yaml",
                                                                   path_dirs=[os.path.dirname(sys.executable)]))
                run_dir = root / f"cluster-{mode}"
                run_dir.mkdir()
                wall, _ = _run([snakemake, *common, "-d", str(run_dir), "--profile", str(REPO / "profiles/cluster"),
                                "--cores", str(SLOTS)], root, env)
                logins = sum(cluster.logins(n.name) for n in nodes)
            env.pop(place.ENV_NODES)
            manifest = json.loads(run_manifest.write(run_dir).read_text())
            per_job = wall * SLOTS / n_jobs
            figures[mode] = {
                "wall_s": round(wall, 2), "seconds_per_job": round(per_job, 3),
                "overhead_per_job_s": round(per_job - local_per_job, 3),
                "within_target": per_job - local_per_job <= TARGET_S,
                "completed": manifest["totals"]["completed"], "ssh_logins": logins, **_attempt_stats(manifest),
            }
    # The figures make bench reads (the shared nodes' overhead).
    figures["cluster"] = figures["shared"]
    figures["overhead_per_job_s"] = figures["shared"]["overhead_per_job_s"]
    figures["target_s"] = TARGET_S
    figures["within_target"] = all(figures[m]["within_target"] for m in ("shared", "copied") if m in figures)
    figures["cpu_count"] = os.cpu_count()
    figures["measured"] = datetime.now().astimezone().isoformat(timespec="seconds")
    return figures


# --------------------------------------------------------------------------- scale


def scale(n_jobs=1000):
    """The wide DAG of trivial jobs over 4 loopback nodes: dry run, run, completeness, limits."""
    with tempfile.TemporaryDirectory(prefix="seedsift-scale-") as tmp:
        root = Path(tmp)
        nodes = [loopback.LoopbackNode(f"node-{c}", f"127.0.0.{i + 2}", gpu_kind="cuda" if i < 2 else "rocm",
                                       gpus=["0", "1"], max_jobs=2) for i, c in enumerate("abcd")]
        with loopback.LoopbackCluster(nodes, root=root / "ssh") as cluster:
            env = _env()
            env[place.ENV_NODES] = str(cluster.write_inventory(root / "nodes.yaml", path_dirs=[os.path.dirname(sys.executable)],
                                                               job_types={"cudaonly": ["cuda"]}))
            run_dir = root / "run"
            run_dir.mkdir()
            cmd = [snakemake_executable(), "-s", str(TOY), "-d", str(run_dir), "--profile", str(REPO / "profiles/cluster"),
                   "--cores", "8", "--config", f"n_jobs={n_jobs}", "trivial=1", "cuda_every=10"]
            dry, _ = _run(cmd + ["-n", "--quiet", "rules"], root, env, "the dry run")
            wall, _ = _run(cmd, root, env, "the scale run")
        manifest = json.loads(run_manifest.write(run_dir).read_text())
        outputs = list((run_dir / "tiny").rglob("*.json"))
        valid = 0
        for path in outputs:
            data = json.loads(path.read_text())
            valid += data["value"] == (40503 * 2654435761 + data["index"] * 40503) % 1000003
        nodes_seen = manifest["nodes"]
        return {
            "jobs": n_jobs, "nodes": 4, "slots": 8,
            "dry_run_s": round(dry, 2), "dry_run_target_s": DRY_RUN_TARGET_S, "dry_run_within_target": dry <= DRY_RUN_TARGET_S,
            "wall_s": round(wall, 1), "seconds_per_job": round(wall / n_jobs, 3),
            "outputs_present": len(outputs), "outputs_valid": valid,
            "manifest_totals": manifest["totals"],
            "per_node": {n: {"completed": v["completed"], "limit": v["limit"], "max_concurrent": v["max_concurrent"]}
                         for n, v in nodes_seen.items()},
            "never_over_limit": all(v["max_concurrent"] <= v["limit"] for v in nodes_seen.values()),
            "cpu_count": os.cpu_count(),
        }


# --------------------------------------------------------------------------- the command line


def _print_schedule(result):
    print(f"Simulated schedule of the default DAG on the seed's cluster (head: {result['head_cores']} cores; "
          f"job lengths: {result['durations_from']})")
    for name, variant in result["variants"].items():
        print(f"  {name} ({variant['jobs']} jobs): speed-up {variant['speedup']}x")
        for policy in ("before", "after"):
            r = variant[policy]
            nodes = ", ".join(f"{n} {v:.0%}" for n, v in r["busy_share_by_node"].items())
            kinds = ", ".join(f"{k} {v:.0%}" for k, v in r["busy_share_by_kind"].items())
            print(f"    {policy:6s}: makespan {r['makespan_s']:8.1f} s; busy {nodes} (by kind: {kinds}); placers waited "
                  f"{r['placer_wait_s']:.0f} s; a slot idle while a job that could use it waited: "
                  f"{r['idle_slot_s_while_work_waited']:.0f} slot-s")
            print(f"            placed: {r['placed_jobs_by_type_and_kind']}")


def main(argv=None):
    """Run the chosen sections, print the figures and write them as JSON."""
    ap = argparse.ArgumentParser(prog="python -m seedsift.bench.cluster", description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of {', '.join(SECTIONS)}")
    ap.add_argument("--jobs", type=int, default=100, help="tiny jobs per overhead run (default: 100)")
    ap.add_argument("--scale-jobs", type=int, default=1000, help="jobs of the scale run (default: 1000)")
    ap.add_argument("--durations-from", type=Path, help="a finished default run's directory for the job lengths")
    ap.add_argument("--head-cores", type=int, default=16, help="the simulated head node's cores (default: 16)")
    ap.add_argument("--output", type=Path, default=Path("benchmarks/cluster_bench.json"))
    args = ap.parse_args(argv)
    wanted = [s for s in args.only.split(",") if s]
    unknown = sorted(set(wanted) - set(SECTIONS))
    if unknown:
        ap.error(f"--only: unknown sections {unknown}; allowed: {', '.join(SECTIONS)}")
    if {"overhead", "scale"} & set(wanted):
        reason = loopback.unavailable_reason()
        if reason:
            raise loopback.LoopbackError(f"cannot start loopback ssh nodes: {reason}")
    figures = {}
    if "schedule" in wanted:
        figures["schedule"] = schedule(args.durations_from, args.head_cores)
        _print_schedule(figures["schedule"])
    if "overhead" in wanted:
        o = figures["overhead"] = run_benchmark(args.jobs)
        print(f"{o['jobs']} tiny jobs, {o['slots']} at a time: local executor {o['local']['seconds_per_job']:.3f} s per job")
        for mode in ("shared", "copied"):
            c = o[mode]
            print(f"  {mode:6s} nodes: {c['seconds_per_job']:.3f} s per job, overhead {c['overhead_per_job_s']:.3f} s "
                  f"(target <= {TARGET_S} s: {'met' if c['within_target'] else 'NOT met'}); attempt {c['mean_attempt_s']} s, "
                  f"gap {c['mean_gap_between_jobs_on_a_node_s']} s; {c['completed']} completed, {c['ssh_logins']} ssh logins")
    if "scale" in wanted:
        s = figures["scale"] = scale(args.scale_jobs)
        print(f"{s['jobs']} trivial jobs over {s['nodes']} loopback nodes ({s['slots']} slots): dry run {s['dry_run_s']} s "
              f"(target <= {DRY_RUN_TARGET_S} s: {'met' if s['dry_run_within_target'] else 'NOT met'}); "
              f"run {s['wall_s']} s; outputs {s['outputs_valid']}/{s['outputs_present']} valid; "
              f"manifest {s['manifest_totals']['completed']}/{s['manifest_totals']['expected']} completed; "
              f"never over a node's limit: {s['never_over_limit']} {s['per_node']}")
    write_json(args.output, figures)
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    from seedsift.cli import run

    sys.exit(run(main))
