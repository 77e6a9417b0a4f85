"""The config reference of docs/configuration.md, generated from the manifests (the single source of bounds).

    python -m seedsift.pipeline.docs                # prints the config reference as Markdown
    python -m seedsift.pipeline.docs --write        # rewrites the block in docs/configuration.md
    python -m seedsift.pipeline.docs --write FILE   # rewrites the block in FILE

The block sits between the START and END markers, so the prose around it is written by hand
and only the table is regenerated.
"""

import argparse
import re
import sys
from pathlib import Path

from seedsift import manifests
from seedsift.cli import EXIT_INPUT
from seedsift.errors import InputError

START = "<!-- config-reference:start -->"
END = "<!-- config-reference:end -->"
# Resolved from the package, as the manifests are, so --write works from any directory.
DEFAULT_TARGET = manifests.REPO_ROOT / "docs" / "configuration.md"


def config_reference():
    """Markdown table of every config key: default, allowed values, meaning."""
    rows = ["| key | default | allowed | meaning |", "|---|---|---|---|"]
    for manifest in manifests.load_all().values():
        for name, bound in manifest["parameter_bounds"].items():
            if bound.get("cli_only") or "search_space" in bound:
                continue
            key = manifests.config_key(manifest, name)
            default = bound.get("default")
            default = "null" if default is None else repr(default).replace("'", "")
            desc = bound.get("description", "").replace("|", "\\|")
            rows.append(f"| `{key}` | `{default}` | {manifests.describe(bound)} | {desc} |")
    return "\n".join(rows)


def block_of(text):
    """The config-reference block currently in a Markdown text (None when it has no block)."""
    match = re.search(re.escape(START) + r"\n(.*?)" + re.escape(END), text, re.S)
    return match.group(1).rstrip("\n") if match else None


def update_block(path=DEFAULT_TARGET):
    """Replace the config-reference block of the file at ``path`` with the generated table."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(path, None, f"cannot read: {exc.strerror}") from None
    if block_of(text) is None:
        # A silent no-op would leave the page stale while the command seemed to succeed.
        raise InputError(path, None, f"no {START} ... {END} block to rewrite")
    new = f"{START}\n{config_reference()}\n{END}"
    path.write_text(re.sub(re.escape(START) + r".*?" + re.escape(END), lambda _: new, text, flags=re.S),
                    encoding="utf-8")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m seedsift.pipeline.docs", description=__doc__.splitlines()[0])
    ap.add_argument("--write", nargs="?", const=DEFAULT_TARGET, type=Path, metavar="FILE",
                    help=f"rewrite the block in FILE (default: {DEFAULT_TARGET.relative_to(manifests.REPO_ROOT)})")
    args = ap.parse_args(argv)
    if args.write is None:
        sys.stdout.write(config_reference() + "\n")
        return 0
    try:
        update_block(args.write)
    except InputError as exc:
        print(f"seedsift: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    return 0


if __name__ == "__main__":
    sys.exit(main())
