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


def split_at_dashdash(argv):
    """(own options, passed-through arguments) of a command line ``OPTIONS -- ARGS``."""
    argv = list(argv)
    if "--" not in argv:
        return argv, []
    cut = argv.index("--")
    return argv[:cut], argv[cut + 1 :]


def params_arg(text):
    """Parse a ``--params`` JSON object given on the command line."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"--params is not valid JSON: {exc.msg}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("--params must be a JSON object")
    return value


def peak_rss_mb():
    """This process's peak resident memory in MB (VmHWM: unlike ru_maxrss, it does not include
    the memory of the parent this process was forked from)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(main, argv=None):
    """Call ``main(argv)``; a SeedsiftError becomes one line on stderr and exit status 2.

    Logs the job's peak memory at the end, so every job's log shows it.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return main(argv)
    except SeedsiftError as exc:
        # One line, even when a backend's message quoted in ``exc`` runs over several.
        text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        print(f"seedsift: error: {text}", file=sys.stderr)
        return EXIT_INPUT
    finally:
        logging.getLogger("seedsift").info("peak memory %.0f MB", peak_rss_mb())


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
