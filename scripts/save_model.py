#!/usr/bin/env python3
"""Step 5: refit the model that selection.json chose on the train part; writes best_model.<ext>."""

import sys
from pathlib import Path

from seedsift import cli
from seedsift.training import table as training_table
from seedsift.training.plan import read_plan
from seedsift.training.select import read_selection, save_chosen_model


def main(argv=None):
    ap = cli.parser(__doc__)
    ap.add_argument("--table", required=True, type=Path, help="table.json of the training table")
    ap.add_argument("--plan", required=True, type=Path, help="reinforcement_engine_config.json")
    ap.add_argument("--selection", required=True, type=Path, help="selection.json of select_model")
    ap.add_argument("--output", required=True, type=Path, help="best_model.<ext> (the name selection.json gives)")
    ap.add_argument("--threads", type=int, default=1, help="threads of the fit (select_model's, for the same bytes)")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = ap.parse_args(argv)
    digest = save_chosen_model(training_table.table_dir(args.table), read_plan(args.plan),
                               read_selection(args.selection), args.output, n_jobs=args.threads, device=args.device)
    print(f"{args.output}: sha256 {digest}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
