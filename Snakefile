# seedsift: recover seeds of weak PRNGs from a draw history, as a file-driven pipeline.
#
# Paths under results/, one folder per stage (rules/<stage>.smk, seedsift/<stage>/,
# manifests/<stage>.json; logs/ and benchmarks/ mirror them):
#   data/        draws.json, train_history.json, holdout_history.json, test_history.json,
#                truth.json, draw_history_summary.json                         (prepare_draws)
#   sieve/{prng}/shard_{i}.json                                                (sieve_shard)
#   sieve/       forward_survivors.json, bidirectional_survivors.json,
#                sieve_summary.json                                            (aggregate_sieve)
#   sieve/       recovered.json, recovered.txt                                 (recover_seeds)
#   scoring/chunks/chunk_{i}.json                                              (partition_survivors)
#   scoring/scored/chunk_{i}.json                                              (score_chunk)
#   scoring/     survivors_with_scores.json, scoring_summary.json,
#                global_features.json                                          (aggregate_scores)
#   training/table/  X.npy, y.npy, ids.npy, table.json                         (prepare_training_data)
#   training/reinforcement_engine_config.json                                  (plan_training)
#   training/{model_type}/trial_{t}/fold_{k}.json                              (train_fold)
#   training/{model_type}/trial_{t}.json                                       (summarize_trial)
#   training/model/  selection.json, training_history.json, model_comparison.json,
#                test_predictions.json, out_of_sample_priors.json              (select_model, a checkpoint)
#   training/feature_importance.json                                           (select_model)
#   training/model/  best_model.{pth,json,txt,cbm}: the chosen type's file     (save_model)
#   training/model/  best_model.meta.json                                      (write_sidecar)
#   prediction/  predictions.json                                              (predict_next_draws)
#   prediction/  evaluation.json                                               (evaluate_predictions)
#   report/      summary.json, summary.txt                                     (summarize_run)
#   report/      forward_matches.json                                          (count_forward_matches)
#   report/      forward_matches.png, model_comparison.png,
#                predicted_vs_actual.png, feature_importance.png,
#                prediction_pool.png                                           (plot_results)
#   cluster/run_manifest.json           (written at the end of a run under the cluster profile)
#
# `snakemake --report report.html` (make report) gathers the PNGs, their captions (report/*.rst),
# the DAG and the runtimes into one HTML file.

from snakemake.utils import min_version

min_version("9.0")


configfile: f"{workflow.basedir}/config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/sieve.smk"
include: "rules/scoring.smk"
include: "rules/training.smk"
include: "rules/prediction.smk"
include: "rules/report.smk"


# Rules that only gather or plan stay on the head node under remote executors.
localrules:
    all,
    prepare_draws,
    aggregate_sieve,
    recover_seeds,
    recover,
    partition_survivors,
    aggregate_scores,
    prepare_training_data,
    plan_training,
    summarize_trial,
    save_model,
    write_sidecar,
    predict_next_draws,
    evaluate_predictions,
    summarize_run,
    count_forward_matches,
    plot_results,


# Under the cluster profile, write results/cluster/run_manifest.json after every run.
onsuccess:
    shell("python -m seedsift.cluster.place --manifest --if-placed")


onerror:
    shell("python -m seedsift.cluster.place --manifest --if-placed")


# `snakemake recover`: Step 1, the sieve and the exact check only; prints what was recovered.
rule recover:
    input:
        "results/sieve/recovered.txt",


rule all:
    default_target: True
    input:
        "results/report/summary.json",
        "results/report/summary.txt",
        "results/report/forward_matches.png",
        "results/report/model_comparison.png",
        "results/report/predicted_vs_actual.png",
        "results/report/feature_importance.png",
        "results/report/prediction_pool.png",
