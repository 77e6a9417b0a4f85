"""The fault matrix: each fault survived with nothing lost, on loopback ssh nodes (cluster).

Every node here has ``shared: false`` and its own work folder, so every job's inputs, code and
outputs really travel over rsync. The workflow is the toy one (tests/cluster/toy): N placed jobs
whose outputs are known in advance, then a gather on the head. After each fault the test checks
what a user would: every output present with the right value, the run manifest complete, no
half-copied file on the head, and the node-side witness (each job appends where it ran).
"""

import base64
import json
import os
import signal
import subprocess
import time

import pytest

from seedsift.cluster import place, run_manifest, staging

import loopback
from conftest import BIN, REPO, env

pytestmark = pytest.mark.cluster

TOY = REPO / "tests" / "cluster" / "toy" / "Snakefile"
PROFILE = REPO / "profiles" / "cluster"
SEED = 40503


def expected_value(i):
    return (SEED * 2654435761 + i * 40503) % 1000003


def outputs(n, cuda_every=0):
    return [f"out/{'cudaonly' if cuda_every and i % cuda_every == 0 else 'any'}/{i}.json" for i in range(n)]


@pytest.fixture
def skip_without_sshd():
    reason = loopback.unavailable_reason()
    if reason:
        pytest.skip(f"no loopback sshd: {reason}")


class Toy:
    """A loopback cluster, its inventory and the toy workflow's command in ``tmp_path``."""

    def __init__(self, tmp_path, cluster, n_jobs=8, sleep=1.0, cuda_every=0, ssh_options=None, **top):
        self.tmp, self.cluster = tmp_path, cluster
        self.n, self.cuda_every = n_jobs, cuda_every
        self.workdir = tmp_path / "run"
        self.workdir.mkdir()
        self.witness_log = tmp_path / "witness.log"
        self.inventory = cluster.write_inventory(
            tmp_path / "nodes.yaml", path_dirs=[BIN], env={"TOY_WITNESS": str(self.witness_log)},
            job_types={"cudaonly": ["cuda"]}, dead_ttl_s=600,
            ssh_options={"ConnectTimeout": 3, **(ssh_options or {})},
            **top)
        self.env = env()
        self.env[place.ENV_NODES] = str(self.inventory)
        self.cmd = [str(BIN / "snakemake"), "-s", str(TOY), "-d", str(self.workdir), "--profile", str(PROFILE),
                    "--cores", "4", "--config", f"n_jobs={n_jobs}", f"sleep={sleep}", f"cuda_every={cuda_every}"]

    def run(self, *extra, timeout=300):
        return subprocess.run(self.cmd + list(extra), cwd=self.workdir, env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def start(self):
        return subprocess.Popen(self.cmd, cwd=self.workdir, env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)

    def witness(self):
        """[(event, time, node, gpu, pid, index)] appended by the jobs on the nodes."""
        if not self.witness_log.exists():
            return []
        out = []
        for line in self.witness_log.read_text().splitlines():
            parts = line.split()
            if len(parts) == 6:
                out.append((parts[0], float(parts[1]), parts[2], parts[3], int(parts[4]), int(parts[5])))
        return out

    def wait_for(self, predicate, timeout=120, proc=None):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate(self.witness()):
                return True
            if proc is not None and proc.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def manifest(self):
        done = subprocess.run([str(BIN / "python"), "-m", "seedsift.cluster.place", "--manifest"], cwd=self.workdir,
                              env=self.env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return json.loads((self.workdir / run_manifest.MANIFEST).read_text())

    def assert_nothing_lost(self):
        """Every output present with its value, the gather complete, no staged copy left behind."""
        for path in outputs(self.n, self.cuda_every):
            data = json.loads((self.workdir / path).read_text())
            assert data["value"] == expected_value(data["index"]), path
            assert data["node"] in self.cluster.nodes and data["cwd"] != str(self.workdir), "not run on a node's copy"
        gathered = json.loads((self.workdir / "gathered.json").read_text())
        assert gathered == {"jobs": self.n, "total": sum(expected_value(i) for i in range(self.n))}
        leftovers = [p for p in (self.workdir / staging.STAGING_DIR).rglob("*") if p.is_file()]
        assert leftovers == []
        assert not (self.workdir / ".snakemake" / "locks").exists() or not list((self.workdir / ".snakemake/locks").iterdir())


def _started_on(node):
    return lambda events: any(e[0] == "start" and e[2] == node for e in events)


def _recorded(workdir, relpath):
    """Snakemake has recorded the job that made ``relpath`` as finished (metadata, no incomplete marker)."""
    name = base64.urlsafe_b64encode(relpath.encode()).decode()
    return (workdir / ".snakemake/metadata" / name).exists() and not (workdir / ".snakemake/incomplete" / name).exists()


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


def test_a_node_that_dies_mid_job_costs_no_job(tmp_path, skip_without_sshd):
    nodes = [loopback.LoopbackNode("node-a", "127.0.0.2", gpu_kind="cuda", gpus=["0"], shared=False),
             loopback.LoopbackNode("node-b", "127.0.0.3", gpu_kind="rocm", gpus=["0"], shared=False)]
    with loopback.LoopbackCluster(nodes, root=tmp_path / "ssh") as cluster:
        toy = Toy(tmp_path, cluster, n_jobs=6, sleep=1.5)
        proc = toy.start()
        try:
            assert toy.wait_for(_started_on("node-b"), proc=proc), "node-b never started a job"
            cluster.kill("node-b")
            out, _ = proc.communicate(timeout=240)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        assert proc.returncode == 0, out[-4000:]
        manifest = toy.manifest()
        toy.assert_nothing_lost()
    assert manifest["totals"]["completed"] == manifest["totals"]["expected"] == 6
    assert manifest["nodes"]["node-b"]["node_down"] >= 1
    moved = [j for j in manifest["jobs"] if any(a["outcome"] == "node_down" for a in j["attempts"])]
    assert moved and all(j["status"] == "completed" and j["node"] == "node-a" for j in moved)
    killed = [e for e in toy.witness() if e[0] == "start" and e[2] == "node-b"]
    ended = {(e[4]) for e in toy.witness() if e[0] == "end"}
    assert any(e[4] not in ended for e in killed)  # the job that was running when node-b died


def test_a_node_that_accepts_ssh_but_hangs_is_left_after_the_job_timeout(tmp_path, skip_without_sshd):
    nodes = [loopback.LoopbackNode("node-a", "127.0.0.2", gpu_kind="cuda", gpus=["0"], shared=False),
             loopback.LoopbackNode("node-b", "127.0.0.3", gpu_kind="rocm", gpus=["0"], shared=False,
                                   extra={"job_timeout_s": 6})]
    with loopback.LoopbackCluster(nodes, root=tmp_path / "ssh") as cluster:
        # Keep-alives slower than the job timeout: the timeout, not ssh, must notice the hang.
        toy = Toy(tmp_path, cluster, n_jobs=6, sleep=1.0, ssh_options={"ServerAliveInterval": 60})
        proc = toy.start()
        try:
            assert toy.wait_for(_started_on("node-b"), proc=proc), "node-b never started a job"
            frozen = time.monotonic()
            cluster.freeze("node-b")
            out, _ = proc.communicate(timeout=240)
            took = time.monotonic() - frozen
        finally:
            cluster.thaw("node-b")
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        assert proc.returncode == 0, out[-4000:]
        manifest = toy.manifest()
        toy.assert_nothing_lost()
    hung = [a for j in manifest["jobs"] for a in j["attempts"] if a["node"] == "node-b" and a["outcome"] == "node_down"]
    assert len(hung) == 1 and "job_timeout_s=6" in hung[0]["reason"] and hung[0]["exit_status"] == place.EXIT_TIMEOUT
    assert hung[0]["seconds"] >= 6
    assert manifest["totals"]["completed"] == 6 and manifest["nodes"]["node-b"]["node_down"] == 1
    assert took < 120


def test_a_full_disk_on_a_node_moves_its_jobs(tmp_path, skip_without_sshd):
    nodes = [loopback.LoopbackNode("node-a", "127.0.0.2", gpu_kind="cuda", gpus=["0"], shared=False),
             loopback.LoopbackNode("node-b", "127.0.0.3", gpu_kind="rocm", gpus=["0"], shared=False, disk_mb=8,
                                   extra={"min_free_mb": 1})]
    with loopback.LoopbackCluster(nodes, root=tmp_path / "ssh") as cluster:
        toy = Toy(tmp_path, cluster, n_jobs=8, sleep=1.0)
        proc = toy.start()
        try:
            assert toy.wait_for(lambda ev: any(e[0] == "end" and e[2] == "node-b" for e in ev), proc=proc)
            # The node's disk fills up (another user's files): its next job cannot write its output.
            fill = cluster.ssh("node-b", f"dd if=/dev/zero of={cluster.nodes['node-b'].workdir}/fill bs=1M count=64")
            assert "No space left on device" in fill.stderr
            out, _ = proc.communicate(timeout=240)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        assert proc.returncode == 0, out[-4000:]
        manifest = toy.manifest()
        toy.assert_nothing_lost()
    full = [a for j in manifest["jobs"] for a in j["attempts"] if a["outcome"] == "disk_full"]
    assert len(full) == 1 and full[0]["node"] == "node-b" and "disk full in" in full[0]["reason"]
    assert manifest["nodes"]["node-b"]["disk_full"] == 1 and manifest["totals"]["completed"] == 8
    assert json.loads((toy.workdir / ".nodelocks" / "node-b.dead").read_text())["reason"].startswith("disk_full")


def test_ssh_dropped_while_outputs_come_back_is_survived(tmp_path, skip_without_sshd):
    # node-b's rsync: the first time it sends outputs back, it kills its own ssh session, as a
    # dropped connection would; the placer must copy again and rename only complete copies.
    mark = tmp_path / "dropped"
    wrapper = tmp_path / "rsync-drop"
    wrapper.write_text(f"""#!/bin/sh
case " $* " in
  *" --sender "*)
    if mkdir {mark} 2>/dev/null; then
      p=$PPID
      while [ "$(cat /proc/$p/comm)" != sshd ]; do p=$(cut -d' ' -f4 /proc/$p/stat); done
      kill -9 "$p"
      exit 1
    fi;;
esac
exec rsync "$@"
""")
    wrapper.chmod(0o755)
    nodes = [loopback.LoopbackNode("node-a", "127.0.0.2", gpu_kind="cuda", gpus=["0"], shared=False),
             loopback.LoopbackNode("node-b", "127.0.0.3", gpu_kind="rocm", gpus=["0"], shared=False,
                                   extra={"rsync": str(wrapper)})]
    with loopback.LoopbackCluster(nodes, root=tmp_path / "ssh") as cluster:
        toy = Toy(tmp_path, cluster, n_jobs=6, sleep=0.5)
        done = toy.run()
        assert done.returncode == 0, done.stderr[-4000:]
        manifest = toy.manifest()
        toy.assert_nothing_lost()
    assert mark.is_dir()
    retried = [(j, a) for j in manifest["jobs"] for a in j["attempts"] if a.get("copy_back_tries", 1) > 1]
    assert len(retried) == 1
    job, attempt = retried[0]
    assert attempt["node"] == "node-b" and attempt["outcome"] == "ok" and attempt["copy_back_tries"] == 2
    assert len(job["attempts"]) == 1  # the job itself did not run again
    log = (toy.workdir / ".snakemake" / "log")
    assert log.is_dir()
    assert manifest["totals"]["completed"] == 6 and manifest["totals"]["failed"] == 0


def test_a_node_without_the_requirements_is_one_clear_error_and_its_jobs_run_elsewhere(tmp_path, skip_without_sshd):
    # node-b's python is the system's, without the project's requirements.
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "python").symlink_to("/usr/bin/python3")
    nodes = [loopback.LoopbackNode("node-a", "127.0.0.2", gpu_kind="cuda", gpus=["0"], shared=False),
             loopback.LoopbackNode("node-b", "127.0.0.3", gpu_kind="rocm", gpus=["0"], shared=False,
                                   extra={"path": [str(bare)]})]
    with loopback.LoopbackCluster(nodes, root=tmp_path / "ssh") as cluster:
        toy = Toy(tmp_path, cluster, n_jobs=4, sleep=0.2)
        done = toy.run()
        assert done.returncode == 0, done.stderr[-4000:]
        manifest = toy.manifest()
        toy.assert_nothing_lost()
        check = subprocess.run([str(BIN / "python"), "-m", "seedsift.cluster.place", "--check"], env=toy.env,
                               capture_output=True, text=True)
    logs = "".join(p.read_text() for p in (toy.workdir / "logs").rglob("*.log")) if (toy.workdir / "logs").exists() else ""
    errors = [line for line in (done.stdout + done.stderr + logs).splitlines() if "node-b:" in line and "error" in line]
    assert len(set(errors)) == 1, errors
    assert errors[0].startswith(f"seedsift: error: node-b: python {bare / 'python'}: cannot import ")
    assert "cannot import numpy" in errors[0] and "its jobs run elsewhere" in errors[0]
    assert manifest["nodes"]["node-b"]["env_missing"] == 1 and manifest["nodes"]["node-b"]["completed"] == 0
    assert {j["node"] for j in manifest["jobs"]} == {"node-a"}
    assert check.returncode == 1
    states = {line.split("\t")[0]: line.split("\t")[-1] for line in check.stdout.splitlines() if "\t" in line}
    assert states["node-a"] == "ok" and states["node-b"].startswith("ENVIRONMENT: python")


@pytest.mark.parametrize("how", ["ctrl-c", "kill-9"])
def test_stopping_the_head_then_a_plain_rerun_finishes_the_run(tmp_path, skip_without_sshd, how):
    nodes = [loopback.LoopbackNode("node-a", "127.0.0.2", gpu_kind="cuda", gpus=["0", "1"], max_jobs=2, shared=False),
             loopback.LoopbackNode("node-b", "127.0.0.3", gpu_kind="rocm", gpus=["0", "1"], max_jobs=2, shared=False)]
    # Enough jobs that some are still unstarted when the stop lands, on a loaded machine too.
    n_jobs = 16
    with loopback.LoopbackCluster(nodes, root=tmp_path / "ssh") as cluster:
        toy = Toy(tmp_path, cluster, n_jobs=n_jobs, sleep=1.5, cuda_every=3)
        proc = toy.start()
        try:
            # Stop once two jobs are recorded as finished and two others run.
            assert toy.wait_for(lambda ev: sum(_recorded(toy.workdir, p) for p in outputs(n_jobs, 3)) >= 2 and
                                sum(e[0] == "start" for e in ev) - sum(e[0] == "end" for e in ev) >= 2, proc=proc)
            if how == "ctrl-c":
                os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
            else:
                proc.kill()  # the head's snakemake alone, by SIGKILL
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        stopped = toy.witness()
        finished = {e[5] for e in stopped if e[0] == "end"}
        assert len(finished) < n_jobs
        # No job is left running on a node (the placers stopped theirs when the run went away).
        running = [e[4] for e in stopped if e[0] == "start" and e[4] not in {x[4] for x in stopped if x[0] == "end"}]
        deadline = time.monotonic() + 20
        while any(_alive(pid) for pid in running) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in running), "a remote job outlived the run"
        # Outputs snakemake recorded as finished before the stop (an output renamed into place
        # while its job was being stopped is marked incomplete, and rightly made again).
        before = {p: (toy.workdir / p).stat().st_mtime_ns for p in outputs(n_jobs, 3) if _recorded(toy.workdir, p)}
        assert before

        again = toy.run()
        assert again.returncode == 0, again.stderr[-4000:]
        text = again.stdout + again.stderr
        stale = [line for line in text.splitlines() if "removed a stale snakemake lock" in line]
        assert len(stale) == (1 if how == "kill-9" else 0)
        toy.assert_nothing_lost()
        manifest = toy.manifest()
    # Finished outputs were kept, the rest made by the rerun; the per-kind limits held throughout.
    for path, mtime in before.items():
        assert (toy.workdir / path).stat().st_mtime_ns == mtime, f"{path} was redone"
    assert manifest["totals"]["completed"] == manifest["totals"]["expected"] == n_jobs - len(before)
    cuda_only = [j for j in manifest["jobs"] if j["wildcards"]["kind"] == "cudaonly"]
    assert all(j["node"] == "node-a" for j in cuda_only)
    assert all(per["max_concurrent"] <= per["limit"] for per in manifest["nodes"].values())
