"""Snakemake resources per GPU kind, derived from the node inventory (written once, there).

A job may run on the nodes of some GPU kinds: its job type's kinds from the inventory's
``job_types`` (all kinds when the type is not listed). A job type may name several types at
once, ``neural_net,xgboost``: a job that loads every one of those backends needs a kind that
all of them may use. The set of kinds a job may use is its *class*, and every class is one
Snakemake resource whose limit is the number of job slots on the nodes of those kinds:

* ``gpu_slots``: every kind of the inventory (sieve shards, scoring chunks, neural-net folds);
* ``gpu_<kind>``, e.g. ``gpu_cuda``: one kind (the tree models' folds, ``select_model``);
* ``gpu_<kind>_<kind>``: any other combination a job type names.

A job takes one unit of its own class and none of the others. So Snakemake starts a CUDA-only
job only while fewer CUDA-only jobs run than there are CUDA slots, and never lets CUDA-only jobs
take the units the other jobs need to fill the ROCm rigs: a placer that has to wait for a slot
holds only a unit no job of another class could have used. The cluster profile gets the limits
from :func:`limits_from_environment`, the rules get each job's request from :func:`rule_resources`;
both read the inventory named by ``SEEDSIFT_NODES``.
"""

import os
from pathlib import Path

from seedsift.cluster.inventory import GPU_KINDS

ENV_NODES = "SEEDSIFT_NODES"
ENV_SSH_CONFIG = "SEEDSIFT_SSH_CONFIG"
ALL_KINDS = "gpu_slots"
# Head cores assumed per placed job when the cluster profile sizes `cores` (select_model's threads).
THREADS_PER_PLACED_JOB = 2


class JobTypeError(ValueError):
    """A job type that no node of the inventory may run."""


def present_kinds(inv):
    """GPU kinds that have at least one node, in the order of GPU_KINDS."""
    have = {n.gpu_kind for n in inv.nodes}
    return tuple(k for k in GPU_KINDS if k in have)


def split_job_type(job_type):
    """The single types of a job type: ``"a,b"`` -> ``("a", "b")``; None or "" -> ()."""
    if job_type is None:
        return ()
    if isinstance(job_type, (list, tuple)):
        job_type = ",".join(str(t) for t in job_type)
    return tuple(t for t in str(job_type).split(",") if t)


def job_kinds(inv, job_type=None, require=()):
    """GPU kinds present in ``inv`` that may run ``job_type`` and satisfy ``require``."""
    kinds = set(present_kinds(inv))
    for single in split_job_type(job_type):
        if single in inv.job_types:
            kinds &= set(inv.job_types[single])
    if require:
        kinds &= set(require)
    return tuple(k for k in GPU_KINDS if k in kinds)


def resource_name(inv, kinds):
    """The Snakemake resource of the class ``kinds``."""
    kinds = tuple(k for k in GPU_KINDS if k in set(kinds))
    if not kinds:
        raise JobTypeError("an empty set of GPU kinds has no resource")
    if set(kinds) == set(present_kinds(inv)):
        return ALL_KINDS
    return "gpu_" + "_".join(kinds)


def classes(inv):
    """{resource name: kinds} of every class a job of this inventory can have."""
    present = present_kinds(inv)
    candidates = [present] + [(k,) for k in present]
    for kinds in inv.job_types.values():
        candidates.append(tuple(k for k in present if k in kinds))
    out = {}
    for kinds in candidates:
        if kinds:
            out.setdefault(resource_name(inv, kinds), kinds)
    return out


def limits(inv):
    """{resource name: job slots} for the profile's ``resources:``; sorted by name."""
    out = {}
    for name, kinds in classes(inv).items():
        out[name] = sum(n.concurrency for n in inv.nodes if n.gpu_kind in kinds)
    return dict(sorted(out.items()))


def request(inv, job_type=None, require=()):
    """{resource name: 1}: what one job of ``job_type`` takes; JobTypeError when no node may run it."""
    kinds = job_kinds(inv, job_type, require)
    if not kinds:
        wanted = {t: ",".join(inv.job_types[t]) for t in split_job_type(job_type) if t in inv.job_types}
        have = ", ".join(f"{n.name}={n.gpu_kind}" for n in inv.nodes)
        raise JobTypeError(
            f"{inv.source}: no node may run job type {','.join(split_job_type(job_type)) or '-'!r} "
            f"(job_types: {wanted or 'any kind'}; --require {','.join(require) or '-'}); nodes: {have}"
        )
    return {resource_name(inv, kinds): 1}


# --------------------------------------------------------------------------- from the environment

_CACHE = {}
PROFILE_INVENTORY = Path("profiles") / "cluster" / "nodes.yaml"


def point_at_inventory(environ=None, cwd=None):
    """What the cluster profile does first: make ``SEEDSIFT_NODES`` (and ``SEEDSIFT_SSH_CONFIG``)
    absolute paths that every job sees. Unset, the inventory is ``profiles/cluster/nodes.yaml``
    of the directory snakemake starts in (the repository root), or else that of this checkout."""
    environ = os.environ if environ is None else environ
    cwd = Path(cwd or os.getcwd())
    given = environ.get(ENV_NODES, "").strip()
    if given:
        path = cwd / given
    elif (cwd / PROFILE_INVENTORY).is_file():
        path = cwd / PROFILE_INVENTORY
    else:
        from seedsift.manifests import REPO_ROOT

        path = REPO_ROOT / PROFILE_INVENTORY
    environ[ENV_NODES] = os.path.abspath(path)
    if environ.get(ENV_SSH_CONFIG, "").strip():
        environ[ENV_SSH_CONFIG] = os.path.abspath(cwd / environ[ENV_SSH_CONFIG].strip())
    return environ[ENV_NODES]


def inventory_from_environment(environ=None):
    """The inventory named by ``SEEDSIFT_NODES`` (None when unset or empty); read once per process."""
    from seedsift.cluster import inventory

    environ = os.environ if environ is None else environ
    path = environ.get(ENV_NODES, "").strip()
    if not path:
        return None
    override = environ.get(ENV_SSH_CONFIG, "").strip() or None
    key = (os.path.abspath(path), override)
    if key not in _CACHE:
        _CACHE[key] = inventory.load(path, ssh_config_override=override)
    return _CACHE[key]


def limits_from_environment(environ=None):
    """The profile's ``resources:``: the class limits of the named inventory ({} without one)."""
    inv = inventory_from_environment(environ)
    return limits(inv) if inv is not None else {}


def cores_for(inv, cpu_count):
    """``cores`` under ``inv``: the head's ``cpu_count`` plus room for every placed job's threads."""
    return cpu_count + THREADS_PER_PLACED_JOB * sum(n.concurrency for n in inv.nodes)


def head_cores(environ=None, cpu_count=None):
    """``cores`` for a run: ``"all"`` without an inventory; with one, :func:`cores_for`, so that the
    head's core count never caps how many nodes work (placed training jobs count their threads)."""
    inv = inventory_from_environment(environ)
    if inv is None:
        return "all"
    return cores_for(inv, cpu_count or os.cpu_count() or 1)


def rule_resources(job_type, environ=None):
    """``resources:`` of a placed rule: its job type and one unit of its class.

    ``job_type`` is a type, a list of types (a job that loads several backends) or a pattern with
    wildcards such as ``"{model_type}"``. The rule passes ``--job-type {resources.job_type}`` to
    the placer, so the type is written once. Without an inventory only ``job_type`` is set.
    """
    template = ",".join(split_job_type(job_type))

    def job_type_of(wildcards):
        return template.format(**dict(wildcards.items())) if "{" in template else template

    resources = {"job_type": job_type_of}
    inv = inventory_from_environment(environ)
    if inv is None:
        return resources
    for name in classes(inv):
        resources[name] = _unit(inv, job_type_of, name)
    return resources


def _unit(inv, job_type_of, name):
    def unit(wildcards):
        return int(name in request(inv, job_type_of(wildcards)))

    return unit
