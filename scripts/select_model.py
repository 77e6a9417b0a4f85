#!/usr/bin/env python3
"""Step 5: choose the model, refit every type's best trial, test them; writes selection.json (which
names the model file), the reports and the feature importance of every compared type."""

import sys
from pathlib import Path

from seedsift import cli
from seedsift.provenance import agent_metadata, parent_run_id_of
from seedsift.report.summary import render_comparison
from seedsift.training import table as training_table
from seedsift.training.plan import read_plan
from seedsift.training.run import read_trial_summaries
from seedsift.training.select import select_and_finalise


def main(argv=None):
    ap = cli.parser(__doc__)
    ap.add_argument("--table", required=True, type=Path, help="table.json of the training table")
    ap.add_argument("--plan", required=True, type=Path, help="reinforcement_engine_config.json")
    ap.add_argument("--trials", required=True, nargs="+", type=Path, help="trial_{t}.json of every model type")
    ap.add_argument("--selection", required=True, type=Path,
                    help="selection.json to write; the other reports go beside it unless named")
    ap.add_argument("--history", type=Path, default=None, help="training_history.json")
    ap.add_argument("--comparison", type=Path, default=None, help="model_comparison.json")
    ap.add_argument("--test-predictions", type=Path, default=None,
                    help="test_predictions.json, every type's predictions on the test part")
    ap.add_argument("--priors", type=Path, default=None, help="out_of_sample_priors.json, Step 6's prior per survivor")
    ap.add_argument("--importance", type=Path, default=None, help="feature_importance.json of every type")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = ap.parse_args(argv)
    plan = read_plan(args.plan)
    lineage = agent_metadata("training", step=5, inputs=[args.table, args.plan, *args.trials], outputs=[],
                             parent_run_id=parent_run_id_of(plan), params=None)
    result = select_and_finalise(
        training_table.table_dir(args.table), plan, read_trial_summaries(args.trials), args.selection.parent,
        n_jobs=args.threads, device=args.device, lineage=lineage, selection=args.selection, history=args.history,
        comparison=args.comparison, importance=args.importance, test_predictions=args.test_predictions,
        priors=args.priors)
    print(render_comparison(result), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
