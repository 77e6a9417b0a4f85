#!/usr/bin/env python3
"""Step 5: train one (model type, trial, fold) of the cross-validation -> fold_{k}.json."""

import sys
from pathlib import Path

from seedsift import cli
from seedsift.jsonio import write_json
from seedsift.provenance import agent_metadata, parent_run_id_of
from seedsift.training import table as training_table
from seedsift.training.folds import run_fold
from seedsift.training.plan import read_plan


def main(argv=None):
    ap = cli.parser(__doc__)
    ap.add_argument("--table", required=True, type=Path, help="table.json of the training table")
    ap.add_argument("--plan", required=True, type=Path, help="reinforcement_engine_config.json")
    ap.add_argument("--model-type", required=True)
    ap.add_argument("--trial", required=True, type=int)
    ap.add_argument("--fold", required=True, type=int)
    ap.add_argument("--threads", type=int, default=1, help="CPU threads of the backend (default: %(default)s)")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                    help="auto = the GPU in CUDA_VISIBLE_DEVICES/HIP_VISIBLE_DEVICES if usable, else CPU")
    ap.add_argument("--output", required=True, type=Path)
    args = ap.parse_args(argv)
    plan = read_plan(args.plan)
    result = run_fold(training_table.table_dir(args.table), plan, args.model_type, args.trial, args.fold,
                               n_jobs=args.threads, device=args.device)
    result["agent_metadata"] = agent_metadata(
        "training", step=5, inputs=[args.table, args.plan], outputs=[args.output], parent_run_id=parent_run_id_of(plan),
        params={"model_type": args.model_type, "trial": args.trial, "fold": args.fold})
    write_json(args.output, result)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
