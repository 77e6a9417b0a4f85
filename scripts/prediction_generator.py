#!/usr/bin/env python3
"""Step 6: predictions from the model named by best_model.meta.json (the seed's prediction_generator.py).

Seed usage (M.4):  prediction_generator.py --models-dir DIR --survivors-forward FILE --lottery-history FILE
Pipeline usage:    prediction_generator.py --models-dir DIR --survivors-forward FILE --train F --holdout F --params JSON

With --lottery-history the history is cut as the model's was: the first feature_schema.train_draws
draws of the sidecar (or --train-draws) are the training part, the next y_label_source.n_holdout
the holdout behind the survivors' holdout_matches, and later draws are further evidence; the
predictions continue after the last draw. Without any holdout evidence the log says, in one
line, that the ranking rests on the model's prior alone.
Exit status: 0 predictions written; 3 PREDICTION_SKIPPED written (no survivor); 2 bad input
(one line on stderr).
"""

import sys
from pathlib import Path

from models.model_factory import read_sidecar, sidecar_path
from seedsift import cli, manifests
from seedsift.data.draws import load_history, read_history_part
from seedsift.pipeline.config import check_value
from seedsift.prediction import predict as prediction


def _defaults():
    bounds = manifests.load("prediction")["parameter_bounds"]
    scoring = manifests.load("scoring")["parameter_bounds"]
    return bounds, scoring["residue_mods"]["default"]


def main(argv=None):
    bounds, residue_default = _defaults()
    ap = cli.parser(__doc__)
    ap.add_argument("--models-dir", type=Path, default=Path(bounds["models_dir"]["default"]),
                    help="folder with best_model.meta.json (default: %(default)s)")
    ap.add_argument("--survivors-forward", required=True, type=Path,
                    help="survivors_with_scores.json, or a bare forward_survivors.json (scored here)")
    ap.add_argument("--lottery-history", type=Path, help="the known draws (any accepted history format)")
    ap.add_argument("--train-draws", type=int, default=None, help=bounds["train_draws"]["description"])
    ap.add_argument("--train", type=Path, help="train_history.json (pipeline)")
    ap.add_argument("--holdout", type=Path, help="holdout_history.json (pipeline)")
    ap.add_argument("--priors", type=Path, help="out_of_sample_priors.json from select_model for these survivors "
                                                 "(the pipeline's priors; without it the model predicts the priors)")
    ap.add_argument("--mod", type=int, default=1000, help="draw modulus (default 1000)")
    ap.add_argument("--params", type=cli.params_arg, help="validated config (pipeline): mod, prediction, pool, scoring")
    for name in ("k", "horizon", "prior_strength"):
        b = bounds[f"prediction.{name}"]
        ap.add_argument(f"--{name.replace('_', '-')}", type=float if b["type"] == "float" else int, default=None,
                        help=f"{b['description']} ({manifests.describe(b)}; default {b['default']})")
    ap.add_argument("--output-dir", type=Path, default=Path("results/prediction"))
    ap.add_argument("--output", type=Path, help="output file (default: OUTPUT_DIR/predictions.json)")
    args = ap.parse_args(argv)

    low = 0
    if args.params:
        mod, low = args.params["mod"], args.params.get("low", 0)
        params = dict(args.params["prediction"], pool=args.params["pool"])
        residue_mods = args.params["scoring"]["residue_mods"]
        test_draws = args.params["split"]["test_draws"]
    else:
        mod = check_value("mod", args.mod, manifests.load("data")["parameter_bounds"]["mod"])
        params = {n.split(".")[1]: b["default"] for n, b in bounds.items() if n.startswith("prediction.")}
        params["pool"] = {n.split(".")[1]: b["default"] for n, b in bounds.items() if n.startswith("pool.")}
        for name in ("k", "horizon", "prior_strength"):
            value = getattr(args, name)
            if value is not None:
                params[name] = check_value(f"--{name.replace('_', '-')}", value, bounds[f"prediction.{name}"])
        residue_mods = residue_default
        test_draws = 1
    if params.get("horizon") is None:
        params["horizon"] = max(1, test_draws)

    extra = []
    if args.train is not None:
        train = read_history_part(args.train, mod, low=low)
        holdout = read_history_part(args.holdout, mod, low=low) if args.holdout else None
        inputs = [args.train] + ([args.holdout] if args.holdout else [])
    elif args.lottery_history is not None:
        draws = load_history(args.lottery_history, mod)
        side = sidecar_path(args.models_dir)
        train_draws = check_value("--train-draws", args.train_draws, bounds["train_draws"])
        # The split the features and labels were computed over, from the sidecar; later draws are extra evidence.
        train, holdout, extra = prediction.split_history(draws, read_sidecar(side), side, train_draws)
        inputs = [args.lottery_history]
    else:
        ap.error("give --lottery-history, or --train (and --holdout)")
    output = args.output or args.output_dir / "predictions.json"
    return prediction.run(args.models_dir, args.survivors_forward, train, holdout, mod, params, residue_mods,
                          output, inputs, priors_path=args.priors, extra=extra, low=low)


if __name__ == "__main__":
    sys.exit(cli.run(main))
