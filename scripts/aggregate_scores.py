#!/usr/bin/env python3
"""Step 3: k-way merge the scored chunks into survivors_with_scores.json; write the global features."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from seedsift import cli, features, scoring  # noqa: E402
from seedsift.jsonio import write_json  # noqa: E402
from seedsift.sieve_job import read_history_part  # noqa: E402


def main(argv=None):
    ap = cli.parser(__doc__)
    ap.add_argument("--scored", required=True, nargs="+", type=Path)
    ap.add_argument("--train", required=True, type=Path)
    ap.add_argument("--holdout", required=True, type=Path)
    ap.add_argument("--params", required=True, type=cli.params_arg)
    ap.add_argument("--output", required=True, type=Path)
    ap.add_argument("--summary", required=True, type=Path)
    ap.add_argument("--global-features", required=True, type=Path)
    args = ap.parse_args(argv)
    mod = args.params["mod"]
    train = read_history_part(args.train, mod)
    holdout = read_history_part(args.holdout, mod)
    glob = features.global_features(train, mod, args.params["scoring"]["residue_mods"])
    write_json(args.global_features, glob)
    _, stats = scoring.merge(args.scored, args.output)
    scoring.write_summary(args.summary, stats, len(holdout), mod, glob)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
