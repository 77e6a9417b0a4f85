rule prepare_draws:
    input:
        draws=draws_input,
        script=script("prepare_draws.py"),
    output:
        draws="results/data/draws.json",
        train="results/data/train_history.json",
        holdout="results/data/holdout_history.json",
        test="results/data/test_history.json",
        truth="results/data/truth.json",
        summary="results/data/draw_history_summary.json",
    log:
        "logs/data/prepare_draws.log",
    params:
        source=config["draws"],
        spec=data_params,
        outdir=output_dir,
    shell:
        "python {input.script:q} --draws {params.source:q} --params {params.spec:q}"
        " --outdir {params.outdir:q} > {log:q} 2>&1"
