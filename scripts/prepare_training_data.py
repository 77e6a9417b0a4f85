#!/usr/bin/env python3
"""Step 5 data: parse survivors_with_scores.json once into the binary training table (X/y/ids .npy + table.json)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from seedsift import cli, training_table  # noqa: E402


def main(argv=None):
    ap = cli.parser(__doc__)
    ap.add_argument("--survivors", required=True, type=Path, help="survivors_with_scores.json")
    ap.add_argument("--label", default="holdout_quality", help="top-level label field (default: %(default)s)")
    ap.add_argument("--table", required=True, type=Path,
                    help="table.json to write; the .npy arrays go into the same folder")
    args = ap.parse_args(argv)
    table = training_table.write_training_table(args.survivors, training_table.table_dir(args.table), args.label)
    print(f"{table['n']} survivors x {table['d']} features, schema {table['feature_schema_hash']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
