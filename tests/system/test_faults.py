"""Faults: killed jobs, a killed snakemake, truncated files. Nothing half-written counts as done."""

import base64
import json
import os
import signal
import subprocess
import time

import pytest

from seedsift.errors import InputError
from seedsift.sieve import shards

from conftest import BIN, REPO, TINY_CONFIG, deep_update, env, snakemake

# Shards slow enough (a few seconds) to be killed mid-run.
SLOW = deep_update(TINY_CONFIG, {
    "synthetic": {"prng": "mt19937", "seed": 77777, "skip": 1},
    "sieve": {"prngs": ["mt19937"], "seed_end": 1 << 24, "shards": 4, "window": 6, "skip_max": 5},
})
pytestmark = pytest.mark.slow


def _start(workdir, config):
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = workdir / "test_config.yaml"
    import yaml

    cfg.write_text(yaml.safe_dump(config))
    cmd = [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--cores", "2",
           "results/sieve/sieve_summary.json", "--configfile", str(cfg)]
    return subprocess.Popen(cmd, cwd=workdir, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def _wait_for(predicate, timeout=120):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _shard_pids(workdir):
    """Python processes running scripts/sieve_shard.py in this workdir (not their shell wrappers)."""
    out = subprocess.run(["pgrep", "-f", "sieve_shard.py"], capture_output=True, text=True)
    pids = []
    for pid in map(int, out.stdout.split()):
        try:
            argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
            if os.readlink(f"/proc/{pid}/cwd") == str(workdir) and argv[1].endswith(b"sieve_shard.py"):
                pids.append(pid)
        except (OSError, IndexError):
            continue
    return pids


def _recorded(workdir, relpath):
    """Snakemake has recorded the job that made ``relpath`` as finished (its metadata exists)."""
    name = base64.urlsafe_b64encode(relpath.encode()).decode()
    return (workdir / ".snakemake/metadata" / name).exists() and not (workdir / ".snakemake/incomplete" / name).exists()


def _survivors(workdir):
    return json.loads((workdir / "results/sieve/bidirectional_survivors.json").read_text())


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    work = tmp_path_factory.mktemp("reference")
    snakemake(work, "--cores", "2", "results/sieve/sieve_summary.json", config=SLOW)
    return _survivors(work)


def test_kill9_of_a_job_then_rerun_gives_the_uninterrupted_result(tmp_path, reference):
    work = tmp_path / "w"
    proc = _start(work, SLOW)
    assert _wait_for(lambda: _shard_pids(work)), "no shard job started"
    victim = _shard_pids(work)[0]
    os.kill(victim, signal.SIGKILL)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode != 0, out
    shard_files = list((work / "results/sieve/mt19937").glob("shard_*.json"))
    assert len(shard_files) < 4  # the killed job's output was not kept
    for f in shard_files:
        json.loads(f.read_text())  # whatever is there is complete
    snakemake(work, "--cores", "2", "--rerun-incomplete", "results/sieve/sieve_summary.json", config=SLOW)
    assert _survivors(work) == reference


def test_kill9_of_snakemake_resumes_without_redoing_finished_shards(tmp_path, reference):
    work = tmp_path / "w"
    proc = _start(work, SLOW)
    shard_dir = work / "results/sieve/mt19937"
    rel = "results/sieve/mt19937/shard_{}.json"
    assert _wait_for(lambda: any(_recorded(work, rel.format(i)) for i in range(4)))
    finished = {f"shard_{i}.json": (shard_dir / f"shard_{i}.json").stat().st_mtime_ns
                for i in range(4) if _recorded(work, rel.format(i))}
    os.killpg(proc.pid, signal.SIGKILL)  # snakemake and the jobs it started
    proc.wait()
    assert len(finished) < 4
    assert list((work / ".snakemake" / "locks").glob("*.lock")), "the killed run left no lock to test with"
    # A plain rerun, as make run does it: the stale lock is removed with one line, no --unlock.
    run = snakemake(work, "--cores", "2", "results/sieve/sieve_summary.json", config=SLOW)
    notes = [line for line in (run.stdout + run.stderr).splitlines() if "removed a stale snakemake lock" in line]
    assert len(notes) == 1
    for name, mtime in finished.items():
        assert (shard_dir / name).stat().st_mtime_ns == mtime, f"{name} was recomputed"
    assert _survivors(work) == reference
    assert "sieve_shard" in run.stdout + run.stderr


def test_a_truncated_shard_fails_the_aggregation(tmp_path):
    from seedsift.data.history import prepare
    from seedsift.pipeline.config import validate

    cfg = validate(deep_update(TINY_CONFIG, {"sieve": {"shards": 1, "prngs": ["pcg32"]}}))
    prepare("synthetic", cfg, tmp_path)
    shard = tmp_path / "shard_0.json"
    shards.run_shard(tmp_path / "train_history.json", "pcg32", 0, cfg, shard)
    shard.write_text(shard.read_text()[:-100])
    outs = [tmp_path / n for n in ("fwd.json", "bid.json", "summary.json")]
    with pytest.raises(InputError, match="invalid JSON"):
        shards.aggregate([shard], tmp_path / "train_history.json", cfg, *outs)
    assert not any(p.exists() for p in outs)


def test_a_failing_job_leaves_no_output_snakemake_would_accept(tmp_path):
    """A draw file that turns bad after validation: the job fails with one line, no output."""
    path = tmp_path / "draws.json"
    path.write_text(json.dumps(list(range(160))))
    cfg = deep_update(TINY_CONFIG, {"draws": str(path)})
    snakemake(tmp_path, "-n", config=cfg)
    path.write_text("[1, 2,")  # broken after the dry run validated it
    proc = snakemake(tmp_path, "--cores", "1", config=cfg, check=False)
    assert proc.returncode != 0
    assert not (tmp_path / "results/data/draws.json").exists()
    assert "invalid JSON" in proc.stdout + proc.stderr
