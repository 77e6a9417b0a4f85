"""The cluster and slurm profiles: commented keys, how the cluster profile names its inventory,
the slurm profile's per-rule GPU requests (dry run), and `make dag` on the tiny config."""

import os
import re
import subprocess

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


def test_cluster_profile_points_the_placer_at_its_inventory(monkeypatch, tmp_path):
    from snakemake.profiles import ProfileConfigFileParser

    profile = PROFILES / "cluster" / "config.yaml"
    monkeypatch.chdir(REPO)
    monkeypatch.delenv(place.ENV_NODES, raising=False)
    monkeypatch.delenv(place.ENV_SSH_CONFIG, raising=False)
    with open(profile) as fh:
        parsed = ProfileConfigFileParser().parse(fh)
    assert os.environ[place.ENV_NODES] == str(PROFILES / "cluster" / "nodes.yaml")
    assert parsed["executor"] == "local" and "gpu_slots=3" in parsed["resources"]

    # Another inventory and ssh config through the environment, relative to where snakemake starts.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(place.ENV_NODES, "mine.yaml")
    monkeypatch.setenv(place.ENV_SSH_CONFIG, "ssh/config")
    with open(profile) as fh:
        ProfileConfigFileParser().parse(fh)
    assert os.environ[place.ENV_NODES] == str(tmp_path / "mine.yaml")
    assert os.environ[place.ENV_SSH_CONFIG] == str(tmp_path / "ssh" / "config")


def test_every_placed_rule_takes_a_slot_in_the_cluster_profile_and_a_gpu_under_slurm():
    from test_cluster import placed_rules

    rules = placed_rules()
    assert {"sieve_shard", "score_chunk"} <= rules
    cluster = yaml.safe_load((PROFILES / "cluster" / "config.yaml").read_text())
    slurm = yaml.safe_load((PROFILES / "slurm" / "config.yaml").read_text())
    for rule in rules:
        assert cluster["set-resources"].get(rule) == {"gpu_slots": 1}, f"cluster profile: {rule} takes no slot"
        assert slurm["set-resources"].get(rule, {}).get("gpu") == 1, f"slurm profile: {rule} gets no GPU"


def test_gpu_slots_of_the_profile_match_its_inventory():
    from seedsift.cluster import inventory

    inv = inventory.load(PROFILES / "cluster" / "nodes.yaml")
    profile = yaml.safe_load((PROFILES / "cluster" / "config.yaml").read_text())
    assert profile["resources"]["gpu_slots"] == sum(n.concurrency for n in inv.nodes)


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
    assert {rule for rule, _ in jobs if rule in placed} == placed
    assert len([r for r, _ in jobs if r in ("sieve_shard", "score_chunk")]) == 8
    assert all("gpu=1" in res and "cpus_per_task=4" in res for res in remote)
    assert all("gpu=" not in res for rule, res in jobs if rule not in placed)
    assert not (tmp_path / "results").exists() and not (tmp_path / "logs").exists()


def test_bare_profile_name_resolves_through_the_user_config_folder(tmp_path):
    """The README's one-line step: a symlink in ~/.config/snakemake makes `--profile cluster` work."""
    config_home = tmp_path / "xdg"
    (config_home / "snakemake").mkdir(parents=True)
    (config_home / "snakemake" / "cluster").symlink_to(PROFILES / "cluster")
    workdir = tmp_path / "wd"
    workdir.mkdir()
    (workdir / "test_config.yaml").write_text(yaml.safe_dump(TINY_CONFIG))
    e = env()
    e["XDG_CONFIG_HOME"] = str(config_home)
    done = subprocess.run([str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "-d", str(workdir),
                           "--configfile", str(workdir / "test_config.yaml"), "--profile", "cluster", "-n"],
                          cwd=workdir, env=e, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Using profiles cluster and" in done.stderr
    assert any(rule == "sieve_shard" and "gpu_slots=1" in res for rule, res in _jobs(done.stdout + done.stderr))


def test_make_dag_renders_the_job_dag_and_the_rule_graph(tmp_path):
    (tmp_path / "test_config.yaml").write_text(yaml.safe_dump(TINY_CONFIG))
    outdir = tmp_path / "dag"
    # -o: take the venv as installed (the test runs inside it) instead of reinstalling it.
    done = subprocess.run(["make", "-C", str(REPO), "-o", ".venv/.installed", "dag", f"DAG_DIR={outdir}",
                           f"SNAKEMAKE_ARGS=-d {tmp_path} --configfile {tmp_path / 'test_config.yaml'}"],
                          env=env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    jobs = (outdir / "jobs.svg").read_text()
    rules = (outdir / "rules.svg").read_text()
    assert jobs.lstrip().startswith("<?xml") and "<svg" in jobs and "<svg" in rules
    # Four sieve shards are four boxes in the job DAG and one in the rule graph.
    assert jobs.count(">sieve_shard<") == 4 and rules.count(">sieve_shard<") == 1
    assert ">aggregate_sieve<" in rules and ">all<" in rules
    assert not (tmp_path / "results").exists()
