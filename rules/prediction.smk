# predict_next_draws reads the model file named by the sidecar (model_artifact: its extension
# depends on the chosen type, none when no model was trained); the sidecar records its sha256.
# Exit status 3 is the documented PREDICTION_SKIPPED outcome (no survivor): the file is written and valid.


rule predict_next_draws:
    input:
        sidecar="results/training/model/best_model.meta.json",
        artifact=model_artifact,
        priors="results/training/model/out_of_sample_priors.json",
        survivors="results/scoring/survivors_with_scores.json",
        train="results/data/train_history.json",
        holdout="results/data/holdout_history.json",
        script=script("prediction_generator.py"),
    output:
        "results/prediction/predictions.json",
    log:
        "logs/prediction/predict_next_draws.log",
    params:
        spec=prediction_params,
        models_dir=sidecar_dir,
    shell:
        "python {input.script:q} --models-dir {params.models_dir:q} --survivors-forward {input.survivors:q}"
        " --priors {input.priors:q} --train {input.train:q} --holdout {input.holdout:q}"
        " --params {params.spec:q} --output {output:q} > {log:q} 2>&1 || [ $? -eq 3 ]"


rule evaluate_predictions:
    input:
        predictions="results/prediction/predictions.json",
        train="results/data/train_history.json",
        holdout="results/data/holdout_history.json",
        test="results/data/test_history.json",
        truth="results/data/truth.json",
        survivors="results/scoring/survivors_with_scores.json",
        script=script("evaluate_predictions.py"),
    output:
        "results/prediction/evaluation.json",
    log:
        "logs/prediction/evaluate_predictions.log",
    params:
        spec=prediction_params,
    shell:
        "python {input.script:q} --predictions {input.predictions:q} --train {input.train:q}"
        " --holdout {input.holdout:q} --test {input.test:q} --truth {input.truth:q}"
        " --survivors {input.survivors:q} --params {params.spec:q} --output {output:q} > {log:q} 2>&1"
