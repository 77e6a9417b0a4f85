#!/usr/bin/env python3
"""Report step: draw the report's figures (PNG) from the JSON outputs of the steps.

Each --*-png option names one figure to draw; each figure reads the documents it needs.
"""

import sys
from pathlib import Path

from seedsift import cli
from seedsift.report import matches

DOCUMENTS = {
    "importance": "feature_importance.json of select_model",
    "comparison": "model_comparison.json",
    "test_predictions": "test_predictions.json",
    "forward_matches": "forward_matches.json of count_forward_matches",
    "predictions": "predictions.json",
}


def main(argv=None):
    ap = cli.parser(__doc__)
    for name, text in DOCUMENTS.items():
        ap.add_argument(f"--{name.replace('_', '-')}", type=Path, default=None, help=text)
    for figure in matches.FIGURES:
        ap.add_argument(f"--{figure.replace('_', '-')}-png", type=Path, default=None, help=f"{figure} figure to write")
    args = ap.parse_args(argv)
    outputs = {f: getattr(args, f"{f}_png") for f in matches.FIGURES if getattr(args, f"{f}_png") is not None}
    if not outputs:
        ap.error("name at least one figure to draw (--*-png)")
    matches.draw_figures({name: getattr(args, name) for name in DOCUMENTS}, outputs)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
