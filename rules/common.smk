# Input/param functions and wildcard constraints; no rules here.

import os
import sys

from seedsift.cli import params_json
from seedsift.cluster.accounting import rule_resources
from seedsift.pipeline.config import validate
from seedsift.pipeline.stale_lock import clear_stale_lock
from seedsift.errors import SeedsiftError
from seedsift.training.select import artifact_name, read_selection

try:
    _validated = validate(config, cli_overrides=workflow.config_settings.config)
except SeedsiftError as _exc:
    sys.exit(f"seedsift: config error: {_exc}")
config.clear()
config.update(_validated)

# A lock left by a killed run (no snakemake works here any more) would stop this one: drop it.
if workflow.is_main_process:
    _stale = clear_stale_lock(os.getcwd())
    if _stale:
        print(_stale, file=sys.stderr)


wildcard_constraints:
    prng="[A-Za-z0-9_.]+",
    i="[0-9]+",
    model_type="neural_net|xgboost|lightgbm|catboost",
    t="[0-9]+",
    k="[0-9]+",
    ext=r"\.(pth|json|txt|cbm)",


PRNGS = config["sieve"]["prngs"]
SIEVE_SHARDS = range(config["sieve"]["shards"])
SCORING_SHARDS = range(config["scoring"]["shards"])


def script(name):
    # The checkout's own file (not snakemake's source cache): the scripts import the library
    # from beside them, also on a node that runs the job over ssh.
    return os.path.join(workflow.basedir, "scripts", name)


def gpu_job(job_type):
    # resources: of a job the placer runs on a GPU node: its job type (a name, a list of the
    # backends it loads, or a wildcard pattern) and one job slot of the GPU kinds the inventory
    # lets that type use (seedsift/cluster/accounting.py; nothing without an inventory).
    return rule_resources(job_type)


def parent_dir(path):
    return os.path.dirname(path)


def output_dir(wildcards, output):
    return parent_dir(output[0])


def sidecar_dir(wildcards, input):
    return parent_dir(input.sidecar)


def draws_input(wildcards):
    return [] if config["draws"] == "synthetic" else [config["draws"]]


def data_params(wildcards):
    keys = ("draws", "mod", "low", "sessions", "synthetic", "split")
    return params_json({k: config[k] for k in keys})


def sieve_params(wildcards):
    return params_json(
        {"mod": config["mod"], "low": config["low"], "sieve": config["sieve"]}
    )


def sieve_shards(wildcards):
    # sieve.search: state writes one state file per call in place of its shards.
    if config["sieve"]["search"] == "state":
        return expand("results/sieve/{prng}/state.json", prng=PRNGS)
    return expand("results/sieve/{prng}/shard_{i}.json", prng=PRNGS, i=SIEVE_SHARDS)


def scoring_survivors(wildcards):
    return f"results/sieve/{config['scoring']['survivors']}_survivors.json"


def scoring_params(wildcards):
    return params_json(
        {"mod": config["mod"], "low": config["low"], "scoring": config["scoring"]}
    )


def prediction_params(wildcards):
    keys = ("mod", "low", "prediction", "pool", "scoring", "split", "evaluation")
    return params_json({k: config[k] for k in keys})


# The binary training table: table.json and, in the same folder, the arrays it describes.
TRAINING_TABLE = "results/training/table/table.json"
TRAINING_ARRAYS = expand("results/training/table/{f}.npy", f=["X", "y", "ids"])


def training_params(wildcards):
    return params_json({"training": config["training"]})


def training_folds(wildcards):
    return expand(
        "results/training/{model_type}/trial_{t}/fold_{k}.json",
        model_type=wildcards.model_type,
        t=wildcards.t,
        k=range(config["training"]["k_folds"]),
    )


def training_trials(wildcards):
    return expand(
        "results/training/{model_type}/trial_{t}.json",
        model_type=config["training"]["model_types"],
        t=range(config["training"]["trials"]),
    )


def model_artifact(wildcards):
    # The model file select_model (a checkpoint) chose: best_model.<ext> of the chosen type, or
    # nothing when no model was trained (the sidecar then says why).
    selection = checkpoints.select_model.get().output.selection
    name = artifact_name(read_selection(selection))
    return [os.path.join(parent_dir(selection), name)] if name else []
