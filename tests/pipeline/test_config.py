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


RUNTIME_BAD = [
    ({"sieve": {"prngs": ["java.util.random"]}}, "sieve.prngs", "java.util.Random.nextInt"),
    ({"mod": 1 << 31, "sieve": {"prngs": ["java.util.Random.nextInt"]}}, "mod",
     "at most 2147483647 for java.util.Random.nextInt"),
    ({"mod": (1 << 31) + 2, "sieve": {"prngs": ["glibc.rand"]}}, "mod", "at most 2147483648 for glibc.rand"),
    ({"mod": 1000, "sieve": {"prngs": ["python.random.getrandbits"]}}, "mod", "a power of two"),
    ({"low": (1 << 31) - 5, "sieve": {"prngs": ["java.util.Random.nextInt"]}}, "low", "[-2147483648, 2147483647]"),
    ({"sieve": {"prngs": ["numpy.random.RandomState.randint"], "seed_end": (1 << 32) + 1}}, "sieve.seed_end",
     "seed space of numpy.random.RandomState.randint, [0, 4294967296)"),
    ({"synthetic": {"prng": "php.mt_rand", "seed": 1 << 32}}, "synthetic.seed", "[0, 4294967296) for php.mt_rand"),
    ({"sieve": {"seed_time": {"start": "2024-05-02T00:00:00Z", "end": "2024-05-01T00:00:00Z"}}},
     "sieve.seed_time.end", "not before sieve.seed_time.start"),
    ({"sieve": {"seed_time": {"start": "yesterday", "end": "2024-05-01T00:00:00Z"}}}, "sieve.seed_time.start",
     "ISO-8601"),
    ({"sieve": {"seed_time": {"start": "2024-05-01T00:00:00Z"}}}, "sieve.seed_time.end", "needs both"),
    ({"sieve": {"seed_time": {"start": "1960-01-01T00:00:00Z", "end": "2024-05-01T00:00:00Z"}}},
     "sieve.seed_time.start", "after 1970"),
    ({"sieve": {"seed_time": {"start": "2024-05-01T00:00:00Z", "end": "2024-05-02T00:00:00Z", "unit": "ns"}}},
     "sieve.seed_time.unit", "['s', 'ms', 'us']"),
]


@pytest.mark.parametrize("cfg,key,needle", RUNTIME_BAD)
def test_runtime_calls_seed_spaces_and_time_windows_are_checked(cfg, key, needle):
    with pytest.raises(ConfigError) as exc:
        validate(cfg)
    assert exc.value.key == key and needle in str(exc.value), str(exc.value)


def test_a_time_window_becomes_the_seed_range():
    cfg = validate({"sieve": {"prngs": ["java.util.Random.nextInt"], "shards": 2,
                              "seed_time": {"start": "2024-05-01T00:00:00Z", "end": "2024-05-01T00:00:01.5Z",
                                            "unit": "ms"}}})
    assert (cfg["sieve"]["seed_start"], cfg["sieve"]["seed_end"]) == (1714521600000, 1714521601501)
    # A YAML timestamp (unquoted) reads as a datetime; a time without a zone is UTC.
    import datetime

    cfg = validate({"sieve": {"seed_time": {"start": datetime.datetime(2024, 5, 1), "end": "2024-05-01T00:00:09"}}})
    assert (cfg["sieve"]["seed_start"], cfg["sieve"]["seed_end"]) == (1714521600, 1714521610)


def test_a_history_too_short_for_the_test_draws_names_the_file_and_its_count(tmp_path):
    path = tmp_path / "short.csv"
    path.write_text("draw\n1\n2\n3\n")
    with pytest.raises(ConfigError) as exc:
        validate({"draws": str(path), "split": {"test_draws": 5}})
    assert exc.value.key == "split.test_draws" and f"the 3 draws of {path}" in str(exc.value)


def test_draws_outside_low_and_mod_are_refused(tmp_path):
    path = tmp_path / "dice.csv"
    path.write_text("draw\n" + "\n".join(str(v) for v in [1, 6, 3, 0, 2]) + "\n")
    with pytest.raises(InputError) as exc:
        validate({"draws": str(path), "low": 1, "mod": 6, "split": {"test_draws": 1}})
    assert "line 5" in str(exc.value) and "value 0 is outside [1, 7)" in str(exc.value)
