# Step 9: the report's figures. Every PNG is marked for Snakemake's report, so
# `snakemake --report report.html` (make report) puts them, with their captions from report/,
# next to the DAG and the runtimes in one self-contained HTML file.


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
        importance="results/models/feature_importance.json",
        comparison="results/models/reinforcement/model_comparison.json",
        test_predictions="results/models/reinforcement/test_predictions.json",
        forward_matches="results/report/forward_matches.json",
        sieve_summary="results/sieve/sieve_summary.json",
        predictions="results/predictions/predictions.json",
        script=script("plot_results.py"),
    output:
        sieve_throughput=report(
            "results/report/sieve_throughput.png",
            caption="../report/sieve_throughput.rst",
            labels={"figure": "Sieve throughput per family"},
            category="1. Sieve",
        ),
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
        " --sieve-summary {input.sieve_summary:q} --predictions {input.predictions:q}"
        " --sieve-throughput-png {output.sieve_throughput:q} --forward-matches-png {output.forward_matches:q}"
        " --model-comparison-png {output.model_comparison:q}"
        " --predicted-vs-actual-png {output.predicted_vs_actual:q}"
        " --feature-importance-png {output.feature_importance:q}"
        " --prediction-pool-png {output.prediction_pool:q} > {log:q} 2>&1"
