"""agent_metadata: the lineage block every JSON output of the pipeline carries (seed Addendum F).

run_id is content-addressed: a hash of the step, its parameters and its inputs' sha256, so the
same inputs give the same run_id and a changed input gives a new one; parent_run_id is the
run_id found in the agent_metadata of the input this step consumed.

The block holds no clock time, host or GPU slot: equal inputs give equal files, byte for byte.
When and where a job ran is in its log, its benchmark file and, under the cluster profile,
the run manifest (results/cluster/run_manifest.json).
"""

import hashlib
import json
from pathlib import Path

from seedsift import manifests
from seedsift.jsonio import sha256_file


def step_of(manifest_name, step=None):
    """(pipeline_step, pipeline_step_name) of a manifest, or of one of the seed steps it covers.

    A stage's manifest may cover several of the seed's steps (see ``manifests.steps``); ``step``
    picks one of them, by default the first.
    """
    steps = manifests.steps(manifests.load(manifest_name))
    if step is None:
        step = next(iter(steps))
    if step not in steps:
        raise ValueError(f"manifests/{manifest_name}.json covers steps {sorted(steps)}, not {step}")
    return step, steps[step]["name"]


def input_entries(paths):
    """[{file, sha256}] for the inputs that exist."""
    return [{"file": str(p), "sha256": sha256_file(p)} for p in paths if p is not None and Path(p).is_file()]


def run_id_of(step, params, inputs):
    """Content-addressed run id: step{N}_<12 hex digits>."""
    key = json.dumps({"step": step, "params": params, "inputs": [i["sha256"] for i in inputs]}, sort_keys=True)
    return f"step{step}_{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def parent_run_id_of(document):
    """run_id recorded in a parent output's agent_metadata (None if it has none)."""
    if isinstance(document, dict):
        meta = document.get("agent_metadata")
        if isinstance(meta, dict):
            return meta.get("run_id")
    return None


def success_criteria(manifest_name, measured):
    """Evaluate the manifest's success_metrics against measured values.

    ``min_*`` metrics need value >= bound, ``max_*`` value <= bound, any other value equality.
    Returns (all_met, {metric: {bound, value, met}}); metrics without a measured value are skipped.
    """
    details = {}
    for metric, bound in manifests.load(manifest_name).get("success_metrics", {}).items():
        if metric not in measured:
            continue
        value = measured[metric]
        if metric.startswith("min_"):
            met = value is not None and value >= bound
        elif metric.startswith("max_"):
            met = value is not None and value <= bound
        else:
            met = value == bound
        details[metric] = {"bound": bound, "value": value, "met": bool(met)}
    return all(d["met"] for d in details.values()), details


def agent_metadata(manifest_name, *, inputs, outputs, parent_run_id, params=None, measured=None,
                   success_criteria_met=None, confidence=None, run_id=None, step=None):
    """The agent_metadata block for an output of the step described by ``manifest_name``.

    ``step`` names the seed step when the stage's manifest covers several. With ``measured``
    values, success_criteria_met is evaluated against the manifest.
    """
    step, name = step_of(manifest_name, step)
    entries = input_entries(inputs)
    details = None
    if measured is not None:
        success_criteria_met, details = success_criteria(manifest_name, measured)
    return {
        "pipeline_step": step,
        "pipeline_step_name": name,
        "run_id": run_id or run_id_of(step, params, entries),
        "parent_run_id": parent_run_id,
        "inputs": entries,
        "outputs": [str(o) for o in outputs],
        "success_criteria_met": success_criteria_met,
        "success_criteria": details,
        "confidence": confidence,
    }


def parent_run_id_from(path):
    """run_id in the agent_metadata of a JSON file (None when it has none)."""
    from seedsift.jsonio import read_json

    return parent_run_id_of(read_json(path))
