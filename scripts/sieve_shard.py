#!/usr/bin/env python3
"""Step 2: sieve one shard of one family's seed range; writes results/sieve/{prng}/shard_{i}.json."""

import sys
from pathlib import Path

from seedsift import cli
from seedsift.sieve import shards


def main(argv=None):
    ap = cli.parser(__doc__)
    ap.add_argument("--train", required=True, type=Path, help="train_history.json")
    ap.add_argument("--prng", required=True, help="family name")
    ap.add_argument("--shard", required=True, type=int, help="shard index")
    ap.add_argument("--params", required=True, type=cli.params_arg, help="validated config (JSON)")
    ap.add_argument("--parent", type=Path, help="draw_history_summary.json (lineage)")
    ap.add_argument("--output", required=True, type=Path)
    cli.threads_arg(ap)
    args = ap.parse_args(argv)
    cli.apply_threads(args.threads)
    shards.run_shard(args.train, args.prng, args.shard, args.params, args.output, args.parent)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
