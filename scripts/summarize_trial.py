#!/usr/bin/env python3
"""Step 5: summarise the folds of one (model type, trial) -> trial_{t}.json."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from seedsift import cli, training  # noqa: E402
from seedsift.jsonio import read_json, write_json  # noqa: E402


def main(argv=None):
    ap = cli.parser(__doc__)
    ap.add_argument("--folds", required=True, nargs="+", type=Path, help="fold_{k}.json files of one trial")
    ap.add_argument("--output", required=True, type=Path)
    args = ap.parse_args(argv)
    summary = training.summarize_trial([read_json(p, "fold result") for p in args.folds])
    write_json(args.output, summary)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
