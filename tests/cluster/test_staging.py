"""Copies for nodes without the shared checkout: where each path goes on the node, the command
the node runs, the copies in both directions (rsync through a stand-in for ssh that runs the
remote side here) and the renames that put outputs in place."""

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from seedsift.cluster import inventory, remote, staging

from conftest import REPO


def _stage(tmp_path, inputs=(), outputs=(), cwd=None):
    node_dir = tmp_path / "node"
    inv = inventory.parse({"nodes": {"rig": {"ssh": "rig", "gpu_kind": "rocm", "gpus": [0], "shared": False,
                                             "workdir": str(node_dir)}}}, source="nodes.yaml")
    cwd = cwd or tmp_path / "head"
    cwd.mkdir(parents=True, exist_ok=True)
    return staging.Stage(inv, inv.nodes[0], REPO, cwd, list(inputs), list(outputs))


def _local(argv, tmp_path):
    """The rsync argv with its ssh replaced by a stand-in that runs the remote command here."""
    shim = tmp_path / "fake-ssh"
    shim.write_text("#!/bin/sh\nshift\nexec sh -c \"$*\"\n")
    shim.chmod(0o755)
    assert argv[:2] == ["rsync", "-e"] and argv[2].startswith("ssh ")
    return ["rsync", "-e", str(shim)] + argv[3:]


def test_a_shared_false_node_needs_a_work_folder_and_no_local_flag():
    with pytest.raises(Exception, match="nodes.rig.workdir"):
        inventory.parse({"nodes": {"rig": {"ssh": "rig", "shared": False}}}, source="nodes.yaml")
    with pytest.raises(Exception, match="nodes.h.shared"):
        inventory.parse({"nodes": {"h": {"local": True, "shared": False, "workdir": "/x"}}}, source="nodes.yaml")
    node = inventory.parse({"nodes": {"rig": {"ssh": "rig", "shared": False, "workdir": "/w", "job_timeout_s": 30}}}).nodes[0]
    assert node.staged and node.job_timeout_s == 30.0 and node.min_free_mb == 64.0


def test_paths_map_into_the_run_folder_and_the_code_copy(tmp_path):
    extra = tmp_path / "elsewhere" / "draws.csv"
    stage = _stage(tmp_path, inputs=["results/a.json", str(REPO / "scripts" / "sieve_shard.py"), str(extra)],
                   outputs=["results/b.json", "results/model/best_model.*"])
    assert stage.relative_inputs == ["results/a.json"] and stage.absolute_inputs == [str(extra)]
    assert stage.files == ["results/b.json"] and stage.patterns == ["results/model/best_model.*"]
    run = stage.run_dir
    assert run.parent == tmp_path / "node" / "runs" and stage.code_dir == tmp_path / "node" / "code"
    command = ["python", str(REPO / "scripts" / "sieve_shard.py"), "--train", "results/a.json", "--draws", str(extra),
               "--out", str(stage.cwd / "results" / "b.json"), "--params", '{"x": "/not/a/declared/path"}']
    assert stage.node_command(command) == [
        "python", str(stage.code_dir / "scripts" / "sieve_shard.py"), "--train", "results/a.json",
        "--draws", str(run / "_abs" / str(extra).lstrip("/")), "--out", str(run / "results" / "b.json"),
        "--params", '{"x": "/not/a/declared/path"}']
    # Run from the checkout itself: scripts/ is code, results/ is the run folder's.
    in_repo = _stage(tmp_path, inputs=[str(REPO / "scripts" / "x.py"), "results/a.json"], cwd=REPO)
    assert in_repo.relative_inputs == ["results/a.json"] and in_repo.absolute_inputs == []
    assert in_repo.node_path(str(REPO / "scripts" / "x.py")) == str(in_repo.code_dir / "scripts" / "x.py")
    with pytest.raises(staging.StagingError, match="outside the working directory"):
        _stage(tmp_path, outputs=["/tmp/out.json"])
    with pytest.raises(staging.StagingError, match="only the file name"):
        _stage(tmp_path, outputs=["results/*/x.json"])


def test_the_remote_script_clears_old_outputs_and_runs_in_the_run_folder(tmp_path):
    stage = _stage(tmp_path, inputs=["results/a.json"], outputs=["results/deep/b.json", "results/m/best_model.*"])
    run = stage.run_dir
    (run / "results" / "m").mkdir(parents=True)
    (run / "results" / "m" / "best_model.cbm").write_text("old artifact")
    (run / "results" / "a.json").write_text("{}")
    out = tmp_path / "seen.txt"
    command = [sys.executable, "-c", "import os, sys, seedsift; open(sys.argv[1], 'w').write(os.getcwd() + '|' + "
               "seedsift.__file__ + '|' + str(sorted(os.listdir('results/m'))) + '|' + str(os.path.isdir('results/deep')))",
               str(out)]
    (stage.code_dir / "seedsift").mkdir(parents=True)
    (stage.code_dir / "seedsift" / "__init__.py").write_text("")
    script = remote.remote_script(stage.node, command, stage.cwd, "0", staged=stage)
    done = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""})
    assert done.returncode == 0, done.stderr
    cwd, module, listing, deep = out.read_text().split("|")
    assert cwd == str(run) and module == str(stage.code_dir / "seedsift" / "__init__.py")
    assert listing == "[]" and deep == "True"


def test_copies_go_to_the_node_and_outputs_come_back_under_temporary_names(tmp_path):
    stage = _stage(tmp_path, inputs=["results/a.json", "results/sub/c.json"],
                   outputs=["results/b.json", "results/m/best_model.*"])
    head = stage.cwd
    (head / "results" / "sub").mkdir(parents=True)
    (head / "results" / "a.json").write_text("A")
    (head / "results" / "sub" / "c.json").write_text("C")
    (head / "results" / "m").mkdir()
    (head / "results" / "m" / "best_model.pth").write_text("the previous run's artifact")
    (head / "results" / "m" / "best_model.meta.json").write_text("sidecar")  # matched by the pattern too
    area = staging.StagingArea(head, "p-1")
    for argv in stage.upload_argvs(area.root):
        done = subprocess.run(_local(argv, tmp_path), capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    run = stage.run_dir
    assert (run / "results" / "a.json").read_text() == "A" and (run / "results" / "sub" / "c.json").read_text() == "C"
    assert not (run / "results" / "m").exists()  # nothing undeclared went over
    # The job on the node: its outputs, and a file it was not asked for.
    (run / "results" / "b.json").write_text("B")
    (run / "results" / "m").mkdir()
    (run / "results" / "m" / "best_model.cbm").write_text("new artifact")
    (run / "results" / "m" / "best_model.meta.json").write_text("new sidecar")
    (run / "results" / "scratch.tmp").write_text("not an output")
    done = subprocess.run(_local(stage.download_argv(area.outputs), tmp_path), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert not (head / "results" / "b.json").exists()  # not in place before the commit
    placed = stage.commit(area.outputs)
    area.close()
    assert (head / "results" / "b.json").read_text() == "B"
    assert sorted(p.name for p in (head / "results" / "m").iterdir()) == ["best_model.cbm", "best_model.meta.json"]
    assert (head / "results" / "m" / "best_model.meta.json").read_text() == "new sidecar"
    assert not (head / "results" / "scratch.tmp").exists()
    assert len(placed) == 3 and not (head / staging.STAGING_DIR / "p-1").exists()


def test_a_staging_folder_whose_placer_is_gone_is_removed(tmp_path):
    live = staging.StagingArea(tmp_path, "live")
    dead = tmp_path / staging.STAGING_DIR / "dead"
    dead.mkdir(parents=True)
    (dead / ".lock").write_text("")
    (dead / "outputs").mkdir()
    assert staging.clean_stale_staging(tmp_path) == 1
    assert live.root.exists() and not dead.exists()
    live.close()


def test_rsync_failures_are_told_apart():
    assert staging.rsync_failure(0, "") == "ok"
    assert staging.rsync_failure(11, "rsync: write failed on \"x\": No space left on device (28)") == "disk_full"
    assert staging.rsync_failure(12, "rsync: connection unexpectedly closed") == "connection"
    assert staging.rsync_failure(255, "") == "connection"
    assert staging.rsync_failure(23, "some files vanished") == "error"


def test_the_node_requirements_are_the_jobs_imports_at_their_pins():
    reqs = {dist: (module, version) for dist, module, version in staging.node_requirements(REPO)}
    assert reqs["PyYAML"][0] == "yaml" and reqs["numpy"][0] == "numpy" and "torch" in reqs
    assert not {"snakemake", "pytest", "ruff", "snakefmt", "matplotlib"} & {d.lower() for d in reqs}
    text = (REPO / "requirements.txt").read_text()
    assert all(f"{dist}=={version}" in text for dist, (_, version) in reqs.items())


def test_the_environment_check_names_what_is_missing(tmp_path):
    ok = subprocess.run([sys.executable, "-c", staging.ENV_CHECK, '[["PyYAML", "yaml", "%s"]]' % __import__("yaml").__version__, ""],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = subprocess.run([sys.executable, "-c", staging.ENV_CHECK,
                          '[["nosuchpackage", "nosuchmodule", "1.0"], ["PyYAML", "yaml", "0.0.1"]]', str(tmp_path)],
                         capture_output=True, text=True)
    assert bad.returncode == 3
    line = bad.stdout.strip()
    assert "\n" not in line and line.startswith(f"python {sys.executable}: ")
    assert "cannot import nosuchmodule" in line and "where requirements.txt pins 0.0.1" in line
    assert f"not from the copied project in {tmp_path}" in line


def test_rsync_gets_the_same_ssh_options_quoted_for_its_own_parser(tmp_path):
    cfg = tmp_path / "ssh config"
    cfg.write_text("")
    inv = inventory.parse({"ssh_config": str(cfg), "nodes": {"n": {"host": "192.0.2.1", "port": 2222, "user": "u",
                                                                     "shared": False, "workdir": "/w", "rsync": "/opt/rsync"}}})
    argv = staging.rsync_base(inv, inv.nodes[0])
    assert argv[:2] == ["rsync", "-e"] and argv[-2:] == ["--rsync-path", "/opt/rsync"]
    # rsync splits -e on spaces and strips quotes: the same argv as ssh_base's.
    assert shlex.split(argv[2]) == remote.ssh_base(inv, inv.nodes[0], tty=False)[:-1]
    assert f"'{cfg}'" in argv[2]
    assert staging.sync_code_argv(inv, inv.nodes[0], REPO)[-1] == "192.0.2.1:/w/code/"
    assert Path(staging.sync_code_argv(inv, inv.nodes[0], REPO)[-2]).name == "requirements.lock"
