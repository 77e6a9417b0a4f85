#!/usr/bin/env python3
"""Where the run stands, per pipeline step: done / missing / stale (Snakemake's own view), key
metrics, success criteria and the adjustable parameters with their bounds.

    python scripts/status.py [--json] [-- snakemake options, e.g. --configfile my.yaml -d run1]
"""

import sys

from seedsift import cli
from seedsift.jsonio import dumps
from seedsift.pipeline import status


def main(argv=None):
    own, snakemake_args = cli.split_at_dashdash(sys.argv[1:] if argv is None else argv)
    ap = cli.parser(__doc__)
    ap.add_argument("--json", action="store_true", help="print the status as JSON (for agents)")
    args = ap.parse_args(own)
    result = status.collect(snakemake_args)
    print(dumps(result, indent=1) if args.json else status.render(result))
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
