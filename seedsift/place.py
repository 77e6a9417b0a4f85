"""Placer in front of every remote rule's command: ``python -m seedsift.place -- CMD ...``.

Without a node inventory (the default, local runs) it runs the command in place, so the
rule text is the same under every profile and switching profiles never reruns a job.
"""

import os
import sys


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        print("usage: python -m seedsift.place -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    os.execvp(argv[0], argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
