"""make rerun-missing: after deleting an intermediate output, exactly the job that made it and the
jobs downstream of it run again (plain snakemake would say "Nothing to be done")."""

import json
import subprocess
import sys

import pytest

from seedsift.cluster.run_manifest import planned_jobs
from seedsift.pipeline import rerun

from conftest import REPO, TINY_CONFIG, env, snakemake

DELETED = "results/sieve/pcg32/shard_1.json"


def _without_stats(path):
    # A shard records how long it took; the seeds it found are what must come back.
    doc = json.loads(path.read_text())
    doc.pop("stats", None)
    doc.pop("agent_metadata", None)
    return doc


def test_parse_summary_reads_snakemake_table():
    text = ("Building DAG of jobs...\noutput_file\tdate\trule\tlog-file(s)\tstatus\tplan\n"
            "results/a.json\tThu Nov 26 13:52:43 2026\tr\tlogs/a.log\tok\tno update\n"
            "results/b.json\t-\tr\tlogs/b.log\tmissing\tupdate pending\n")
    rows = rerun.parse_summary(text)
    assert [r["output_file"] for r in rows if r["status"] == "missing"] == ["results/b.json"]
    with pytest.raises(rerun.SummaryError):
        rerun.parse_summary("no table here")


def test_rerun_missing_reruns_exactly_the_deleted_output_and_its_dependents(tmp_path):
    snakemake(tmp_path, "--cores", "2", config=TINY_CONFIG)
    base = ["-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "--configfile", str(tmp_path / "test_config.yaml")]
    # The oracle: the jobs snakemake itself would run to force that one file and what follows from it.
    forced = snakemake(tmp_path, "-n", "--forcerun", DELETED, config=TINY_CONFIG)
    expected = planned_jobs(forced.stdout + forced.stderr)
    assert expected["sieve_shard"] == 1 and "prepare_draws" not in expected and expected["all"] == 1

    content = _without_stats(tmp_path / DELETED)
    (tmp_path / DELETED).unlink()
    plain = snakemake(tmp_path, "-n", config=TINY_CONFIG)
    assert "Nothing to be done" in plain.stdout + plain.stderr  # why the command exists

    assert rerun.missing_outputs(base, cwd=tmp_path, env=env()) == [DELETED]
    done = subprocess.run([sys.executable, "-m", "seedsift.pipeline.rerun", "--", *base, "--cores", "2"],
                          cwd=REPO, env=env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    assert planned_jobs(done.stdout + done.stderr) == expected
    assert _without_stats(tmp_path / DELETED) == content

    again = subprocess.run([sys.executable, "-m", "seedsift.pipeline.rerun", "--", *base], cwd=REPO, env=env(),
                           capture_output=True, text=True)
    assert again.returncode == 0 and "no output is missing" in again.stderr
