"""The cluster and slurm profiles: commented keys, how the cluster profile names its inventory,
the slurm profile's per-rule GPU requests (dry run), and `make dag` on the tiny config."""

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from seedsift.cluster import place

from conftest import BIN, REPO, TINY_CONFIG, env, snakemake

PROFILES = REPO / "profiles"


@pytest.mark.parametrize("name", ["cluster", "slurm"])
def test_every_profile_key_has_a_comment_above_it(name):
    lines = (PROFILES / name / "config.yaml").read_text().splitlines()
    keys = 0
    for i, line in enumerate(lines):
        if re.match(r"[A-Za-z_][\w-]*:", line):
            keys += 1
            assert i > 0 and lines[i - 1].lstrip().startswith("#"), f"{name}: no comment above {line!r}"
    assert keys >= 8


def test_cluster_profile_points_the_placer_at_its_inventory_and_takes_its_slots_from_it(monkeypatch, tmp_path):
    from snakemake.profiles import ProfileConfigFileParser

    from seedsift.cluster import accounting, inventory

    profile = PROFILES / "cluster" / "config.yaml"
    monkeypatch.chdir(REPO)
    monkeypatch.delenv(place.ENV_NODES, raising=False)
    monkeypatch.delenv(place.ENV_SSH_CONFIG, raising=False)
    with open(profile) as fh:
        parsed = ProfileConfigFileParser().parse(fh)
    assert os.environ[place.ENV_NODES] == str(PROFILES / "cluster" / "nodes.yaml")
    assert parsed["executor"] == "local"
    # The totals are the inventory's, per class: nothing to keep in step by hand.
    limits = accounting.limits(inventory.load(PROFILES / "cluster" / "nodes.yaml"))
    assert sorted(parsed["resources"]) == sorted(f"{k}={v}" for k, v in limits.items())
    assert limits == {"gpu_cuda": 2, "gpu_rocm": 24, "gpu_slots": 26}

    # Another inventory and ssh config through the environment, relative to where snakemake starts.
    mine = tmp_path / "mine.yaml"
    mine.write_text(yaml.safe_dump({"nodes": {"a": {"ssh": "a", "gpu_kind": "rocm", "gpus": [0, 1, 2], "max_jobs": 3},
                                              "b": {"ssh": "b", "gpu_kind": "none", "max_jobs": 2}},
                                    "job_types": {"neural_net": ["rocm"]}}))
    (tmp_path / "ssh").mkdir()
    (tmp_path / "ssh" / "config").write_text("")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(place.ENV_NODES, "mine.yaml")
    monkeypatch.setenv(place.ENV_SSH_CONFIG, "ssh/config")
    with open(profile) as fh:
        parsed = ProfileConfigFileParser().parse(fh)
    assert os.environ[place.ENV_NODES] == str(mine)
    assert os.environ[place.ENV_SSH_CONFIG] == str(tmp_path / "ssh" / "config")
    assert sorted(parsed["resources"]) == ["gpu_none=2", "gpu_rocm=3", "gpu_slots=5"]

    # From a folder without profiles/: the checkout's inventory.
    monkeypatch.delenv(place.ENV_NODES)
    with open(profile) as fh:
        ProfileConfigFileParser().parse(fh)
    assert os.environ[place.ENV_NODES] == str(PROFILES / "cluster" / "nodes.yaml")


def test_every_placed_rule_carries_its_job_type_and_gets_a_gpu_under_slurm():
    from test_cluster import placed_rules

    rules = placed_rules()
    assert {"sieve_shard", "score_chunk", "train_fold", "select_model"} <= rules
    slurm = yaml.safe_load((PROFILES / "slurm" / "config.yaml").read_text())
    for rule in rules:
        assert slurm["set-resources"].get(rule, {}).get("gpu") == 1, f"slurm profile: {rule} gets no GPU"
    text = "".join(p.read_text() for p in (REPO / "rules").glob("*.smk"))
    for block in re.split(r"\n(?=rule \w+:)", text):
        m = re.match(r"rule (\w+):", block)
        if m and m.group(1) in rules:
            assert "**gpu_job(" in block, f"{m.group(1)}: no resources from gpu_job()"
            assert "--job-type {resources.job_type:q}" in block, f"{m.group(1)}: the placer does not get the job type"
            assert "--inputs {input:q}" in block and "--outputs {output:q}" in block, m.group(1)


def test_profile_default_sizes_cores_for_placed_jobs_under_an_inventory(monkeypatch, tmp_path):
    from snakemake.profiles import ProfileConfigFileParser

    monkeypatch.delenv(place.ENV_NODES, raising=False)
    with open(PROFILES / "default" / "config.yaml") as fh:
        assert ProfileConfigFileParser().parse(fh)["cores"] == "all"
    monkeypatch.setenv(place.ENV_NODES, str(PROFILES / "cluster" / "nodes.yaml"))
    with open(PROFILES / "default" / "config.yaml") as fh:
        cores = int(ProfileConfigFileParser().parse(fh)["cores"])
    assert cores == os.cpu_count() + 2 * 26


def _jobs(text):
    """(rule, resources line) of each job block of a dry run."""
    out = []
    for block in re.split(r"\n(?=(?:local)?(?:rule|checkpoint) \w+:)", text):
        m = re.match(r"(?:local)?(?:rule|checkpoint) (\w+):", block)
        res = re.search(r"^\s+resources: (.*)$", block, re.M)
        if m:
            out.append((m.group(1), res.group(1) if res else ""))
    return out


def test_slurm_profile_dry_run_requests_a_gpu_per_remote_job(tmp_path):
    done = snakemake(tmp_path, "--profile", str(PROFILES / "slurm"), "-n", config=TINY_CONFIG)
    jobs = _jobs(done.stdout + done.stderr)
    from test_cluster import placed_rules

    placed = placed_rules()
    remote = [res for rule, res in jobs if rule in placed]
    # The tiny config searches seeds: recover_state runs only under sieve.search: state.
    assert {rule for rule, _ in jobs if rule in placed} == placed - {"recover_state"}
    assert len([r for r, _ in jobs if r in ("sieve_shard", "score_chunk")]) == 8
    assert all("gpu=1" in res and "cpus_per_task=4" in res for res in remote)
    assert all("gpu=" not in res for rule, res in jobs if rule not in placed)
    assert not (tmp_path / "results").exists() and not (tmp_path / "logs").exists()


def test_make_setup_links_the_profiles_so_that_their_bare_names_work(tmp_path):
    """`snakemake --profile cluster`, exactly as the design card writes it, after make setup."""
    config_home = tmp_path / "xdg"
    e = env()
    e["XDG_CONFIG_HOME"] = str(config_home)
    # -o: take the venv as installed (the test runs inside it) instead of reinstalling it.
    done = subprocess.run(["make", "-C", str(REPO), "-o", ".venv/.installed", "setup"], env=e, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("cluster", "slurm"):
        assert (config_home / "snakemake" / name).resolve() == PROFILES / name
    # A second setup changes nothing and says nothing.
    again = subprocess.run(["make", "-s", "-C", str(REPO), "-o", ".venv/.installed", "setup"], env=e,
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "profile" not in again.stdout
    # From the repository root, with nothing else set: the checkout's inventory, its slot totals.
    workdir = tmp_path / "wd"
    workdir.mkdir()
    (workdir / "test_config.yaml").write_text(yaml.safe_dump(TINY_CONFIG))
    done = subprocess.run([str(BIN / "snakemake"), "-d", str(workdir), "--configfile", str(workdir / "test_config.yaml"),
                           "--profile", "cluster", "-n"], cwd=REPO, env=e, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Using profiles cluster and" in done.stderr
    jobs = _jobs(done.stdout + done.stderr)
    assert any(rule == "sieve_shard" and "gpu_slots=1" in res and "gpu_cuda=0" in res for rule, res in jobs)
    assert any(rule == "train_fold" and "job_type=xgboost" in res and "gpu_cuda=1" in res and "gpu_slots=0" in res
               for rule, res in jobs)
    assert any(rule == "select_model" and "gpu_cuda=1" in res for rule, res in jobs)


def test_a_user_profile_folder_of_the_same_name_is_left_alone(tmp_path):
    from seedsift.cluster import profile_links

    (tmp_path / "cluster").mkdir()
    (tmp_path / "slurm").symlink_to(tmp_path / "elsewhere")
    lines = profile_links.link_profiles(tmp_path)
    assert not (tmp_path / "cluster").is_symlink() and "left alone" in lines[0]
    assert (tmp_path / "slurm").resolve() == PROFILES / "slurm" and "was ->" in lines[1]
    assert profile_links.user_profile_dir({"XDG_CONFIG_HOME": "/x"}) == Path("/x/snakemake")
    assert profile_links.user_profile_dir({"HOME": "/h"}).name == "snakemake"


def test_make_dag_renders_the_job_dag_and_the_rule_graph(tmp_path):
    (tmp_path / "test_config.yaml").write_text(yaml.safe_dump(TINY_CONFIG))
    outdir = tmp_path / "dag"
    # -o: take the venv as installed (the test runs inside it) instead of reinstalling it.
    e = env()
    e["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")  # make setup links the profiles there
    done = subprocess.run(["make", "-C", str(REPO), "-o", ".venv/.installed", "dag", f"DAG_DIR={outdir}",
                           f"SNAKEMAKE_ARGS=-d {tmp_path} --configfile {tmp_path / 'test_config.yaml'}"],
                          env=e, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    jobs = (outdir / "jobs.svg").read_text()
    rules = (outdir / "rules.svg").read_text()
    assert jobs.lstrip().startswith("<?xml") and "<svg" in jobs and "<svg" in rules
    # Four sieve shards are four boxes in the job DAG and one in the rule graph.
    assert jobs.count(">sieve_shard<") == 4 and rules.count(">sieve_shard<") == 1
    assert ">aggregate_sieve<" in rules and ">all<" in rules
    assert not (tmp_path / "results").exists()
