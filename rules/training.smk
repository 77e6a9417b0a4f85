# Steps 4-5: training table -> plan -> one job per (model type, trial, fold) -> trial summaries
# -> the choice (select_model) -> the model file (save_model) -> its sidecar (write_sidecar).
#
# select_model is a checkpoint: the model file's extension (.pth/.json/.txt/.cbm, the seed's
# names, M.7) depends on the type it chooses, so save_model's output is known only after it
# has run (common.smk's model_artifact reads selection.json). Every model file is then a
# declared output: deleting one makes `make rerun-missing` rebuild it and what depends on it.
# save_model repeats select_model's refit with the same threads, so on the CPU it writes the
# model that select_model scored, byte for byte; the sidecar, written last, records its sha256
# and scores the file itself on the test part. save_model is one fit of one model: it runs
# where snakemake runs, like write_sidecar.


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
    shell:
        "python -m seedsift.cluster.place --job-type {wildcards.model_type:q} -- python {input.script:q}"
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


checkpoint select_model:
    input:
        trials=training_trials,
        arrays=TRAINING_ARRAYS,
        table=TRAINING_TABLE,
        plan="results/training/reinforcement_engine_config.json",
        script=script("select_model.py"),
    output:
        selection="results/training/model/selection.json",
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
    shell:
        "python -m seedsift.cluster.place -- python {input.script:q} --table {input.table:q}"
        " --plan {input.plan:q} --trials {input.trials:q} --selection {output.selection:q}"
        " --history {output.history:q} --comparison {output.comparison:q}"
        " --test-predictions {output.test_predictions:q} --importance {output.importance:q}"
        " --priors {output.priors:q}"
        " --threads {threads} > {log:q} 2>&1"


rule save_model:
    input:
        selection="results/training/model/selection.json",
        arrays=TRAINING_ARRAYS,
        table=TRAINING_TABLE,
        plan="results/training/reinforcement_engine_config.json",
        script=script("save_model.py"),
    output:
        "results/training/model/best_model{ext}",
    log:
        "logs/training/model/save_model{ext}.log",
    benchmark:
        "benchmarks/training/model/save_model{ext}.tsv"
    threads: 2
    shell:
        "python {input.script:q} --table {input.table:q}"
        " --plan {input.plan:q} --selection {input.selection:q} --output {output:q}"
        " --threads {threads} > {log:q} 2>&1"


rule write_sidecar:
    input:
        selection="results/training/model/selection.json",
        artifact=model_artifact,
        arrays=TRAINING_ARRAYS,
        table=TRAINING_TABLE,
        plan="results/training/reinforcement_engine_config.json",
        script=script("write_sidecar.py"),
    output:
        "results/training/model/best_model.meta.json",
    log:
        "logs/training/model/write_sidecar.log",
    shell:
        "python {input.script:q} --table {input.table:q} --plan {input.plan:q}"
        " --selection {input.selection:q} --artifact {input.artifact:q} --sidecar {output:q}"
        " > {log:q} 2>&1"
