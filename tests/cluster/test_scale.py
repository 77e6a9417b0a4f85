"""A wide DAG of trivial placed jobs over 4 loopback nodes (cluster): every output present, the
run manifest complete, no node ever over its limit, CUDA-only jobs on CUDA nodes only.

The suite runs 100 jobs. The 1,000-job run is marked ``scale`` (``pytest -m scale``): on the
2-core development machine it takes several minutes, since each job starts a placer, an ssh
session and a shell; ``make cluster-bench`` measures it (with the dry run of the same DAG).
A placer's start and end times bound its job's run on the node, so the manifest's concurrency
per node (from those times) is an upper bound of the node's real concurrency.
"""

import json
import subprocess

import pytest

from seedsift.cluster import place, run_manifest

import loopback
from conftest import BIN, REPO, env

pytestmark = pytest.mark.cluster

TOY = REPO / "tests" / "cluster" / "toy" / "Snakefile"
PROFILE = REPO / "profiles" / "cluster"
CUDA_EVERY = 10


def four_nodes():
    return [loopback.LoopbackNode(f"node-{c}", f"127.0.0.{i + 2}", gpu_kind="cuda" if i < 2 else "rocm",
                                  gpus=["0", "1"], max_jobs=2) for i, c in enumerate("abcd")]


def run_wide_dag(tmp_path, n_jobs):
    reason = loopback.unavailable_reason()
    if reason:
        pytest.skip(f"no loopback sshd: {reason}")
    workdir = tmp_path / "run"
    workdir.mkdir()
    with loopback.LoopbackCluster(four_nodes(), root=tmp_path / "ssh") as cluster:
        e = env()
        e[place.ENV_NODES] = str(cluster.write_inventory(tmp_path / "nodes.yaml", path_dirs=[BIN],
                                                         job_types={"cudaonly": ["cuda"]}))
        cmd = [str(BIN / "snakemake"), "-s", str(TOY), "-d", str(workdir), "--profile", str(PROFILE), "--cores", "8",
               "--config", f"n_jobs={n_jobs}", "trivial=1", f"cuda_every={CUDA_EVERY}"]
        done = subprocess.run(cmd, cwd=workdir, env=e, capture_output=True, text=True, timeout=3600)
        assert done.returncode == 0, done.stderr[-4000:]
        logins = {n: cluster.logins(n) for n in cluster.nodes}
    written = subprocess.run([str(BIN / "python"), "-m", "seedsift.cluster.place", "--manifest"], cwd=workdir, env=e,
                             capture_output=True, text=True)
    assert written.returncode == 0, written.stderr
    manifest = json.loads((workdir / run_manifest.MANIFEST).read_text())

    for i in range(n_jobs):
        kind = "cudaonly" if i % CUDA_EVERY == 0 else "any"
        data = json.loads((workdir / "tiny" / kind / f"{i}.json").read_text())
        assert data["index"] == i and data["value"] == (40503 * 2654435761 + i * 40503) % 1000003
        assert data["node"] in {"node-a", "node-b"} if kind == "cudaonly" else data["node"].startswith("node-")
    assert json.loads((workdir / "gathered.json").read_text())["jobs"] == n_jobs

    totals = manifest["totals"]
    assert totals["expected"] == totals["placed"] == totals["completed"] == totals["attempts"] == n_jobs
    assert totals["failed"] == totals["unfinished"] == totals["not_started"] == 0
    assert manifest["planned_by_rule"] == {"work_trivial": n_jobs}
    assert len(manifest["jobs"]) == n_jobs
    assert sum(per["completed"] for per in manifest["nodes"].values()) == n_jobs
    for name, per in manifest["nodes"].items():
        assert per["limit"] == 2 and 1 <= per["max_concurrent"] <= per["limit"], (name, per)
    assert all(j["node"] in {"node-a", "node-b"} for j in manifest["jobs"] if j["wildcards"]["kind"] == "cudaonly")
    # Every node was reached over ssh, its jobs sharing a few connections (ControlMaster).
    assert all(1 <= n < n_jobs for n in logins.values()), logins
    return manifest


def test_a_wide_dag_over_four_nodes_completes_within_every_limit(tmp_path):
    run_wide_dag(tmp_path, 100)


@pytest.mark.scale
def test_a_1000_job_dag_over_four_nodes_completes_within_every_limit(tmp_path):
    run_wide_dag(tmp_path, 1000)
