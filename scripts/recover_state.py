#!/usr/bin/env python3
"""Step 2 with sieve.search: state: recover one call's generator state at the first training draw;
writes results/sieve/{prng}/state.json (in place of the call's sieve shards)."""

import sys
from pathlib import Path

from seedsift import cli
from seedsift.sieve import state


def main(argv=None):
    ap = cli.parser(__doc__)
    ap.add_argument("--train", required=True, type=Path, help="train_history.json")
    ap.add_argument("--prng", required=True, help="runtime call or family name")
    ap.add_argument("--params", required=True, type=cli.params_arg, help="validated config (JSON)")
    ap.add_argument("--parent", type=Path, help="draw_history_summary.json (lineage)")
    ap.add_argument("--output", required=True, type=Path)
    cli.threads_arg(ap)
    args = ap.parse_args(argv)
    cli.apply_threads(args.threads)
    state.run_state(args.train, args.prng, args.params, args.output, args.parent)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
