#!/usr/bin/env python3
"""Step 1: read (or synthesise) the draw history, validate it and split it into train/holdout/test."""

import sys
from pathlib import Path

from seedsift import cli
from seedsift.data import history


def main(argv=None):
    ap = cli.parser(__doc__)
    ap.add_argument("--draws", required=True, help="'synthetic' or a draw-history file")
    ap.add_argument("--params", required=True, type=cli.params_arg, help="validated config (JSON)")
    ap.add_argument("--outdir", required=True, type=Path, help="folder of the outputs (results/data)")
    args = ap.parse_args(argv)
    history.prepare(args.draws, args.params, args.outdir)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
