# sieve.search: state. One job per call: the generator state at the first training draw, from the
# training draws alone (no seed range); its file takes the place of the call's shards.
rule recover_state:
    input:
        train="results/data/train_history.json",
        parent="results/data/draw_history_summary.json",
        script=script("recover_state.py"),
    output:
        "results/sieve/{prng}/state.json",
    log:
        "logs/sieve/{prng}/state.log",
    benchmark:
        "benchmarks/sieve/{prng}/state.tsv"
    threads: 2
    resources:
        **gpu_job("recover_state"),
    params:
        spec=sieve_params,
    shell:
        "python -m seedsift.cluster.place --job-type {resources.job_type:q} --inputs {input:q} --outputs {output:q}"
        " -- python {input.script:q} --train {input.train:q}"
        " --prng {wildcards.prng:q} --params {params.spec:q} --parent {input.parent:q}"
        " --output {output:q} --threads {threads} > {log:q} 2>&1"


rule sieve_shard:
    input:
        train="results/data/train_history.json",
        parent="results/data/draw_history_summary.json",
        script=script("sieve_shard.py"),
    output:
        "results/sieve/{prng}/shard_{i}.json",
    log:
        "logs/sieve/{prng}/shard_{i}.log",
    benchmark:
        "benchmarks/sieve/{prng}/shard_{i}.tsv"
    threads: 1
    resources:
        **gpu_job("sieve_shard"),
    params:
        spec=sieve_params,
    shell:
        "python -m seedsift.cluster.place --job-type {resources.job_type:q} --inputs {input:q} --outputs {output:q}"
        " -- python {input.script:q} --train {input.train:q}"
        " --prng {wildcards.prng:q} --shard {wildcards.i:q} --params {params.spec:q}"
        " --parent {input.parent:q} --output {output:q} --threads {threads} > {log:q} 2>&1"


rule aggregate_sieve:
    input:
        shards=sieve_shards,
        train="results/data/train_history.json",
        parent="results/data/draw_history_summary.json",
        script=script("aggregate_sieve.py"),
    output:
        forward="results/sieve/forward_survivors.json",
        bidirectional="results/sieve/bidirectional_survivors.json",
        summary="results/sieve/sieve_summary.json",
    log:
        "logs/sieve/aggregate_sieve.log",
    params:
        spec=sieve_params,
    shell:
        "python {input.script:q} --shards {input.shards:q} --train {input.train:q}"
        " --params {params.spec:q} --forward {output.forward:q}"
        " --bidirectional {output.bidirectional:q} --summary {output.summary:q}"
        " --parent {input.parent:q} > {log:q} 2>&1"


# The exact check: survivors against every known draw, the chance figure, the next draws. It also
# prints its table, so `snakemake recover` shows what was recovered.
rule recover_seeds:
    input:
        survivors="results/sieve/bidirectional_survivors.json",
        summary="results/sieve/sieve_summary.json",
        train="results/data/train_history.json",
        holdout="results/data/holdout_history.json",
        test="results/data/test_history.json",
        script=script("recover_seeds.py"),
    output:
        json="results/sieve/recovered.json",
        text="results/sieve/recovered.txt",
    log:
        "logs/sieve/recover_seeds.log",
    params:
        spec=sieve_params,
    shell:
        "python {input.script:q} --survivors {input.survivors:q} --sieve-summary {input.summary:q}"
        " --train {input.train:q} --holdout {input.holdout:q} --test {input.test:q}"
        " --params {params.spec:q} --json {output.json:q} --text {output.text:q} > {log:q} 2>&1"
        " && cat {output.text:q}"
