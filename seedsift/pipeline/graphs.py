"""The job DAG and the rule graph as SVG: ``make dag``.

    python -m seedsift.pipeline.graphs [--outdir dag] -- [snakemake options and targets]

writes ``dag/jobs.svg`` (every job, ``snakemake --dag``) and ``dag/rules.svg`` (one box per rule,
``snakemake --rulegraph``), each next to its Graphviz source. The same by hand:

    snakemake --dag dot | dot -Tsvg > dag/jobs.svg
    snakemake --rulegraph dot | dot -Tsvg > dag/rules.svg

Neither runs a job nor touches a node (no executor is started for a graph).
"""

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from seedsift.cli import split_at_dashdash
from seedsift.errors import SeedsiftError
from seedsift.jsonio import atomic_write_text
from seedsift.pipeline.rerun import snakemake_executable

GRAPHS = {"jobs": "--dag", "rules": "--rulegraph"}


class GraphError(SeedsiftError):
    """snakemake or dot failed, or dot is not installed."""


def dot_source(snakemake_args, flag, cwd=None):
    """Graphviz source printed by ``snakemake ARGS FLAG dot``."""
    # The format goes right after the flag: `--dag TARGET` would read TARGET as the format.
    cmd = [snakemake_executable(), *snakemake_args, flag, "dot"]
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    text = done.stdout
    if done.returncode != 0 or "digraph" not in text:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        raise GraphError(f"snakemake {flag} failed (exit {done.returncode}): {tail}")
    return text[text.index("digraph"):]


def render_svg(source):
    """SVG text of Graphviz ``source``."""
    dot = shutil.which("dot")
    if dot is None:
        raise GraphError("graphviz 'dot' is not installed (run: bash .ci/system-deps.sh, or apt-get install graphviz)")
    done = subprocess.run([dot, "-Tsvg"], input=source, capture_output=True, text=True)
    if done.returncode != 0 or "<svg" not in done.stdout:
        raise GraphError(f"dot -Tsvg failed (exit {done.returncode}): {done.stderr.strip()[-300:]}")
    return done.stdout


def write_graphs(outdir, snakemake_args, cwd=None):
    """Write ``jobs`` and ``rules`` as .dot and .svg into ``outdir``; returns the SVG paths."""
    outdir = Path(outdir)
    written = []
    for name, flag in GRAPHS.items():
        source = dot_source(snakemake_args, flag, cwd)
        atomic_write_text(outdir / f"{name}.dot", source)
        atomic_write_text(outdir / f"{name}.svg", render_svg(source))
        written.append(outdir / f"{name}.svg")
    return written


def main(argv=None):
    """Write the two graphs and print their paths."""
    own, snakemake_args = split_at_dashdash(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(prog="python -m seedsift.pipeline.graphs", description=__doc__.split("\n\n")[0])
    ap.add_argument("--outdir", default="dag", help="folder for jobs.svg and rules.svg (default: dag)")
    args = ap.parse_args(own)
    for path in write_graphs(args.outdir, snakemake_args):
        print(path)
    return 0


if __name__ == "__main__":
    from seedsift.cli import run

    sys.exit(run(main))
