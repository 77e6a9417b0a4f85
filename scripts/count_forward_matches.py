#!/usr/bin/env python3
"""Report step: count the sieve survivors by forward-window matches, next to the chance expectation."""

import sys
from pathlib import Path

from seedsift import cli
from seedsift.provenance import agent_metadata, parent_run_id_from
from seedsift.report import matches


def main(argv=None):
    ap = cli.parser(__doc__)
    ap.add_argument("--survivors", required=True, type=Path, help="forward_survivors.json of the sieve")
    ap.add_argument("--sieve-summary", required=True, type=Path, help="sieve_summary.json")
    ap.add_argument("--output", required=True, type=Path, help="forward_matches.json to write")
    args = ap.parse_args(argv)
    lineage = agent_metadata(matches.MANIFEST, step=9, inputs=[args.survivors, args.sieve_summary], outputs=[],
                             parent_run_id=parent_run_id_from(args.sieve_summary))
    matches.write_forward_matches(args.survivors, args.sieve_summary, args.output, lineage)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
