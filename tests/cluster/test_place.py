"""The placer without ssh: quoting, locks, dead-node markers, GPU environments, in-place mode,
signal handling, the inventory's validation and the run manifest."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from seedsift.cluster import inventory, locks, place, remote, run_manifest
from seedsift.errors import InputError

from conftest import REPO

NASTY = [
    "a b;touch pwned",
    "it's \"quoted\"",
    "$(touch pwned)",
    "`touch pwned`",
    "line1\nline2; touch pwned",
    "semi;colon && touch pwned || true",
    "*",
    "-dash",
    "",
]


def node(**kw):
    spec = {"ssh": "somewhere", "gpu_kind": "cuda", "gpus": [0, 1]}
    spec.update(kw)
    return inventory.parse({"nodes": {"n1": spec}}, source="inv.yaml").nodes[0]


def placer_env(tmp_path, inv=None, **extra):
    env = dict(os.environ)
    env.pop(place.ENV_NODES, None)
    env.pop(place.ENV_LOCKDIR, None)
    if inv is not None:
        env[place.ENV_NODES] = str(inv)
    env.update(extra)
    return env


def write_inventory(tmp_path, nodes, **top):
    path = tmp_path / "nodes.yaml"
    path.write_text(yaml.safe_dump({"nodes": nodes, **top}))
    return path


# --------------------------------------------------------------------------- quoting


def test_remote_script_passes_every_value_verbatim_and_runs_nothing_else(tmp_path):
    workdir = tmp_path / "a b;touch pwned"
    workdir.mkdir()
    n = node(env={"ODD": "x'; touch pwned; echo '", "HSA_OVERRIDE_GFX_VERSION": "10.3.0"}, gpu_kind="rocm",
             path=[str(tmp_path / "bin $(touch pwned)")])
    out = tmp_path / "argv.json"
    command = [sys.executable, "-c",
               "import json, os, sys; json.dump({'argv': sys.argv[1:], 'cwd': os.getcwd(), "
               "'env': {k: os.environ.get(k) for k in ('ODD', 'HIP_VISIBLE_DEVICES', 'ROCR_VISIBLE_DEVICES', 'CUDA_VISIBLE_DEVICES', "
               "'SEEDSIFT_NODE', 'SEEDSIFT_GPU', 'SSH_CLIENT', 'HSA_OVERRIDE_GFX_VERSION')}, "
               "'path0': os.environ['PATH'].split(':')[0]}, open(sys.argv[1], 'w'))",
               str(out), *NASTY]
    script = remote.remote_script(n, command, workdir, "1")
    # The remote login shell runs the script as `sh -c SCRIPT`; run it the same way here.
    env = dict(os.environ, SSH_CLIENT="10.0.0.1 5 22")
    done = subprocess.run(["/bin/sh", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    got = json.loads(out.read_text())
    assert got["argv"] == [str(out), *NASTY]
    assert got["cwd"] == str(workdir)
    assert got["env"] == {"ODD": "x'; touch pwned; echo '", "HIP_VISIBLE_DEVICES": "0", "ROCR_VISIBLE_DEVICES": "1",
                          "CUDA_VISIBLE_DEVICES": None,
                          "SEEDSIFT_NODE": "n1", "SEEDSIFT_GPU": "1", "SSH_CLIENT": None,
                          "HSA_OVERRIDE_GFX_VERSION": "10.3.0"}
    assert got["path0"] == str(tmp_path / "bin $(touch pwned)")
    assert not list(tmp_path.rglob("pwned")) and not Path("pwned").exists()


def test_remote_script_stops_when_the_workdir_is_missing(tmp_path):
    n = node(workdir=str(tmp_path / "nowhere"))
    marker = tmp_path / "ran"
    script = remote.remote_script(n, ["touch", str(marker)], tmp_path, "0")
    done = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True)
    assert done.returncode == remote.EXIT_SETUP
    assert "cannot cd to" in done.stderr and not marker.exists()


def test_ssh_argv_has_forced_options_and_no_shell(tmp_path):
    cfg = tmp_path / "ssh config"
    cfg.write_text("")
    inv = inventory.parse({"ssh_config": str(cfg), "nodes": {"n1": {"host": "192.0.2.1", "port": 2222, "user": "u"}},
                           "ssh_options": {"ConnectTimeout": 3}}, source="inv.yaml")
    argv = remote.ssh_base(inv, inv.nodes[0])
    assert argv[:4] == ["ssh", "-tt", "-F", str(cfg)]
    assert "BatchMode=yes" in argv and "StrictHostKeyChecking=yes" in argv and "ConnectTimeout=3" in argv
    assert argv[-5:] == ["-p", "2222", "-l", "u", "192.0.2.1"]


def test_environment_names_inventory_and_ssh_config(tmp_path):
    own, other = tmp_path / "own_config", tmp_path / "other config"
    own.write_text("")
    other.write_text("")
    inv = write_inventory(tmp_path, {"a": {"ssh": "a"}}, ssh_config="own_config")
    assert place.load_inventory({}) is None and place.load_inventory({place.ENV_NODES: " "}) is None
    assert place.load_inventory({place.ENV_NODES: str(inv)}).ssh_config == str(own)
    got = place.load_inventory({place.ENV_NODES: str(inv), place.ENV_SSH_CONFIG: str(other)})
    assert got.ssh_config == str(other)
    with pytest.raises(InputError, match="does not exist"):
        place.load_inventory({place.ENV_NODES: str(tmp_path / "missing.yaml")})
    assert place.lock_dir({}, cwd=tmp_path) == tmp_path / ".nodelocks"
    assert place.lock_dir({place.ENV_LOCKDIR: "/var/tmp/locks"}, cwd=tmp_path) == Path("/var/tmp/locks")


# --------------------------------------------------------------------------- GPU environment


@pytest.mark.parametrize("kind,gpus,variable", [("cuda", [0, 1], "CUDA_VISIBLE_DEVICES"),
                                                ("rocm", [0, 1], "HIP_VISIBLE_DEVICES"), ("none", [], None)])
def test_job_environment_per_gpu_kind(kind, gpus, variable):
    n = node(gpu_kind=kind, gpus=gpus, env={"HSA_OVERRIDE_GFX_VERSION": "10.3.0"} if kind == "rocm" else {})
    env = dict(remote.job_environment(n, n.slots[0]))
    others = {"CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES"} - {variable}
    if kind == "rocm":
        others.discard("ROCR_VISIBLE_DEVICES")
        # ROCr selects the slot's GPU (id 1 here); HIP then sees it as its device 0.
        env1 = dict(remote.job_environment(n, n.slots[1]))
        assert (env1["ROCR_VISIBLE_DEVICES"], env1["HIP_VISIBLE_DEVICES"], env1["SEEDSIFT_GPU"]) == ("1", "0", "1")
    assert not others & set(env)
    assert env["SEEDSIFT_NODE"] == "n1" and env["SEEDSIFT_GPU_KIND"] == kind
    if variable:
        assert env[variable] == "0" and env["SEEDSIFT_GPU"] == "0"
    else:
        assert env["SEEDSIFT_GPU"] == ""
    assert ("HSA_OVERRIDE_GFX_VERSION" in env) == (kind == "rocm")


def test_local_environment_drops_head_thread_limits_and_activates_the_venv():
    n = inventory.parse({"nodes": {"h": {"local": True, "gpu_kind": "cuda", "gpus": [3], "venv": "/opt/v"}}}).nodes[0]
    env = remote.local_environment(n, "3", base={"PATH": "/usr/bin", "OMP_NUM_THREADS": "0", "SSH_CLIENT": "x"})
    assert env["PATH"] == "/opt/v/bin:/usr/bin" and env["VIRTUAL_ENV"] == "/opt/v"
    assert env["CUDA_VISIBLE_DEVICES"] == "3" and "OMP_NUM_THREADS" not in env and "SSH_CLIENT" not in env


# --------------------------------------------------------------------------- locks


def test_one_job_per_node_and_gpu_slots_rotate(tmp_path):
    n = node(gpus=[0, 1, 2])
    first = locks.take_slot(tmp_path, n)
    assert first.gpu == "0"
    assert locks.take_slot(tmp_path, n) is None  # max_jobs 1: the node is busy
    first.release()
    seen = []
    for _ in range(4):
        slot = locks.take_slot(tmp_path, n)
        seen.append(slot.gpu)
        slot.release()
    assert seen == ["1", "2", "0", "1"]


def test_max_jobs_gives_distinct_gpus_and_never_more_than_the_gpus(tmp_path):
    n = node(gpus=[0, 1], max_jobs=3)
    a, b = locks.take_slot(tmp_path, n), locks.take_slot(tmp_path, n)
    assert {a.gpu, b.gpu} == {"0", "1"}
    assert locks.take_slot(tmp_path, n) is None
    a.release()
    b.release()


def test_a_slot_held_by_another_process_is_not_taken(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from seedsift.cluster import inventory, locks;"
         "n = inventory.parse({'nodes': {'n1': {'ssh': 'x', 'gpu_kind': 'none'}}}).nodes[0];"
         "s = locks.take_slot(sys.argv[1], n); print(s is not None, flush=True); time.sleep(30)", str(tmp_path)],
        stdout=subprocess.PIPE, text=True, env=placer_env(tmp_path))
    try:
        assert holder.stdout.readline().strip() == "True"
        n = inventory.parse({"nodes": {"n1": {"ssh": "x", "gpu_kind": "none"}}}).nodes[0]
        assert locks.take_slot(tmp_path, n) is None
    finally:
        holder.kill()
        holder.wait()
    slot = locks.take_slot(tmp_path, n)
    assert slot is not None and slot.gpu == "cpu0"
    slot.release()


def test_stagger_spaces_starts_on_a_node(tmp_path):
    n = node(stagger_s=5)
    now = [1000.0]
    slept = []

    def sleep(s):
        slept.append(s)
        now[0] += s

    assert locks.stagger(tmp_path, n, clock=lambda: now[0], sleep=sleep) == 0
    now[0] += 2
    assert locks.stagger(tmp_path, n, clock=lambda: now[0], sleep=sleep) == pytest.approx(3)
    assert slept == [pytest.approx(3)]


# --------------------------------------------------------------------------- dead nodes


def test_dead_marker_expires_after_its_ttl(tmp_path):
    now = [100.0]
    locks.mark_dead(tmp_path, "n1", 300, "test", clock=lambda: now[0])
    assert locks.dead_until(tmp_path, "n1", clock=lambda: now[0]) == 400
    now[0] = 399.9
    assert locks.dead_until(tmp_path, "n1", clock=lambda: now[0]) == 400
    now[0] = 400.1
    assert locks.dead_until(tmp_path, "n1", clock=lambda: now[0]) is None
    (tmp_path / "n2.dead").write_text("{torn")
    assert locks.dead_until(tmp_path, "n2") is None


def test_acquire_skips_dead_nodes_and_fails_when_all_are_dead(tmp_path):
    inv = inventory.parse({"nodes": {"a": {"ssh": "a", "gpu_kind": "none"}, "b": {"ssh": "b", "gpu_kind": "none"}}})
    locks.mark_dead(tmp_path, "a", 60, "test")
    slot = locks.acquire(tmp_path, inv.nodes)
    assert slot.node.name == "b"
    slot.release()
    locks.mark_dead(tmp_path, "b", 60, "test")
    with pytest.raises(locks.PlacementError, match="every eligible node is marked down"):
        locks.acquire(tmp_path, inv.nodes)


# --------------------------------------------------------------------------- inventory


@pytest.mark.parametrize("spec,where", [
    ({"nodes": {"a": {"ssh": "a", "colour": "red"}}}, "nodes.a.colour"),
    ({"nodes": {"a": {"ssh": "a", "gpu_kind": "metal"}}}, "nodes.a.gpu_kind"),
    ({"nodes": {"a": {"ssh": "a", "gpu_kind": "none", "gpus": [0]}}}, "nodes.a.gpus"),
    ({"nodes": {"a": {"ssh": "a", "gpu_kind": "cuda"}}}, "nodes.a.gpus"),
    ({"nodes": {"a": {"ssh": "a", "workdir": "rel/dir"}}}, "nodes.a.workdir"),
    ({"nodes": {"a": {"ssh": "a", "env": {"CUDA_VISIBLE_DEVICES": "0"}}}}, "nodes.a.env.CUDA_VISIBLE_DEVICES"),
    ({"nodes": {"a": {"ssh": "-oProxyCommand=x"}}}, "nodes.a.ssh"),
    ({"nodes": {"a": {"local": True, "setup": "module load x"}}}, "nodes.a.setup"),
    ({"nodes": {"a": {"ssh": "a", "host": "b"}}}, "nodes.a"),
    ({"nodes": {"a b": {"ssh": "a"}}}, "nodes.a b"),
    ({"nodes": {"a": {"ssh": "a", "max_jobs": 0}}}, "nodes.a.max_jobs"),
    ({"nodes": {"a": {"ssh": "a"}}, "ssh_options": {"StrictHostKeyChecking": "no"}}, "ssh_options.StrictHostKeyChecking"),
    ({"nodes": {"a": {"ssh": "a"}}, "job_types": {"xgboost": ["tpu"]}}, "job_types.xgboost"),
    ({"nodes": {}}, "nodes"),
    ({"node": {}}, "node"),
])
def test_inventory_errors_name_file_and_key(spec, where):
    with pytest.raises(InputError) as err:
        inventory.parse(spec, source="nodes.yaml")
    assert str(err.value).startswith(f"nodes.yaml: {where}")
    assert "\n" not in str(err.value)


def test_example_inventory_of_the_cluster_profile_is_valid():
    inv = inventory.load(REPO / "profiles/cluster/nodes.yaml")
    kinds = {n.gpu_kind for n in inv.nodes}
    assert kinds == {"cuda", "rocm"}
    assert [n.name for n in inv.eligible("xgboost")] == [n.name for n in inv.nodes if n.gpu_kind == "cuda"]
    assert len(inv.eligible("neural_net")) == len(inv.nodes)


def test_job_types_and_require_select_nodes():
    inv = inventory.parse({
        "nodes": {"c": {"ssh": "c", "gpu_kind": "cuda", "gpus": [0]}, "r": {"ssh": "r", "gpu_kind": "rocm", "gpus": [0]},
                  "x": {"ssh": "x"}},
        "job_types": {"xgboost": ["cuda"], "neural_net": ["cuda", "rocm"]},
    })
    names = lambda ns: [n.name for n in ns]  # noqa: E731
    assert names(inv.eligible("xgboost")) == ["c"]
    assert names(inv.eligible("neural_net")) == ["c", "r"]
    assert names(inv.eligible("sieve_shard")) == ["c", "r", "x"]
    assert names(inv.eligible("neural_net", require=("rocm",))) == ["r"]
    assert names(inv.eligible("xgboost", require=("rocm",))) == []


def test_wildcards_as_snakemake_renders_them():
    assert place.parse_wildcards("i=3,prng=java_random") == {"i": "3", "prng": "java_random"}
    assert place.parse_wildcards("") == {}
    with pytest.raises(locks.PlacementError):
        place.parse_wildcards("nonsense")


# --------------------------------------------------------------------------- the command line


def test_in_place_without_an_inventory_execs_the_command(tmp_path):
    for value in (None, ""):
        extra = {} if value is None else {place.ENV_NODES: value}
        proc = subprocess.Popen([sys.executable, "-m", "seedsift.cluster.place", "--", "sh", "-c", 'echo "$$"; exit 7'],
                                cwd=tmp_path, env=placer_env(tmp_path, **extra), stdout=subprocess.PIPE, text=True)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 7
        assert int(out.strip()) == proc.pid  # the same process: exec, no wrapper left around the job
    assert not (tmp_path / ".nodelocks").exists() and not (tmp_path / "logs").exists()


def test_local_node_runs_the_job_with_its_gpu_and_records_it(tmp_path):
    inv = write_inventory(tmp_path, {"head": {"local": True, "gpu_kind": "cuda", "gpus": [0, 1]}},
                          job_types={"xgboost": ["cuda"]})
    env = placer_env(tmp_path, inv)
    script = "import os, sys; open(sys.argv[1], 'a').write(os.environ['CUDA_VISIBLE_DEVICES'] + os.environ['SEEDSIFT_NODE'] + '\\n')"
    for i in range(3):
        done = subprocess.run([sys.executable, "-m", "seedsift.cluster.place", "--rule", "train", "--wildcards", f"fold={i}",
                               "--job-type", "xgboost", "--", sys.executable, "-c", script, "out.txt"],
                              cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    assert (tmp_path / "out.txt").read_text().split() == ["0head", "1head", "0head"]
    failing = subprocess.run([sys.executable, "-m", "seedsift.cluster.place", "--", "sh", "-c", "exit 3"],
                             cwd=tmp_path, env=env, capture_output=True, text=True)
    assert failing.returncode == 3
    rocm_only = subprocess.run([sys.executable, "-m", "seedsift.cluster.place", "--require", "rocm", "--", "true"],
                               cwd=tmp_path, env=env, capture_output=True, text=True)
    assert rocm_only.returncode == place.EXIT_NO_NODE and "no node may run" in rocm_only.stderr

    path = run_manifest.write(tmp_path)
    manifest = json.loads(path.read_text())
    assert manifest["totals"]["completed"] == 3 and manifest["totals"]["failed"] == 1
    assert manifest["nodes"]["head"]["gpu_slots"] == {"0": 2, "1": 2}  # rotation: 0 1 0 1
    trains = [j for j in manifest["jobs"] if j["rule"] == "train"]
    assert [j["wildcards"] for j in trains] == [{"fold": "0"}, {"fold": "1"}, {"fold": "2"}]
    assert all(j["status"] == "completed" and j["attempts"][0]["via"] == "local" for j in trains)
    assert [j["status"] for j in manifest["jobs"] if j["rule"] == "sh"] == ["failed"]


def _wait_for(path, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.05)
    raise AssertionError(f"{path} was not written")


def _gone(pid, timeout=5.0):
    """True once ``pid`` has exited (or is a zombie), checking at least once."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[-1].split()[0] == "Z":
                    return True
        except (FileNotFoundError, ProcessLookupError):  # exited between open() and read()
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def test_sigterm_is_forwarded_to_the_job(tmp_path):
    inv = write_inventory(tmp_path, {"head": {"local": True}})
    proc = subprocess.Popen([sys.executable, "-m", "seedsift.cluster.place", "--", "sh", "-c", "echo $$ > job.pid; exec sleep 60"],
                            cwd=tmp_path, env=placer_env(tmp_path, inv))
    job = int(_wait_for(tmp_path / "job.pid"))
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 128 + signal.SIGTERM
    assert time.monotonic() - start < 3 and _gone(job)
    ends = [json.loads(line) for line in (tmp_path / place.PLACEMENT_LOG).read_text().splitlines()]
    assert ends[-1]["outcome"] == "interrupted"


def test_kill_9_of_the_run_stops_the_job(tmp_path):
    """The process that started the placer's shell (snakemake) dies by SIGKILL: the job goes too."""
    inv = write_inventory(tmp_path, {"head": {"local": True}})
    fake_snakemake = subprocess.Popen(
        [sys.executable, "-c",
         "import subprocess, sys; subprocess.run(['bash', '-c', sys.argv[1] + ' -m seedsift.cluster.place -- "
         "sh -c \"echo \\\\$\\\\$ > job.pid; exec sleep 60\"; true'])", sys.executable],
        cwd=tmp_path, env=placer_env(tmp_path, inv))
    job = int(_wait_for(tmp_path / "job.pid"))
    fake_snakemake.kill()
    fake_snakemake.wait()
    try:
        assert _gone(job), "the job outlived the run that started it"
    finally:
        if not _gone(job, timeout=0):
            os.kill(job, signal.SIGKILL)


# --------------------------------------------------------------------------- manifest


def test_manifest_groups_attempts_and_counts_per_node():
    def rec(event, pid, attempt, node, t, **kw):
        return {"event": event, "placement": pid, "attempt": attempt, "node": node, "gpu": "0", "time": t, **kw}

    job = {"rule": "sieve_shard", "wildcards": {"i": "0"}, "command": ["x"], "gpu_kind": "cuda", "via": "ssh"}
    records = [
        rec("start", "p1", 1, "dead", 10.0, **job), rec("end", "p1", 1, "dead", 10.5, exit_status=255, outcome="node_down"),
        rec("start", "p1", 2, "a", 10.6, **job), rec("end", "p1", 2, "a", 12.0, exit_status=1, outcome="failed"),
        # snakemake's retry of the same job: a new placement, same rule and wildcards
        rec("start", "p2", 1, "b", 13.0, **job), rec("end", "p2", 1, "b", 14.0, exit_status=0, outcome="ok"),
        rec("start", "p3", 1, "a", 13.5, **{**job, "wildcards": {"i": "1"}}),
        # a record of an earlier run
        rec("start", "p0", 1, "a", 1.0, **{**job, "wildcards": {"i": "9"}}),
    ]
    m = run_manifest.build(records, planned={"sieve_shard": 4, "all": 1}, since=9.0)
    assert m["totals"] == {"expected": 4, "placed": 2, "not_started": 2, "completed": 1, "failed": 0,
                           "unfinished": 1, "attempts": 4, "node_down": 1}
    first = m["jobs"][0]
    assert [a["node"] for a in first["attempts"]] == ["dead", "a", "b"] and first["status"] == "completed"
    assert [a["attempt"] for a in first["attempts"]] == [1, 2, 3]
    assert m["nodes"]["dead"] == {"expected": 1, "completed": 0, "failed": 0, "node_down": 1, "unfinished": 0,
                                  "gpu_slots": {"0": 1}}
    assert m["nodes"]["a"]["failed"] == 1 and m["nodes"]["a"]["unfinished"] == 1


def test_manifest_only_if_placed_leaves_the_last_cluster_manifest_alone(tmp_path):
    assert run_manifest.write(tmp_path, only_if_placed=True) is None
    assert not (tmp_path / run_manifest.MANIFEST).exists()
    place.append_record(tmp_path / place.PLACEMENT_LOG, {"event": "start", "placement": "p", "attempt": 1,
                                                          "node": "a", "gpu": "0", "rule": "r", "time": time.time()})
    assert run_manifest.write(tmp_path, only_if_placed=True) == tmp_path / run_manifest.MANIFEST
    # A later snakemake run (its log names its start) that placed nothing writes nothing.
    logs = tmp_path / run_manifest.SNAKEMAKE_LOGS
    logs.mkdir(parents=True)
    later = time.strftime("%Y-%m-%dT%H%M%S", time.localtime(time.time() + 60)) + ".000000.snakemake.log"
    (logs / later).write_text("Job stats:\njob count\n--- ---\nr 1\ntotal 1\n")
    before = (tmp_path / run_manifest.MANIFEST).read_text()
    assert run_manifest.write(tmp_path, only_if_placed=True) is None
    assert (tmp_path / run_manifest.MANIFEST).read_text() == before
    assert json.loads(run_manifest.write(tmp_path).read_text())["totals"]["placed"] == 0


def test_planned_jobs_from_a_snakemake_log():
    text = "Building DAG of jobs...\nJob stats:\njob            count\n-----------  -------\nsieve_shard        8\n" \
           "aggregate_sieve    1\ntotal              9\n\nSelect jobs to execute...\n"
    assert run_manifest.planned_jobs(text) == {"sieve_shard": 8, "aggregate_sieve": 1}
    assert run_manifest.planned_jobs("no table") == {}
