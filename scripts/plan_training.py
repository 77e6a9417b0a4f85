#!/usr/bin/env python3
"""Step 4: the training plan (a documented heuristic) -> reinforcement_engine_config.json."""

import sys
from pathlib import Path

from seedsift import cli
from seedsift.jsonio import write_json
from seedsift.provenance import agent_metadata, parent_run_id_from
from seedsift.training import table as training_table
from seedsift.training.plan import make_plan


def main(argv=None):
    ap = cli.parser(__doc__)
    ap.add_argument("--table", required=True, type=Path, help="table.json of the training table")
    ap.add_argument("--params", required=True, type=cli.params_arg, help='validated config: {"training": {...}}')
    ap.add_argument("--output", required=True, type=Path)
    args = ap.parse_args(argv)
    plan = make_plan(training_table.table_dir(args.table), args.params.get("training", {}))
    plan["agent_metadata"] = agent_metadata("training", step=4, inputs=[args.table], outputs=[args.output],
                                            parent_run_id=parent_run_id_from(args.table), params=args.params,
                                            measured={"min_train_rows_per_fold": plan["data"]["fit_rows_per_fold"]})
    write_json(args.output, plan)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
