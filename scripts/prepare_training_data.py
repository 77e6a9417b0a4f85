#!/usr/bin/env python3
"""Step 5 data: parse survivors_with_scores.json once into the binary training table (X/y/ids .npy + table.json)."""

import sys
from pathlib import Path

from seedsift import cli
from seedsift.jsonio import read_json
from seedsift.provenance import agent_metadata, parent_run_id_from
from seedsift.training import table as training_table


def main(argv=None):
    ap = cli.parser(__doc__)
    ap.add_argument("--survivors", required=True, type=Path, help="survivors_with_scores.json")
    ap.add_argument("--label", default="holdout_quality", help="top-level label field (default: %(default)s)")
    ap.add_argument("--table", required=True, type=Path,
                    help="table.json to write; the .npy arrays go into the same folder")
    ap.add_argument("--parent", type=Path,
                    help="scoring_summary.json (lineage, the history length and, for no survivors, the feature names)")
    args = ap.parse_args(argv)
    lineage = agent_metadata("training", step=4, inputs=[args.survivors, args.parent], outputs=[],
                             parent_run_id=parent_run_id_from(args.parent) if args.parent else None,
                             params={"label": args.label})
    summary = read_json(args.parent, "scoring summary") if args.parent else None
    table = training_table.write_training_table(args.survivors, training_table.table_dir(args.table), args.label,
                                                lineage=lineage, scoring_summary=summary)
    print(f"{table['n']} survivors x {table['d']} features, schema {table['feature_schema_hash']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
