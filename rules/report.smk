# Steps 8-9: the run summary printed by `make run`, and the report's figures. Every PNG is marked
# for Snakemake's report, so `snakemake --report report.html` (make report) puts them, with their
# captions from report/, next to the DAG and the runtimes in one self-contained HTML file.


rule summarize_run:
    input:
        data="results/data/draw_history_summary.json",
        truth="results/data/truth.json",
        sieve="results/sieve/sieve_summary.json",
        bidirectional="results/sieve/bidirectional_survivors.json",
        scoring="results/scoring/scoring_summary.json",
        comparison="results/training/model/model_comparison.json",
        predictions="results/prediction/predictions.json",
        evaluation="results/prediction/evaluation.json",
        recovered="results/sieve/recovered.json",
        script=script("summarize_run.py"),
    output:
        json="results/report/summary.json",
        text="results/report/summary.txt",
    log:
        "logs/report/summarize_run.log",
    shell:
        "python {input.script:q} --data {input.data:q} --truth {input.truth:q}"
        " --sieve {input.sieve:q} --bidirectional {input.bidirectional:q}"
        " --scoring {input.scoring:q} --comparison {input.comparison:q}"
        " --predictions {input.predictions:q} --evaluation {input.evaluation:q} --recovered {input.recovered:q}"
        " --json {output.json:q} --text {output.text:q} > {log:q} 2>&1"


rule count_forward_matches:
    input:
        survivors="results/sieve/forward_survivors.json",
        summary="results/sieve/sieve_summary.json",
        script=script("count_forward_matches.py"),
    output:
        "results/report/forward_matches.json",
    log:
        "logs/report/count_forward_matches.log",
    benchmark:
        "benchmarks/report/count_forward_matches.tsv"
    shell:
        "python {input.script:q} --survivors {input.survivors:q} --sieve-summary {input.summary:q}"
        " --output {output:q} > {log:q} 2>&1"


rule plot_results:
    input:
        importance="results/training/feature_importance.json",
        comparison="results/training/model/model_comparison.json",
        test_predictions="results/training/model/test_predictions.json",
        forward_matches="results/report/forward_matches.json",
        predictions="results/prediction/predictions.json",
        script=script("plot_results.py"),
    output:
        forward_matches=report(
            "results/report/forward_matches.png",
            caption="../report/forward_matches.rst",
            labels={"figure": "Survivors' forward matches vs chance"},
            category="1. Sieve",
        ),
        model_comparison=report(
            "results/report/model_comparison.png",
            caption="../report/model_comparison.rst",
            labels={"figure": "Model comparison (CV and test MSE)"},
            category="2. Training",
        ),
        predicted_vs_actual=report(
            "results/report/predicted_vs_actual.png",
            caption="../report/predicted_vs_actual.rst",
            labels={"figure": "Predicted vs actual holdout quality"},
            category="2. Training",
        ),
        feature_importance=report(
            "results/report/feature_importance.png",
            caption="../report/feature_importance.rst",
            labels={"figure": "Feature importance"},
            category="2. Training",
        ),
        prediction_pool=report(
            "results/report/prediction_pool.png",
            caption="../report/prediction_pool.rst",
            labels={"figure": "Prediction pool and confidence"},
            category="3. Prediction",
        ),
    log:
        "logs/report/plot_results.log",
    shell:
        "python {input.script:q} --importance {input.importance:q} --comparison {input.comparison:q}"
        " --test-predictions {input.test_predictions:q} --forward-matches {input.forward_matches:q}"
        " --predictions {input.predictions:q}"
        " --forward-matches-png {output.forward_matches:q}"
        " --model-comparison-png {output.model_comparison:q}"
        " --predicted-vs-actual-png {output.predicted_vs_actual:q}"
        " --feature-importance-png {output.feature_importance:q}"
        " --prediction-pool-png {output.prediction_pool:q} > {log:q} 2>&1"
