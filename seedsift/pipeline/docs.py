"""Reference tables for the README, generated from the manifests (the single source of bounds).

    python -m seedsift.pipeline.docs            # prints the config reference as Markdown
    python -m seedsift.pipeline.docs README.md  # rewrites the README's config-reference block
"""

import re
import sys
from pathlib import Path

from seedsift import manifests


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


START = "<!-- config-reference:start -->"
END = "<!-- config-reference:end -->"


def readme_block(text):
    """The config-reference block currently in a README text."""
    match = re.search(re.escape(START) + r"\n(.*?)" + re.escape(END), text, re.S)
    return match.group(1).rstrip("\n") if match else None


def update_readme(path):
    """Replace the README's config-reference block with the generated table."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    new = f"{START}\n{config_reference()}\n{END}"
    path.write_text(re.sub(re.escape(START) + r".*?" + re.escape(END), lambda _: new, text, flags=re.S),
                    encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        update_readme(sys.argv[1])
    else:
        sys.stdout.write(config_reference() + "\n")
