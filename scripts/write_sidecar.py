#!/usr/bin/env python3
"""Step 5, last: best_model.meta.json (the sidecar) for the model file selection.json names, or a sidecar
with checkpoint_path null that says why no model was trained."""

import sys
from pathlib import Path

from seedsift import cli
from seedsift.provenance import agent_metadata, parent_run_id_of
from seedsift.training import table as training_table
from seedsift.training.plan import read_plan
from seedsift.training.select import read_selection, sidecar_dir, write_model_sidecar


def main(argv=None):
    ap = cli.parser(__doc__)
    ap.add_argument("--table", required=True, type=Path, help="table.json of the training table")
    ap.add_argument("--plan", required=True, type=Path, help="reinforcement_engine_config.json")
    ap.add_argument("--selection", required=True, type=Path, help="selection.json of select_model")
    ap.add_argument("--artifact", type=Path, nargs="*", default=[],
                    help="best_model.<ext>, the file selection.json names (nothing when no model was trained)")
    ap.add_argument("--sidecar", required=True, type=Path, help="best_model.meta.json to write, beside the artifact")
    args = ap.parse_args(argv)
    plan = read_plan(args.plan)
    selection = read_selection(args.selection)
    out_dir = sidecar_dir(args.sidecar)
    if len(args.artifact) > 1 or any(a.parent.resolve() != out_dir.resolve() for a in args.artifact):
        ap.error(f"--artifact: at most one model file, in the sidecar's folder {out_dir}")
    lineage = agent_metadata("training", step=5, inputs=[args.table, args.plan, args.selection, *args.artifact],
                             outputs=[args.sidecar], parent_run_id=parent_run_id_of(plan), params=None)
    meta = write_model_sidecar(training_table.table_dir(args.table), plan, selection, out_dir, lineage=lineage)
    print(f"{args.sidecar}: model {meta['model_type']}, checkpoint {meta['checkpoint_path']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
