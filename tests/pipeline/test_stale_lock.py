"""A lock left by a killed run is removed (one line says so); a live snakemake's lock never is."""

import os
import subprocess

from seedsift.pipeline import stale_lock

from conftest import TINY_CONFIG, snakemake

TARGET = "results/data/draws.json"


def _leave_a_lock(workdir):
    locks = workdir / stale_lock.LOCKS
    locks.mkdir(parents=True)
    # What a killed run of this target leaves (snakemake writes the paths relative to the directory).
    (locks / "0.input.lock").write_text("")
    (locks / "0.output.lock").write_text(f"{TARGET}\nresults/data/train_history.json\n")


def test_snakemake_processes_are_recognised_with_their_directory(tmp_path):
    assert stale_lock.is_snakemake(["/venv/bin/python3", "/venv/bin/snakemake", "--cores", "1"])
    assert stale_lock.is_snakemake(["snakemake", "-n"])
    assert stale_lock.is_snakemake(["python", "-m", "snakemake", "--unlock"])
    assert not stale_lock.is_snakemake(["python", "-m", "seedsift.cluster.place", "--", "snakemake"])
    assert not stale_lock.is_snakemake(["bash", "-c", "snakemake"]) and not stale_lock.is_snakemake([])
    me = os.getpid()
    assert stale_lock.working_directory(me, ["snakemake", "-d", str(tmp_path)]) == os.path.realpath(tmp_path)
    assert stale_lock.working_directory(me, ["snakemake", f"--directory={tmp_path}"]) == os.path.realpath(tmp_path)
    assert stale_lock.working_directory(me, ["snakemake"]) == os.path.realpath(os.getcwd())


def test_a_stale_lock_is_removed_and_the_run_goes_on(tmp_path):
    _leave_a_lock(tmp_path)
    done = snakemake(tmp_path, "--cores", "1", TARGET, config=TINY_CONFIG)
    text = done.stdout + done.stderr
    notes = [line for line in text.splitlines() if "removed a stale snakemake lock" in line]
    assert notes == [f"seedsift: removed a stale snakemake lock in {os.path.realpath(tmp_path)} "
                     "(no snakemake runs there: the last run was killed); continuing"]
    assert (tmp_path / TARGET).is_file() and not stale_lock.lock_files(tmp_path)
    # No lock: nothing to say.
    again = snakemake(tmp_path, "--cores", "1", TARGET, config=TINY_CONFIG)
    assert "removed a stale" not in again.stdout + again.stderr


def test_the_lock_of_a_live_snakemake_is_never_removed(tmp_path):
    _leave_a_lock(tmp_path)
    # A process that looks like a snakemake working in this directory (argv[0] "snakemake").
    live = subprocess.Popen(["bash", "-c", "exec -a snakemake sleep 120"], cwd=tmp_path)
    try:
        done = snakemake(tmp_path, "--cores", "1", TARGET, config=TINY_CONFIG, check=False)
        assert done.returncode != 0
        assert "cannot be locked" in done.stdout + done.stderr
        assert "removed a stale" not in done.stdout + done.stderr
        assert len(stale_lock.lock_files(tmp_path)) == 2 and live.poll() is None
        assert stale_lock.live_snakemakes(tmp_path) == [live.pid]
    finally:
        live.kill()
        live.wait()
    assert stale_lock.clear_stale_lock(tmp_path) is not None and not stale_lock.lock_files(tmp_path)
