"""Rebuild the outputs that are missing, and what depends on them: ``make rerun-missing``.

Snakemake 9 does not rebuild a deleted intermediate file while the final outputs that were made
from it still exist (snakemake issues #1978 and #2011: "Nothing to be done"). This asks snakemake
itself which outputs are missing (``--summary``, status ``missing``) and runs snakemake with those
files as targets plus the default target, so that exactly the missing files are made again and
then everything downstream of them (their inputs are now newer).

    python -m seedsift.pipeline.rerun [--target all] [--dry-run] -- [snakemake options]

Outputs marked ``temp()`` are missing by design after a run and would be rebuilt too; the
workflow has none.
"""

import argparse
import os
import subprocess
import sys

from seedsift.cli import split_at_dashdash
from seedsift.errors import SeedsiftError

LOG_PREFIX = "seedsift.pipeline.rerun"


class SummaryError(SeedsiftError):
    """snakemake --summary failed or printed no table."""


def snakemake_executable():
    """The snakemake next to this interpreter (the project's venv), else the one on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "snakemake")
    return beside if os.access(beside, os.X_OK) else "snakemake"


def parse_summary(text):
    """Rows of snakemake's ``--summary`` table as dicts keyed by its header."""
    rows, header = [], None
    for line in text.splitlines():
        fields = line.split("\t")
        if header is None:
            if fields[0] == "output_file" and "status" in fields:
                header = fields
            continue
        if len(fields) == len(header):
            rows.append(dict(zip(header, fields)))
    if header is None:
        raise SummaryError("snakemake --summary printed no table (is there a Snakefile and a valid config?)")
    return rows


def missing_outputs(snakemake_args, cwd=None, env=None):
    """Output files the workflow would make but that do not exist, in snakemake's order."""
    cmd = [snakemake_executable(), *snakemake_args, "--summary"]
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        raise SummaryError(f"snakemake --summary failed (exit {done.returncode}): {tail}")
    return [row["output_file"] for row in parse_summary(done.stdout) if row["status"] == "missing"]


def rerun_command(snakemake_args, missing, target="all"):
    """The snakemake command that rebuilds ``missing`` and then ``target``."""
    # Targets after "--": snakemake reads them as targets even behind options that take lists.
    return [snakemake_executable(), *snakemake_args, "--", *missing, target]


def main(argv=None):
    """Print the missing outputs, then run (or with --dry-run, show) snakemake on them."""
    own, snakemake_args = split_at_dashdash(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(prog="python -m seedsift.pipeline.rerun", description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", default="all", help="the default target to bring up to date afterwards (default: all)")
    ap.add_argument("--dry-run", action="store_true", help="pass -n to snakemake: show the jobs, run nothing")
    args = ap.parse_args(own)
    missing = missing_outputs(snakemake_args)
    if not missing:
        print(f"{LOG_PREFIX}: no output is missing", file=sys.stderr)
        return 0
    print(f"{LOG_PREFIX}: {len(missing)} missing: {' '.join(missing)}", file=sys.stderr)
    cmd = rerun_command(snakemake_args + (["-n"] if args.dry_run else []), missing, args.target)
    return subprocess.run(cmd).returncode


if __name__ == "__main__":
    from seedsift.cli import run

    sys.exit(run(main))
