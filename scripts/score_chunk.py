#!/usr/bin/env python3
"""Step 3: score one chunk of survivors (features from train draws, label from holdout draws)."""

import sys
from pathlib import Path

from seedsift import cli
from seedsift.data.draws import read_history_part
from seedsift.scoring import chunks


def main(argv=None):
    ap = cli.parser(__doc__)
    ap.add_argument("--chunk", required=True, type=Path)
    ap.add_argument("--train", required=True, type=Path)
    ap.add_argument("--holdout", required=True, type=Path)
    ap.add_argument("--params", required=True, type=cli.params_arg, help="{mod, scoring} (JSON)")
    ap.add_argument("--output", required=True, type=Path)
    cli.threads_arg(ap)
    args = ap.parse_args(argv)
    cli.apply_threads(args.threads)
    mod = args.params["mod"]
    train = read_history_part(args.train, mod, 1, "to compute features", low=args.params.get("low", 0))
    holdout = read_history_part(args.holdout, mod, low=args.params.get("low", 0))
    chunks.score_chunk(args.chunk, train, holdout, mod, args.params["scoring"]["residue_mods"], args.output)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
