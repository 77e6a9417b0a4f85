"""The SLURM profile, for real: the sieve part of the pipeline submitted with sbatch to a
single-host SLURM cluster (slurm-wlm and munge on localhost, started here), its results equal to
a local run's. Skipped, with the reason, where that cluster cannot start (no root, no packages)."""

import json
import subprocess
from datetime import datetime

import pytest
import yaml

from seedsift.cluster import run_manifest

import slurm_cluster
from conftest import BIN, REPO, TINY_CONFIG, env, snakemake

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

PROFILE = REPO / "profiles" / "slurm"
TARGET = "results/sieve/sieve_summary.json"
# What this cluster lacks and a site's has: an accounting database (so the plugin's status
# command is squeue here) and accounts (so none is asked for). The rest is the profile's.
SITE = ["--slurm-status-command", "squeue", "--slurm-no-account", "--slurm-init-seconds-before-status-checks", "2",
        "--seconds-between-status-checks", "2"]


@pytest.fixture(scope="module")
def slurm():
    reason = slurm_cluster.unavailable_reason()
    if reason:
        pytest.skip(f"no single-host SLURM cluster: {reason}")
    try:
        with slurm_cluster.SlurmCluster() as cluster:
            yield cluster
    except slurm_cluster.SlurmError as exc:
        pytest.skip(f"the single-host SLURM cluster did not start: {exc}")


def _survivors(workdir):
    return {name: json.loads((workdir / "results" / "sieve" / f"{name}_survivors.json").read_text())
            for name in ("forward", "bidirectional")}


def test_the_slurm_profile_runs_the_sieve_on_a_real_slurm_cluster(slurm, tmp_path):
    local = tmp_path / "local"
    snakemake(local, "--cores", "2", TARGET, config=TINY_CONFIG)

    workdir = tmp_path / "slurm"
    workdir.mkdir()
    (workdir / "test_config.yaml").write_text(yaml.safe_dump(TINY_CONFIG))
    e = slurm.environment(env())
    cmd = [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--configfile",
           str(workdir / "test_config.yaml"), "--profile", str(PROFILE), *SITE, TARGET]
    done = subprocess.run(cmd, cwd=workdir, env=e, capture_output=True, text=True, timeout=900)
    text = done.stdout + done.stderr
    assert done.returncode == 0, text[-6000:]

    # Every sieve shard was its own SLURM job, and each got one of the node's GPUs.
    submitted = [line for line in text.splitlines() if "has been submitted with SLURM jobid" in line]
    n_shards = len(TINY_CONFIG["sieve"]["prngs"]) * TINY_CONFIG["sieve"]["shards"]
    assert len(submitted) == n_shards, text[-3000:]
    jobs = slurm.jobs()
    assert len(jobs) == n_shards and all(j["JobState"] == "COMPLETED" for j in jobs.values()), jobs
    # The profile's request per placed rule: one GPU and four CPUs, granted by SLURM.
    assert all(j["TresPerJob"] == "gres:gpu:1" and j["NumCPUs"] == "4" for j in jobs.values()), jobs
    # The node has two GPUs: never more than two of these jobs ran at once.
    spans = [(datetime.fromisoformat(j["StartTime"]).timestamp(), datetime.fromisoformat(j["EndTime"]).timestamp())
             for j in jobs.values()]
    assert run_manifest.max_concurrent(spans) <= 2

    assert _survivors(workdir) == _survivors(local)
    again = snakemake(workdir, "-n", TARGET, config=TINY_CONFIG)
    assert "Nothing to be done" in again.stdout + again.stderr
