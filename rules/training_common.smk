# Input/param functions and wildcard constraints of rules/training.smk; no rules here.
# Included after rules/common.smk (it uses params_json and config, validated there).

wildcard_constraints:
    model_type="neural_net|xgboost|lightgbm|catboost",
    t="[0-9]+",
    k="[0-9]+",


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
