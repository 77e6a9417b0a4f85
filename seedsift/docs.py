"""Reference tables for the README, generated from the manifests (the single source of bounds).

    python -m seedsift.docs   # prints the config reference as Markdown
"""

import sys

from seedsift import manifests


def config_reference():
    """Markdown table of every config key: default, allowed values, meaning."""
    rows = ["| key | default | allowed | meaning |", "|---|---|---|---|"]
    for stem, manifest in manifests.load_all().items():
        for name, bound in manifest["parameter_bounds"].items():
            if bound.get("cli_only") or "search_space" in bound:
                continue
            key = manifests.config_key(manifest, name)
            default = bound.get("default")
            default = "null" if default is None else repr(default).replace("'", "")
            desc = bound.get("description", "").replace("|", "\\|")
            rows.append(f"| `{key}` | `{default}` | {manifests.describe(bound)} | {desc} |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.stdout.write(config_reference() + "\n")
