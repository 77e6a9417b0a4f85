# Input/param functions and wildcard constraints; no rules here.

import json
import sys

sys.path.insert(0, workflow.basedir)

from seedsift.cli import params_json
from seedsift.config import validate
from seedsift.errors import SeedsiftError

try:
    _validated = validate(config, cli_overrides=workflow.config_settings.config)
except SeedsiftError as _exc:
    sys.exit(f"seedsift: config error: {_exc}")
config.clear()
config.update(_validated)


wildcard_constraints:
    prng="[a-z0-9_]+",
    i="[0-9]+",


SCRIPTS = workflow.basedir + "/scripts"
PRNGS = config["sieve"]["prngs"]
SIEVE_SHARDS = range(config["sieve"]["shards"])
SCORING_SHARDS = range(config["scoring"]["shards"])


def script(name):
    return f"{SCRIPTS}/{name}"


def draws_input(wildcards):
    return [] if config["draws"] == "synthetic" else [config["draws"]]


def data_params(wildcards):
    keys = ("draws", "mod", "sessions", "synthetic", "split")
    return params_json({k: config[k] for k in keys})


def sieve_params(wildcards):
    return params_json({"mod": config["mod"], "sieve": config["sieve"]})


def sieve_shards(wildcards):
    return expand("results/sieve/{prng}/shard_{i}.json", prng=PRNGS, i=SIEVE_SHARDS)


def scoring_survivors(wildcards):
    return f"results/sieve/{config['scoring']['survivors']}_survivors.json"


def scoring_params(wildcards):
    return params_json({"mod": config["mod"], "scoring": config["scoring"]})


def prediction_params(wildcards):
    keys = ("mod", "prediction", "pool", "scoring", "split", "evaluation")
    return params_json({k: config[k] for k in keys})
