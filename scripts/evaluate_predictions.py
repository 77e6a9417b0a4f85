#!/usr/bin/env python3
"""Score predictions.json on the test draws against chance and measure what the model adds over the rankings
without it (the lift); writes results/prediction/evaluation.json."""

import sys
from pathlib import Path

from seedsift import cli
from seedsift.data.draws import read_history_part
from seedsift.jsonio import read_json, write_json
from seedsift.prediction import evaluation
from seedsift.provenance import agent_metadata, parent_run_id_of


def main(argv=None):
    ap = cli.parser(__doc__)
    ap.add_argument("--predictions", required=True, type=Path)
    ap.add_argument("--train", required=True, type=Path)
    ap.add_argument("--holdout", required=True, type=Path)
    ap.add_argument("--test", required=True, type=Path)
    ap.add_argument("--truth", required=True, type=Path)
    ap.add_argument("--survivors", required=True, type=Path)
    ap.add_argument("--params", required=True, type=cli.params_arg)
    ap.add_argument("--output", required=True, type=Path)
    args = ap.parse_args(argv)
    mod, low = args.params["mod"], args.params.get("low", 0)
    pred = read_json(args.predictions, "predictions")
    n_known = len(read_history_part(args.train, mod, low=low)) + len(read_history_part(args.holdout, mod, low=low))
    test = read_history_part(args.test, mod, low=low, offset=False)
    truth = read_json(args.truth, "truth record")
    # The survivors file is streamed only to find the planted hypothesis of a synthetic history.
    doc = evaluation.evaluate(pred, test, mod, truth, args.survivors, n_known,
                              seed=args.params["evaluation"]["random_seed"], low=low)
    doc["agent_metadata"] = agent_metadata(
        "prediction", step=7, inputs=[args.predictions, args.test, args.truth, args.survivors], outputs=[args.output],
        parent_run_id=parent_run_id_of(pred), params=args.params, success_criteria_met=True,
        confidence=None,
    )
    write_json(args.output, doc)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
