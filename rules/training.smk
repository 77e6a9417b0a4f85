# Steps 4-5: training table -> plan -> one job per (model type, trial, fold) -> trial summaries
# -> the chosen model.
#
# select_model also writes results/training/model/best_model.<ext>, the artifact, which is
# not declared: its extension (.pth/.json/.txt/.cbm) depends on the type chosen at run time,
# and the seed's layout (M.7) keeps it next to its sidecar. The declared sidecar is written
# last, names the artifact and records its sha256, and select_model removes artifacts of other
# types first, so the sidecar is the one complete, checked handle on the model.


rule prepare_training_data:
    input:
        survivors="results/scoring/survivors_with_scores.json",
        parent="results/scoring/scoring_summary.json",
        script=script("prepare_training_data.py"),
    output:
        arrays=TRAINING_ARRAYS,
        table=TRAINING_TABLE,
    log:
        "logs/training/prepare_training_data.log",
    benchmark:
        "benchmarks/training/prepare_training_data.tsv"
    params:
        label=config["training"]["label"],
    shell:
        "python {input.script:q} --survivors {input.survivors:q} --label {params.label:q}"
        " --table {output.table:q} --parent {input.parent:q} > {log:q} 2>&1"


rule plan_training:
    input:
        arrays=TRAINING_ARRAYS,
        table=TRAINING_TABLE,
        script=script("plan_training.py"),
    output:
        "results/training/reinforcement_engine_config.json",
    log:
        "logs/training/plan_training.log",
    params:
        spec=training_params,
    shell:
        "python {input.script:q} --table {input.table:q} --params {params.spec:q}"
        " --output {output:q} > {log:q} 2>&1"


rule train_fold:
    input:
        arrays=TRAINING_ARRAYS,
        table=TRAINING_TABLE,
        plan="results/training/reinforcement_engine_config.json",
        script=script("train_fold.py"),
    output:
        "results/training/{model_type}/trial_{t}/fold_{k}.json",
    log:
        "logs/training/{model_type}/trial_{t}/fold_{k}.log",
    benchmark:
        "benchmarks/training/{model_type}/trial_{t}/fold_{k}.tsv"
    threads: 1
    resources:
        **gpu_job("{model_type}"),
    shell:
        "python -m seedsift.cluster.place --job-type {resources.job_type:q} --inputs {input:q} --outputs {output:q}"
        " -- python {input.script:q}"
        " --table {input.table:q} --plan {input.plan:q} --model-type {wildcards.model_type:q} --trial {wildcards.t:q}"
        " --fold {wildcards.k:q} --threads {threads} --output {output:q} > {log:q} 2>&1"


rule summarize_trial:
    input:
        folds=training_folds,
        script=script("summarize_trial.py"),
    output:
        "results/training/{model_type}/trial_{t}.json",
    log:
        "logs/training/{model_type}/trial_{t}.log",
    shell:
        "python {input.script:q} --folds {input.folds:q} --output {output:q} > {log:q} 2>&1"


rule select_model:
    input:
        trials=training_trials,
        arrays=TRAINING_ARRAYS,
        table=TRAINING_TABLE,
        plan="results/training/reinforcement_engine_config.json",
        script=script("select_model.py"),
    output:
        sidecar="results/training/model/best_model.meta.json",
        history="results/training/model/training_history.json",
        comparison="results/training/model/model_comparison.json",
        test_predictions="results/training/model/test_predictions.json",
        priors="results/training/model/out_of_sample_priors.json",
        importance="results/training/feature_importance.json",
    log:
        "logs/training/model/select_model.log",
    benchmark:
        "benchmarks/training/model/select_model.tsv"
    threads: 2
    resources:
        # It refits every model type: it needs a GPU kind that each of their backends may use.
        **gpu_job(config["training"]["model_types"]),
    shell:
        "python -m seedsift.cluster.place --job-type {resources.job_type:q} --inputs {input:q}"
        " --outputs {output:q} {MODEL_ARTIFACT:q} -- python {input.script:q} --table {input.table:q}"
        " --plan {input.plan:q} --trials {input.trials:q} --sidecar {output.sidecar:q}"
        " --history {output.history:q} --comparison {output.comparison:q}"
        " --test-predictions {output.test_predictions:q} --importance {output.importance:q}"
        " --priors {output.priors:q}"
        " --threads {threads} > {log:q} 2>&1"
