#!/usr/bin/env python3
"""Step 5: choose the model, refit it, test it, write best_model.<ext> + best_model.meta.json, the reports
and the feature importance of every compared type."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from seedsift import cli, training, training_table  # noqa: E402
from seedsift.provenance import agent_metadata, parent_run_id_of  # noqa: E402


def main(argv=None):
    ap = cli.parser(__doc__)
    ap.add_argument("--table", required=True, type=Path, help="table.json of the training table")
    ap.add_argument("--plan", required=True, type=Path, help="reinforcement_engine_config.json")
    ap.add_argument("--trials", required=True, nargs="+", type=Path, help="trial_{t}.json of every model type")
    ap.add_argument("--sidecar", required=True, type=Path,
                    help="best_model.meta.json to write; best_model.<ext> goes into the same folder")
    ap.add_argument("--history", type=Path, default=None, help="training_history.json (default: beside the sidecar)")
    ap.add_argument("--comparison", type=Path, default=None, help="model_comparison.json (default: beside the sidecar)")
    ap.add_argument("--test-predictions", type=Path, default=None,
                    help="test_predictions.json, every type's predictions on the test part (default: beside the sidecar)")
    ap.add_argument("--priors", type=Path, default=None,
                    help="out_of_sample_priors.json, Step 6's prior per survivor (default: beside the sidecar)")
    ap.add_argument("--importance", type=Path, default=None,
                    help="feature_importance.json of every type (default: beside the sidecar)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = ap.parse_args(argv)
    plan = training.read_plan(args.plan)
    lineage = agent_metadata("reinforcement", inputs=[args.table, args.plan, *args.trials], outputs=[],
                             parent_run_id=parent_run_id_of(plan), params=None)
    result = training.select_and_finalise(
        training_table.table_dir(args.table), plan, training.read_trial_summaries(args.trials),
        training.sidecar_dir(args.sidecar), n_jobs=args.threads, device=args.device,
        history_path=args.history, comparison_path=args.comparison, lineage=lineage,
        importance_path=args.importance, test_predictions_path=args.test_predictions, priors_path=args.priors)
    print(training.render_comparison(result), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
