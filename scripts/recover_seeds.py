#!/usr/bin/env python3
"""The exact check after the sieve: survivors that reproduce every known draw, with the chance figure
and their next draws; writes results/sieve/recovered.json and recovered.txt."""

import sys
from pathlib import Path

from seedsift import cli
from seedsift.data.draws import read_history_part
from seedsift.jsonio import atomic_write_text, read_json, write_json
from seedsift.provenance import agent_metadata, parent_run_id_of
from seedsift.sieve import recover


def main(argv=None):
    ap = cli.parser(__doc__)
    ap.add_argument("--survivors", required=True, type=Path, help="bidirectional_survivors.json")
    ap.add_argument("--sieve-summary", required=True, type=Path, help="sieve_summary.json")
    ap.add_argument("--train", required=True, type=Path)
    ap.add_argument("--holdout", required=True, type=Path)
    ap.add_argument("--test", required=True, type=Path)
    ap.add_argument("--params", required=True, type=cli.params_arg, help="validated config (JSON)")
    ap.add_argument("--json", required=True, type=Path)
    ap.add_argument("--text", required=True, type=Path)
    args = ap.parse_args(argv)
    mod, low = args.params["mod"], args.params.get("low", 0)
    known = read_history_part(args.train, mod, low=low) + read_history_part(args.holdout, mod, low=low)
    test = read_history_part(args.test, mod, low=low)
    summary = read_json(args.sieve_summary, "sieve summary")
    doc = recover.recover(args.survivors, summary, known, test, args.params)
    doc["agent_metadata"] = agent_metadata(
        "sieve", inputs=[args.survivors, args.sieve_summary, args.train, args.holdout, args.test],
        outputs=[args.json, args.text], parent_run_id=parent_run_id_of(summary), params=args.params,
    )
    write_json(args.json, doc)
    atomic_write_text(args.text, recover.render(doc) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
