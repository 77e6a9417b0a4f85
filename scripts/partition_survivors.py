#!/usr/bin/env python3
"""Step 3: deal the sieve's survivors into results/scoring/chunks/chunk_{i}.json (a fixed count)."""

import sys
from pathlib import Path

from seedsift import cli
from seedsift.scoring import chunks


def main(argv=None):
    ap = cli.parser(__doc__)
    ap.add_argument("--survivors", required=True, type=Path, help="bidirectional_survivors.json or forward_survivors.json")
    ap.add_argument("--chunks", required=True, nargs="+", type=Path, help="chunk files, in order")
    args = ap.parse_args(argv)
    counts = chunks.partition(args.survivors, args.chunks)
    print(f"partitioned {sum(counts)} survivors into {len(counts)} chunks: {counts}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
