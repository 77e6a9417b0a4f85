#!/usr/bin/env python3
"""Step 5 without Snakemake (the seed's M.4 command): train, compare and save the model.

Runs the pipeline's training library in one process: the training table, the plan, every
(model type, trial, fold), the selection (by the validation folds' positive AUC, when the label
has enough positives for a choice), the refit and the test evaluation. Writes best_model.<ext>,
best_model.meta.json, selection.json, training_history.json, model_comparison.json,
test_predictions.json, out_of_sample_priors.json and feature_importance.json to --output-dir,
and the intermediate files (table, plan, fold and trial results) to --work-dir. Exit status
0 = model written, 2 = bad input or no model (too few survivors or a label without variance:
the sidecar says why).
"""

import sys
from pathlib import Path

from models.wrappers import MODEL_TYPES
from seedsift import cli, manifests
from seedsift.errors import InputError
from seedsift.jsonio import sha256_file
from seedsift.pipeline.config import check_value
from seedsift.report.summary import render_comparison
from seedsift.training.plan import MANIFEST
from seedsift.training.run import run_all


def main(argv=None):
    bounds = manifests.load(MANIFEST)["parameter_bounds"]
    ap = cli.parser(__doc__)
    ap.add_argument("--survivors", required=True, type=Path, help="survivors_with_scores.json from Step 3")
    ap.add_argument("--lottery-data", required=True, type=Path,
                    help="the draw history; recorded in the sidecar's provenance (features and label are in --survivors)")
    ap.add_argument("--trials", type=int, default=bounds["trials"]["default"], help="trials per model type (%(default)s)")
    ap.add_argument("--k-folds", type=int, default=bounds["k_folds"]["default"], help="cross-validation folds (%(default)s)")
    kind = ap.add_mutually_exclusive_group()
    kind.add_argument("--model-type", choices=MODEL_TYPES, default=bounds["model_type"]["default"],
                      help="train this type only (default: %(default)s)")
    kind.add_argument("--compare-models", action="store_true", help=f"train all of {', '.join(MODEL_TYPES)}; keep the best")
    ap.add_argument("--output-dir", type=Path, default=Path(bounds["output_dir"]["default"]),
                    help="model, sidecar and reports (default: %(default)s)")
    ap.add_argument("--work-dir", type=Path, default=None, help="table, plan and trial files (default: OUTPUT_DIR/training)")
    ap.add_argument("--test-fraction", type=float, default=bounds["test_fraction"]["default"])
    ap.add_argument("--label", default=bounds["label"]["default"], help="label field (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=bounds["seed"]["default"])
    ap.add_argument("--threads", type=int, default=1, help="CPU threads per model fit (default: %(default)s)")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = ap.parse_args(argv)
    config = {
        "trials": check_value("--trials", args.trials, bounds["trials"]),
        "k_folds": check_value("--k-folds", args.k_folds, bounds["k_folds"]),
        "test_fraction": check_value("--test-fraction", args.test_fraction, bounds["test_fraction"]),
        "seed": check_value("--seed", args.seed, bounds["seed"]),
        "label": args.label,
        "compare_models": args.compare_models,
        "model_type": args.model_type,
        "model_types": list(MODEL_TYPES) if args.compare_models else [args.model_type],
    }
    if not args.lottery_data.is_file():
        raise InputError(args.lottery_data, "", "draw history (--lottery-data) does not exist")
    provenance = {"cli_args": [str(a) for a in (sys.argv[1:] if argv is None else argv)],
                  "lottery_data": str(args.lottery_data), "lottery_data_sha256": sha256_file(args.lottery_data)}
    work_dir = args.work_dir or args.output_dir / "training"
    result = run_all(args.survivors, args.output_dir, work_dir, config, n_jobs=args.threads,
                              device=args.device, provenance=provenance)
    print(render_comparison(result))
    if result["status"] != "ok":
        print(f"seedsift: no model trained: {result['reason']} (see {args.output_dir / 'best_model.meta.json'})",
              file=sys.stderr)
        return cli.EXIT_INPUT
    print(f"model: {args.output_dir / result['artifact']}  sidecar: {args.output_dir / 'best_model.meta.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
