"""Config validation: every key checked against manifests/ before any job runs."""

import re

import pytest

from seedsift import manifests
from seedsift.errors import ConfigError, InputError
from seedsift.pipeline.config import validate

from conftest import REPO, snakemake


def test_defaults_come_from_the_manifests_and_match_config_yaml():
    import yaml

    cfg = validate({})
    shipped = validate(yaml.safe_load((REPO / "config.yaml").read_text()))
    assert cfg == shipped
    assert cfg["sieve"]["window"] == manifests.load("sieve")["parameter_bounds"]["window"]["default"]


def test_every_default_lies_inside_its_bounds():
    from seedsift.pipeline.config import check_value

    for key, (_, bound) in manifests.config_bounds().items():
        check_value(key, bound.get("default"), bound)


BAD = [
    ({"colour": "red"}, "colour", "known key"),
    ({"sieve": {"windw": 4}}, "sieve.windw", "known key"),
    ({"mod": "1000"}, "mod", "integer"),
    ({"mod": 1}, "mod", "[2, 4294967296]"),
    ({"sieve": {"threshold": 1.5}}, "sieve.threshold", "[0.0001, 1.0]"),
    ({"sieve": {"prngs": ["mt19937", "rand48"]}}, "sieve.prngs", "xorshift32"),
    ({"sieve": {"prngs": []}}, "sieve.prngs", "1 or more"),
    ({"sieve": {"shards": 0}}, "sieve.shards", "[1, 4096]"),
    ({"sieve": {"seed_start": 100, "seed_end": 100}}, "sieve.seed_end", "greater than sieve.seed_start"),
    ({"sieve": {"skip_min": 5, "skip_max": 2}}, "sieve.skip_max", ">= sieve.skip_min"),
    ({"sieve": {"window": 200}}, "sieve.window", "window_start + 2 * window"),
    ({"split": {"test_draws": 400}}, "split.test_draws", "fewer than"),
    ({"split": {"holdout_fraction": "0.2"}}, "split.holdout_fraction", "a number"),
    ({"sieve": {"window": True}}, "sieve.window", "integer"),
    ({"synthetic": {"mod": 10}}, "synthetic.mod", "equal to mod"),
    ({"sieve": {"seed_end": 2**32 + 1}}, "sieve.seed_end", "4294967296"),
]


@pytest.mark.parametrize("override,key,needle", BAD, ids=[b[1] + "-" + str(i) for i, b in enumerate(BAD)])
def test_bad_configs_name_key_value_and_range(override, key, needle):
    with pytest.raises(ConfigError) as exc:
        validate(override)
    message = str(exc.value)
    assert f"'{key}'" in message and needle in message and "\n" not in message


def test_bad_draw_file_in_config_is_reported_before_any_job(tmp_path):
    path = tmp_path / "d.json"
    path.write_text("[1, 2, 1001]")
    with pytest.raises(InputError, match="index 2"):
        validate({"draws": str(path)})


def test_snakemake_stops_with_one_line_for_a_bad_config(tmp_path):
    proc = snakemake(tmp_path, "-n", config={"sieve": {"window": 0}}, check=False)
    assert proc.returncode != 0
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "seedsift:" in ln]
    assert len(lines) == 1 and "sieve.window" in lines[0] and "[1, 4096]" in lines[0]
    assert not (tmp_path / "results").exists()


def test_snakemake_accepts_keys_from_the_command_line(tmp_path):
    proc = snakemake(tmp_path, "-n", "--quiet", "rules", "--config", "sieve={shards: 3, prngs: [pcg32]}")
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", proc.stdout, flags=re.M))
    assert counts["sieve_shard"] == "3" and counts["score_chunk"] == "4"
