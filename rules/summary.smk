rule summarize_run:
    input:
        data="results/data/draw_history_summary.json",
        truth="results/data/truth.json",
        sieve="results/sieve/sieve_summary.json",
        bidirectional="results/sieve/bidirectional_survivors.json",
        scoring="results/scoring/scoring_summary.json",
        comparison="results/models/reinforcement/model_comparison.json",
        predictions="results/predictions/predictions.json",
        evaluation="results/evaluation/evaluation.json",
        script=script("summarize_run.py"),
    output:
        json="results/summary.json",
        text="results/summary.txt",
    log:
        "logs/summary/summarize_run.log",
    shell:
        "python {input.script:q} --data {input.data:q} --truth {input.truth:q}"
        " --sieve {input.sieve:q} --bidirectional {input.bidirectional:q}"
        " --scoring {input.scoring:q} --comparison {input.comparison:q}"
        " --predictions {input.predictions:q} --evaluation {input.evaluation:q}"
        " --json {output.json:q} --text {output.text:q} > {log:q} 2>&1"
