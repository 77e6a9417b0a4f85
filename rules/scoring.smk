rule partition_survivors:
    input:
        survivors=scoring_survivors,
        script=script("partition_survivors.py"),
    output:
        expand("results/scoring/chunks/chunk_{i}.json", i=SCORING_SHARDS),
    log:
        "logs/scoring/partition_survivors.log",
    shell:
        "python {input.script:q} --survivors {input.survivors:q} --chunks {output:q} > {log:q} 2>&1"


rule score_chunk:
    input:
        chunk="results/scoring/chunks/chunk_{i}.json",
        train="results/data/train_history.json",
        holdout="results/data/holdout_history.json",
        script=script("score_chunk.py"),
    output:
        "results/scoring/scored/chunk_{i}.json",
    log:
        "logs/scoring/scored/chunk_{i}.log",
    benchmark:
        "benchmarks/scoring/scored/chunk_{i}.tsv"
    threads: 1
    resources:
        **gpu_job("score_chunk"),
    params:
        spec=scoring_params,
    shell:
        "python -m seedsift.cluster.place --job-type {resources.job_type:q} --inputs {input:q} --outputs {output:q}"
        " -- python {input.script:q} --chunk {input.chunk:q}"
        " --train {input.train:q} --holdout {input.holdout:q} --params {params.spec:q}"
        " --output {output:q} --threads {threads} > {log:q} 2>&1"


rule aggregate_scores:
    input:
        scored=expand("results/scoring/scored/chunk_{i}.json", i=SCORING_SHARDS),
        parent="results/sieve/sieve_summary.json",
        train="results/data/train_history.json",
        holdout="results/data/holdout_history.json",
        script=script("aggregate_scores.py"),
    output:
        survivors="results/scoring/survivors_with_scores.json",
        summary="results/scoring/scoring_summary.json",
        global_features="results/scoring/global_features.json",
    log:
        "logs/scoring/aggregate_scores.log",
    benchmark:
        "benchmarks/scoring/aggregate_scores.tsv"
    params:
        spec=scoring_params,
    shell:
        "python {input.script:q} --scored {input.scored:q} --train {input.train:q}"
        " --holdout {input.holdout:q} --params {params.spec:q} --output {output.survivors:q}"
        " --summary {output.summary:q} --global-features {output.global_features:q}"
        " --parent {input.parent:q} > {log:q} 2>&1"
