#!/usr/bin/env python3
"""Write results/report/summary.json and results/report/summary.txt from the outputs of every step."""

import sys
from pathlib import Path

from seedsift import cli
from seedsift.report import summary


def main(argv=None):
    ap = cli.parser(__doc__)
    ap.add_argument("--data", required=True, type=Path, help="draw_history_summary.json")
    ap.add_argument("--truth", required=True, type=Path, help="truth.json")
    ap.add_argument("--sieve", required=True, type=Path, help="sieve_summary.json")
    ap.add_argument("--bidirectional", required=True, type=Path, help="bidirectional_survivors.json")
    ap.add_argument("--scoring", required=True, type=Path, help="scoring_summary.json")
    ap.add_argument("--comparison", required=True, type=Path, help="model_comparison.json")
    ap.add_argument("--predictions", required=True, type=Path, help="predictions.json")
    ap.add_argument("--evaluation", required=True, type=Path, help="evaluation.json")
    ap.add_argument("--recovered", type=Path, help="recovered.json (the exact check after the sieve)")
    ap.add_argument("--json", required=True, type=Path)
    ap.add_argument("--text", required=True, type=Path)
    args = ap.parse_args(argv)
    result = summary.build(args.data, args.truth, args.sieve, args.bidirectional, args.scoring, args.comparison,
                           args.predictions, args.evaluation, args.recovered)
    summary.write(result, args.json, args.text)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
