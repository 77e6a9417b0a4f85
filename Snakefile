# seedsift: recover seeds of weak PRNGs from a draw history, as a file-driven pipeline.
#
# Paths under results/ (each step's files; logs/ and benchmarks/ mirror them):
#   data/        draws.json, train_history.json, holdout_history.json, test_history.json,
#                truth.json, draw_history_summary.json                         (prepare_draws)
#   sieve/{prng}/shard_{i}.json                                                (sieve_shard)
#   sieve/       forward_survivors.json, bidirectional_survivors.json,
#                sieve_summary.json                                            (aggregate_sieve)
#   scoring/chunks/chunk_{i}.json                                              (partition_survivors)
#   scoring/scored/chunk_{i}.json                                              (score_chunk)
#   scoring/     survivors_with_scores.json, scoring_summary.json,
#                global_features.json                                          (aggregate_scores)
#   summary.json, summary.txt                                                  (summarize_run)

from snakemake.utils import min_version

min_version("9.0")


configfile: f"{workflow.basedir}/config.yaml"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/sieve.smk"
include: "rules/scoring.smk"
include: "rules/summary.smk"


localrules:
    all,


rule all:
    input:
        "results/summary.json",
        "results/summary.txt",
    default_target: True
