#!/usr/bin/env python3
"""Step 3: k-way merge the scored chunks into survivors_with_scores.json; write the global features."""

import sys
from pathlib import Path

from seedsift import cli
from seedsift.data.draws import read_history_part
from seedsift.jsonio import write_json
from seedsift.provenance import agent_metadata, parent_run_id_from
from seedsift.scoring import chunks, features


def main(argv=None):
    ap = cli.parser(__doc__)
    ap.add_argument("--scored", required=True, nargs="+", type=Path)
    ap.add_argument("--train", required=True, type=Path)
    ap.add_argument("--holdout", required=True, type=Path)
    ap.add_argument("--params", required=True, type=cli.params_arg)
    ap.add_argument("--output", required=True, type=Path)
    ap.add_argument("--summary", required=True, type=Path)
    ap.add_argument("--global-features", required=True, type=Path)
    ap.add_argument("--parent", type=Path, help="sieve_summary.json (lineage)")
    args = ap.parse_args(argv)
    mod = args.params["mod"]
    train = read_history_part(args.train, mod, low=args.params.get("low", 0))
    holdout = read_history_part(args.holdout, mod, low=args.params.get("low", 0))
    parent = parent_run_id_from(args.parent) if args.parent else None
    glob = features.global_features(train, mod, args.params["scoring"]["residue_mods"])
    write_json(args.global_features, dict(glob, agent_metadata=agent_metadata(
        "scoring", inputs=[args.train], outputs=[args.global_features], parent_run_id=parent,
        params=args.params)))
    _, stats = chunks.merge(args.scored, args.output)
    meta = agent_metadata(
        "scoring", inputs=[args.parent, *args.scored], outputs=[args.output, args.summary],
        parent_run_id=parent, params=args.params,
        measured={"min_scored_survivors": stats["count"]},
    )
    names = features.feature_names(mod, args.params["scoring"]["residue_mods"])
    chunks.write_summary(args.summary, stats, len(holdout), mod, glob, meta, n_train=len(train), feature_names=names)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
