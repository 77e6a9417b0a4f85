"""The cluster profile against real sshd servers on loopback addresses (loopback).

Two live nodes (127.0.0.2 with CUDA slots, 127.0.0.3 with ROCm slots) and a dead one (127.0.0.4,
nothing listens) listed first, so that a job meets it. Every node's PATH starts with a witness
``python`` that appends what the job saw on the node (its ssh connection, GPU variables, start
and end) to a file, then runs the venv's python: the tests judge placement by that witness and
by the sshd logs, not only by the placer's own records.
"""

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time

import pytest
import yaml
from test_place import _gone, _wait_for

from seedsift.cluster import place, run_manifest

import loopback
from conftest import BIN, REPO, TINY_CONFIG, env, snakemake

pytestmark = pytest.mark.cluster

PROFILE = REPO / "profiles" / "cluster"
# Fields that differ between any two runs: clocks, speeds, run ids, where a job ran.
# Fields that describe where and how fast a job ran, not what it computed.
VOLATILE = {"metadata", "agent_metadata", "elapsed_s", "seeds_per_s", "duration_s", "total_duration_s",
            "device", "device_note", "devices", "hardware", "provenance",
            # hashes of survivors_with_scores.json, whose records carry the worker's host and time
            "table_source_sha256", "source_sha256", "source_bytes", "survivors_sha256", "refit_seconds",
            "parse_seconds"}

WITNESS = """#!/bin/sh
printf 'start %s %s %s|%s|%s|%s|%s|%s|%s|%s\\n' "$(date +%s.%N)" "$$" "${SSH_CONNECTION:-none}" "${SEEDSIFT_NODE-}" \\
  "${SEEDSIFT_GPU-}" "${CUDA_VISIBLE_DEVICES-unset}" "${HIP_VISIBLE_DEVICES-unset}" "${ROCR_VISIBLE_DEVICES-unset}" \\
  "${HSA_OVERRIDE_GFX_VERSION-unset}" \\
  "${SSH_CLIENT-unset}" >> {log}
{python} "$@"
rc=$?
printf 'end %s %s %s\\n' "$(date +%s.%N)" "$$" "$rc" >> {log}
exit $rc
"""


def placed_rules():
    """Rules whose shell command starts with the placer, read from rules/*.smk."""
    names = set()
    for smk in (REPO / "rules").glob("*.smk"):
        for block in re.split(r"\n(?=(?:rule|checkpoint) \w+:)", smk.read_text()):
            m = re.match(r"(?:rule|checkpoint) (\w+):", block)
            if m and "python -m seedsift.cluster.place" in block:
                names.add(m.group(1))
    return names


def _skip_reason():
    return loopback.unavailable_reason()


@pytest.fixture(scope="module")
def cluster():
    reason = _skip_reason()
    if reason:
        pytest.skip(f"no loopback sshd: {reason}")
    nodes = [
        loopback.LoopbackNode("dead", "127.0.0.4", live=False, gpu_kind="cuda", gpus=["0"]),
        loopback.LoopbackNode("node-a", "127.0.0.2", gpu_kind="cuda", gpus=["0", "1"]),
        loopback.LoopbackNode("node-b", "127.0.0.3", gpu_kind="rocm", gpus=["0", "1"],
                              env={"HSA_OVERRIDE_GFX_VERSION": "10.3.0"}),
    ]
    with loopback.LoopbackCluster(nodes) as c:
        yield c


@pytest.fixture(scope="module")
def local_results(tmp_path_factory):
    """The tiny pipeline run by the local executor: the reference for results."""
    workdir = tmp_path_factory.mktemp("local")
    snakemake(workdir, "--cores", "2", config=TINY_CONFIG)
    return normalized(workdir / "results")


def _strip(obj):
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def normalized(results):
    """Every JSON result of a run, without run-specific fields; the cluster manifest left out."""
    return {str(p.relative_to(results)): _strip(json.loads(p.read_text()))
            for p in sorted(results.rglob("*.json")) if p.relative_to(results).parts[0] != "cluster"}


def setup_run(cluster, workdir):
    """Witness shim, inventory and environment of one cluster run in ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    shim = workdir.parent / f"{workdir.name}-shim"
    shim.mkdir()
    log = workdir.parent / f"{workdir.name}-witness.log"
    (shim / "python").write_text(WITNESS.replace("{log}", str(log)).replace("{python}", str(BIN / "python")))
    (shim / "python").chmod(0o755)
    inv = cluster.write_inventory(workdir.parent / f"{workdir.name}-nodes.yaml", path_dirs=[shim, BIN])
    (workdir / "test_config.yaml").write_text(yaml.safe_dump(TINY_CONFIG))
    e = env()
    e[place.ENV_NODES] = str(inv)
    return e, log


def snakemake_cmd(workdir, *args):
    return [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "-d", str(workdir),
            "--configfile", str(workdir / "test_config.yaml"), "--profile", str(PROFILE), *args]


def witness(log):
    """Jobs seen on the nodes: dicts with node address, placement variables, start, end, status."""
    jobs = {}
    for line in log.read_text().splitlines():
        kind, t, pid, rest = line.split(" ", 3)
        if kind == "start":
            conn, node, gpu, cuda, hip, rocr, hsa, client = rest.split("|")
            jobs[pid] = {"server": conn.split()[2] if conn != "none" else None, "node": node, "gpu": gpu,
                         "cuda": cuda, "hip": hip, "rocr": rocr, "hsa": hsa, "ssh_client": client, "start": float(t)}
        else:
            jobs[pid].update(end=float(t), rc=int(rest))
    return sorted(jobs.values(), key=lambda j: j["start"])


def write_manifest(workdir, e):
    done = subprocess.run([sys.executable, "-m", "seedsift.cluster.place", "--manifest"], cwd=workdir, env=e,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads((workdir / run_manifest.MANIFEST).read_text())


def test_dry_run_touches_no_node(cluster, tmp_path):
    workdir = tmp_path / "dry"
    e, log = setup_run(cluster, workdir)
    before = {n: cluster.logins(n) for n in ("node-a", "node-b")}
    done = subprocess.run(snakemake_cmd(workdir, "-n"), cwd=workdir, env=e, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    text = done.stdout + done.stderr
    assert "sieve_shard" in text and "python -m seedsift.cluster.place --" in text
    assert {n: cluster.logins(n) for n in ("node-a", "node-b")} == before
    assert not (workdir / ".nodelocks").exists() and not (workdir / "logs").exists() and not log.exists()


def test_cluster_run_places_every_remote_job_over_ssh(cluster, tmp_path, local_results):
    workdir = tmp_path / "run"
    e, log = setup_run(cluster, workdir)
    before = {n: cluster.logins(n) for n in ("node-a", "node-b")}
    done = subprocess.run(snakemake_cmd(workdir, "--resources", "gpu_slots=2"), cwd=workdir, env=e,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-5000:]

    seen = witness(log)
    manifest = write_manifest(workdir, e)
    planned = manifest["planned_by_rule"]
    remote_rules = {r for r in placed_rules() if planned.get(r)}
    n_remote = sum(planned[r] for r in remote_rules)
    assert n_remote >= 8 and manifest["totals"]["expected"] == n_remote

    # Every remote job ran once, over ssh, on a live node, with a clean environment.
    assert len(seen) == n_remote and all(j["rc"] == 0 for j in seen)
    address = {"node-a": "127.0.0.2", "node-b": "127.0.0.3"}
    assert all(j["server"] == address[j["node"]] for j in seen)
    assert all(j["ssh_client"] == "unset" for j in seen)
    logins = {n: cluster.logins(n) - before[n] for n in address}
    assert all(logins[n] >= sum(j["node"] == n for j in seen) for n in address)

    # Both live nodes worked, never two jobs at once on one node, and the GPU slots rotated.
    by_node = {n: [j for j in seen if j["node"] == n] for n in address}
    assert all(by_node.values())
    for jobs in by_node.values():
        for a, b in zip(jobs, jobs[1:]):
            assert b["start"] >= a["end"], "two jobs overlapped on one node"
            assert b["gpu"] != a["gpu"], "the next job on a node did not get the next GPU slot"
    assert any(len(jobs) >= 2 for jobs in by_node.values())

    # GPU variables per kind: CUDA on node-a; ROCr's choice, HIP's device 0 and the override on node-b.
    for j in by_node["node-a"]:
        assert (j["cuda"], j["hip"], j["rocr"], j["hsa"]) == (j["gpu"], "unset", "unset", "unset")
    for j in by_node["node-b"]:
        assert (j["cuda"], j["hip"], j["rocr"], j["hsa"]) == ("unset", "0", j["gpu"], "10.3.0")

    # The manifest agrees, and the dead node cost no job: its one attempt failed over.
    assert manifest["totals"]["completed"] == n_remote and manifest["totals"]["failed"] == 0
    jobs = manifest["jobs"]
    assert {j["rule"] for j in jobs} == remote_rules and all(j["status"] == "completed" for j in jobs)
    assert all(j["node"] in address and j["attempts"][-1]["via"] == "ssh" for j in jobs)
    assert manifest["nodes"]["dead"]["completed"] == 0
    assert manifest["nodes"]["dead"]["node_down"] == manifest["nodes"]["dead"]["expected"] >= 1
    assert sorted((j["node"], j["gpu"]) for j in jobs) == sorted((w["node"], w["gpu"]) for w in seen)
    assert (workdir / ".nodelocks" / "dead.dead").exists()

    assert normalized(workdir / "results") == local_results

    # Switching back to the local executor reruns nothing: the rule text is the same.
    again = snakemake(workdir, "-n", config=TINY_CONFIG)
    assert "Nothing to be done" in again.stdout + again.stderr


def test_a_node_dying_mid_run_costs_no_job(tmp_path, local_results):
    reason = _skip_reason()
    if reason:
        pytest.skip(f"no loopback sshd: {reason}")
    nodes = [loopback.LoopbackNode("node-a", "127.0.0.2", gpu_kind="cuda", gpus=["0"]),
             loopback.LoopbackNode("node-b", "127.0.0.3", gpu_kind="cuda", gpus=["0"])]
    with loopback.LoopbackCluster(nodes) as cluster:
        workdir = tmp_path / "run"
        e, log = setup_run(cluster, workdir)
        proc = subprocess.Popen(snakemake_cmd(workdir, "--resources", "gpu_slots=2"), cwd=workdir, env=e,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 120
            victim = None
            while victim is None and time.monotonic() < deadline and proc.poll() is None:
                if log.exists():
                    victim = next((j for j in witness_partial(log) if j["node"] == "node-b"), None)
                time.sleep(0.02)
            assert victim is not None, "node-b never started a job"
            cluster.kill("node-b")
            out, _ = proc.communicate(timeout=240)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, out[-5000:]
        manifest = write_manifest(workdir, e)

    assert manifest["totals"]["completed"] == manifest["totals"]["expected"] >= 8
    assert manifest["nodes"]["node-b"]["node_down"] >= 1
    moved = [j for j in manifest["jobs"] if any(a["outcome"] == "node_down" for a in j["attempts"])]
    assert moved and all(j["status"] == "completed" and j["node"] == "node-a" for j in moved)
    assert normalized(workdir / "results") == local_results


def witness_partial(log):
    """Witness entries so far, including jobs still running."""
    out = []
    for line in log.read_text().splitlines():
        parts = line.split(" ", 3)
        if parts[0] == "start" and len(parts) == 4:
            out.append({"node": parts[3].split("|")[1], "pid": int(parts[2])})
    return out


# --------------------------------------------------------------------------- stopping a run


def _remote_sleeper(cluster, tmp_path):
    inv = cluster.write_inventory(tmp_path / "nodes.yaml", path_dirs=[BIN])
    e = env()
    e[place.ENV_NODES] = str(inv)
    # Only the live nodes: a stop test must not spend its time failing over from the dead one.
    data = yaml.safe_load(inv.read_text())
    del data["nodes"]["dead"]
    inv.write_text(yaml.safe_dump(data))
    e[place.ENV_LOCKDIR] = str(tmp_path / "locks")
    return e


REMOTE_JOB = ["sh", "-c", "echo $$ > job.pid; exec sleep 60"]


@pytest.mark.parametrize("how", ["sigterm", "kill-9-placer", "kill-9-run"])
def test_stopping_the_run_takes_the_remote_job_down(cluster, tmp_path, how):
    e = _remote_sleeper(cluster, tmp_path)
    placer = [sys.executable, "-m", "seedsift.cluster.place", "--", *REMOTE_JOB]
    if how == "kill-9-run":
        # snakemake starts `bash -c CMD`; the fake run does the same and is then SIGKILLed.
        proc = subprocess.Popen([sys.executable, "-c", "import subprocess, sys; subprocess.run(['bash', '-c', sys.argv[1]])",
                                 " ".join(map(shlex.quote, placer)) + "; true"], cwd=tmp_path, env=e)
    else:
        proc = subprocess.Popen(placer, cwd=tmp_path, env=e)
    job = int(_wait_for(tmp_path / "job.pid"))
    try:
        assert not _gone(job, timeout=0)
        if how == "sigterm":
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=15) == 128 + signal.SIGTERM
        else:
            proc.kill()
            proc.wait()
        assert _gone(job, timeout=10), f"the remote job outlived the {how}"
    finally:
        if not _gone(job, timeout=0):
            os.kill(job, signal.SIGKILL)


def test_check_probes_every_node(cluster, tmp_path):
    e = env()
    e[place.ENV_NODES] = str(cluster.write_inventory(tmp_path / "nodes.yaml"))
    done = subprocess.run([sys.executable, "-m", "seedsift.cluster.place", "--check"], env=e, capture_output=True, text=True)
    assert done.returncode == 1
    status = {line.split("\t")[0]: line.split("\t")[-1] for line in done.stdout.splitlines() if "\t" in line}
    assert status == {"dead": "NO ANSWER", "node-a": "ok", "node-b": "ok"}
    assert "job slots: 3" in done.stdout  # max_jobs 1 on each of the three nodes
