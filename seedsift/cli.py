"""Shared plumbing of the thin scripts: logging, one-line errors, exit codes."""

import argparse
import json
import logging
import sys

from seedsift.errors import SeedsiftError

EXIT_INPUT = 2


def parser(description):
    """An ArgumentParser with the project's conventions."""
    return argparse.ArgumentParser(description=description)


def params_arg(text):
    """Parse a ``--params`` JSON object given on the command line."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"--params is not valid JSON: {exc.msg}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("--params must be a JSON object")
    return value


def run(main, argv=None):
    """Call ``main(argv)``; a SeedsiftError becomes one line on stderr and exit status 2."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return main(argv)
    except SeedsiftError as exc:
        print(f"seedsift: error: {exc}", file=sys.stderr)
        return EXIT_INPUT


def threads_arg(parser_):
    """Add ``--threads``: numba threads of this job (the rule's ``threads``), so that parallel
    jobs do not each start one thread per core."""
    parser_.add_argument("--threads", type=int, default=None, help="numba threads (default: all cores)")


def apply_threads(threads):
    """Limit numba's parallel kernels to ``threads`` (None keeps numba's default)."""
    if threads:
        import numba

        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))


def params_json(obj):
    """Canonical JSON of a params mapping: sorted keys, so equal params give equal text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))
