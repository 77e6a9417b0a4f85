#!/usr/bin/env python3
"""Step 2: merge the sieve shards into forward/bidirectional survivor files and sieve_summary.json."""

import sys
from pathlib import Path

from seedsift import cli
from seedsift.sieve import shards


def main(argv=None):
    ap = cli.parser(__doc__)
    ap.add_argument("--shards", required=True, nargs="+", type=Path)
    ap.add_argument("--train", required=True, type=Path)
    ap.add_argument("--params", required=True, type=cli.params_arg)
    ap.add_argument("--forward", required=True, type=Path)
    ap.add_argument("--bidirectional", required=True, type=Path)
    ap.add_argument("--summary", required=True, type=Path)
    ap.add_argument("--parent", type=Path, help="draw_history_summary.json (lineage)")
    args = ap.parse_args(argv)
    shards.aggregate(args.shards, args.train, args.params, args.forward, args.bidirectional, args.summary,
                        args.parent)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
