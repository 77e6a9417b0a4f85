#!/usr/bin/env python3
"""Step 5: summarise the folds of one (model type, trial) -> trial_{t}.json."""

import sys
from pathlib import Path

from seedsift import cli
from seedsift.jsonio import read_json, write_json
from seedsift.provenance import agent_metadata
from seedsift.training.folds import summarize_trial


def main(argv=None):
    ap = cli.parser(__doc__)
    ap.add_argument("--folds", required=True, nargs="+", type=Path, help="fold_{k}.json files of one trial")
    ap.add_argument("--output", required=True, type=Path)
    args = ap.parse_args(argv)
    folds = [read_json(p, "fold result") for p in args.folds]
    summary = summarize_trial(folds)
    summary["agent_metadata"] = agent_metadata(
        "training", step=5, inputs=args.folds, outputs=[args.output],
        parent_run_id=(folds[0].get("agent_metadata") or {}).get("parent_run_id"), params=None)
    write_json(args.output, summary)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
