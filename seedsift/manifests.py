"""Stage manifests (the seed's agent-manifest format): the one place where bounds are written.

One manifest per stage: ``manifests/<stage>.json`` goes with ``rules/<stage>.smk``,
``seedsift/<stage>/`` and ``results/<stage>/``; ``agent_name`` is the seed's name for it. A
stage that covers several of the seed's steps lists them in ``pipeline_steps``. Each manifest
has ``config_section`` (a top-level config key, or null for top-level keys) and
``parameter_bounds``; a parameter's config key is ``section.name``. A bound flagged
``"cli_only": true`` is a command-line option of the step's script, not a config key; one
with ``"search_space": MODEL_TYPE`` is a hyper-parameter range that trials sample from.
"""

import json
from functools import lru_cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
MANIFEST_DIR = REPO_ROOT / "manifests"


@lru_cache(maxsize=None)
def load_all(directory=MANIFEST_DIR):
    """Every step manifest in ``directory`` keyed by file stem (feature_registry excluded)."""
    manifests = {}
    for path in sorted(Path(directory).glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if "parameter_bounds" in data:
            manifests[path.stem] = data
    return manifests


def load(name, directory=MANIFEST_DIR):
    """One manifest by file stem."""
    return load_all(directory)[name]


def steps(manifest):
    """{step number: {"name", "rules"}} of the seed's steps a stage's manifest covers, in order.

    A manifest of one step has no ``pipeline_steps``: its step is ``pipeline_step`` with the
    manifest's own name and rules.
    """
    if "pipeline_steps" in manifest:
        return {int(k): v for k, v in sorted(manifest["pipeline_steps"].items(), key=lambda kv: int(kv[0]))}
    return {manifest["pipeline_step"]: {"name": manifest["pipeline_step_name"], "rules": manifest["rules"]}}


def config_key(manifest, name):
    """Dotted config key of parameter ``name`` of ``manifest``."""
    section = manifest.get("config_section")
    return f"{section}.{name}" if section else name


def config_bounds(directory=MANIFEST_DIR):
    """Dotted config key -> (manifest stem, bound) for every config parameter of every step."""
    bounds = {}
    for stem, manifest in load_all(directory).items():
        for name, bound in manifest["parameter_bounds"].items():
            if not bound.get("cli_only") and "search_space" not in bound:
                bounds[config_key(manifest, name)] = (stem, bound)
    return bounds


def describe(bound):
    """Human-readable allowed range of a bound, used in every error message."""
    kind = bound["type"]
    if kind == "categorical":
        return f"one of {bound['choices']}"
    if kind == "list":
        item = bound.get("items", {})
        extra = f" each {describe(item)}" if item else ""
        size = f", {bound['min_items']} or more items" if "min_items" in bound else ""
        return f"a list{extra}{size}"
    if kind in ("int", "float"):
        lo, hi = bound.get("min"), bound.get("max")
        name = "an integer" if kind == "int" else "a number"
        if lo is not None and hi is not None:
            return f"{name} in [{lo}, {hi}]"
        if lo is not None:
            return f"{name} >= {lo}"
        return name
    if kind == "bool":
        return "true or false"
    if kind == "string":
        return "a string" + (f" ({bound['format']})" if "format" in bound else "")
    return kind
