"""The node inventory of the cluster profile (``profiles/cluster/nodes.yaml``), read and validated.

An inventory lists the machines that run the remote rules' commands: per node how to reach it
(an SSH alias, or host/port/user, or ``local: true`` for the head node itself), its GPU kind and
slots, how to activate the project's Python there, its working directory, how many jobs it runs
at once and how far apart their starts are. ``job_types`` says which GPU kinds may run which job
types. Every problem is one :class:`~seedsift.errors.InputError` naming the file, the key and the
allowed values.
"""

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from seedsift.errors import InputError

GPU_KINDS = ("cuda", "rocm", "none")

# Variable that selects the GPU of a job, per GPU kind (ROCm nodes also get ROCR_VISIBLE_DEVICES, remote.py).
GPU_VARIABLE = {"cuda": "CUDA_VISIBLE_DEVICES", "rocm": "HIP_VISIBLE_DEVICES", "none": None}

# ssh options every connection gets; a node never asks for a password or accepts an unknown host key.
FORCED_SSH_OPTIONS = {"BatchMode": "yes", "StrictHostKeyChecking": "yes"}

# Defaults for ssh options an inventory may change: a dead node is noticed within a minute.
DEFAULT_SSH_OPTIONS = {
    "ConnectTimeout": "10",
    "ServerAliveInterval": "15",
    "ServerAliveCountMax": "4",
    "LogLevel": "ERROR",
}

NODE_KEYS = {
    "ssh": "an ssh destination or alias from the ssh config",
    "host": "a host name or address",
    "port": "a TCP port",
    "user": "a login name",
    "local": "true to run on the head node itself, without ssh",
    "gpu_kind": "one of cuda, rocm, none",
    "gpus": "a list of GPU ids",
    "max_jobs": "an integer >= 1",
    "stagger_s": "a number of seconds >= 0",
    "workdir": "an absolute path, or null for the head's working directory",
    "venv": "an absolute path of a virtual environment",
    "path": "a list of absolute directories put first on PATH",
    "env": "a mapping of variable names to values",
    "setup": "shell text run before the job (e.g. module load ...)",
}
TOP_KEYS = ("nodes", "defaults", "ssh_config", "ssh_options", "dead_ttl_s", "job_types")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Variables the placer sets itself; an inventory must not shadow them.
_RESERVED = {"SEEDSIFT_NODE", "SEEDSIFT_GPU", "SEEDSIFT_GPU_KIND", "CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES",
             "ROCR_VISIBLE_DEVICES"}


@dataclass(frozen=True)
class Node:
    """One machine of the inventory."""

    name: str
    destination: str = ""
    port: int | None = None
    user: str | None = None
    local: bool = False
    gpu_kind: str = "none"
    gpus: tuple = ()
    max_jobs: int = 1
    stagger_s: float = 0.0
    workdir: str | None = None
    venv: str | None = None
    path: tuple = ()
    env: tuple = ()
    setup: str | None = None

    @property
    def slots(self):
        """Slot names a job can take: the GPU ids, or ``cpu0..`` on a node without GPUs."""
        if self.gpus:
            return self.gpus
        return tuple(f"cpu{i}" for i in range(self.max_jobs))

    @property
    def concurrency(self):
        """Jobs the node runs at once: ``max_jobs``, never more than one per GPU."""
        return min(self.max_jobs, len(self.slots))


@dataclass(frozen=True)
class Inventory:
    """A validated inventory; paths in it are absolute."""

    source: str
    nodes: tuple
    ssh_config: str | None = None
    ssh_options: tuple = ()
    dead_ttl_s: float = 300.0
    job_types: dict = field(default_factory=dict)

    def node(self, name):
        """The node called ``name``."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise InputError(self.source, "nodes", f"no node named {name!r}; nodes: {', '.join(n.name for n in self.nodes)}")

    def eligible(self, job_type=None, require=()):
        """Nodes that may run a job of ``job_type`` needing one of the GPU kinds ``require``."""
        kinds = set(GPU_KINDS)
        if job_type is not None and job_type in self.job_types:
            kinds &= set(self.job_types[job_type])
        if require:
            kinds &= set(require)
        return [n for n in self.nodes if n.gpu_kind in kinds]


def _fail(source, where, problem):
    raise InputError(source, where, problem)


def _number(source, where, value, lo, integer=False):
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)) or value < lo:
        _fail(source, where, f"value {value!r} is invalid; allowed: {'an integer' if integer else 'a number'} >= {lo}")
    return value


def _string(source, where, value):
    if not isinstance(value, str) or not value:
        _fail(source, where, f"value {value!r} is invalid; allowed: a non-empty string")
    return value


def _absolute(source, where, value):
    value = _string(source, where, value)
    if not os.path.isabs(value):
        _fail(source, where, f"path {value!r} is not absolute; nodes do not share the head's relative paths")
    return value


def _node(source, name, spec):
    where = f"nodes.{name}"
    if not _NAME.match(str(name)):
        _fail(source, where, "node names are letters, digits, '_', '.', '-' (they name lock files)")
    if not isinstance(spec, dict):
        _fail(source, where, f"value {spec!r} is invalid; allowed: a mapping of {', '.join(NODE_KEYS)}")
    unknown = sorted(set(spec) - set(NODE_KEYS))
    if unknown:
        _fail(source, f"{where}.{unknown[0]}", f"unknown key; allowed: {', '.join(NODE_KEYS)}")
    kw = {"name": str(name)}
    local = spec.get("local", False)
    if not isinstance(local, bool):
        _fail(source, f"{where}.local", f"value {local!r} is invalid; allowed: true or false")
    kw["local"] = local
    reach = [k for k in ("ssh", "host") if spec.get(k) is not None]
    if local and reach:
        _fail(source, f"{where}.{reach[0]}", "a local node is not reached over ssh; drop this key or local: true")
    if not local:
        if len(reach) != 1:
            _fail(source, where, "give exactly one of ssh (an alias) or host (with optional port and user)")
        kw["destination"] = _string(source, f"{where}.{reach[0]}", spec[reach[0]])
        if kw["destination"].startswith("-"):
            _fail(source, f"{where}.{reach[0]}", f"value {kw['destination']!r} is invalid; a destination cannot start with '-'")
        if spec.get("port") is not None:
            kw["port"] = _number(source, f"{where}.port", spec["port"], 1, integer=True)
        if spec.get("user") is not None:
            kw["user"] = _string(source, f"{where}.user", spec["user"])
            if kw["user"].startswith("-"):
                _fail(source, f"{where}.user", f"value {kw['user']!r} is invalid; a login name cannot start with '-'")
    kind = spec.get("gpu_kind", "none")
    if kind not in GPU_KINDS:
        _fail(source, f"{where}.gpu_kind", f"value {kind!r} is invalid; allowed: {', '.join(GPU_KINDS)}")
    kw["gpu_kind"] = kind
    gpus = spec.get("gpus") or []
    if not isinstance(gpus, list) or any(isinstance(g, bool) or not isinstance(g, (int, str)) or str(g) == "" for g in gpus):
        _fail(source, f"{where}.gpus", f"value {gpus!r} is invalid; allowed: a list of GPU ids such as [0, 1]")
    gpus = tuple(str(g) for g in gpus)
    if len(set(gpus)) != len(gpus):
        _fail(source, f"{where}.gpus", f"value {list(gpus)!r} repeats a GPU id")
    if any(not _NAME.match(g) for g in gpus):
        _fail(source, f"{where}.gpus", "GPU ids are letters, digits, '_', '.', '-' (they name lock files)")
    if kind == "none" and gpus:
        _fail(source, f"{where}.gpus", "a node with gpu_kind none has no GPU ids; set gpu_kind to cuda or rocm")
    if kind != "none" and not gpus:
        _fail(source, f"{where}.gpus", f"a {kind} node needs its GPU ids, e.g. gpus: [0, 1]")
    kw["gpus"] = gpus
    kw["max_jobs"] = _number(source, f"{where}.max_jobs", spec.get("max_jobs", 1), 1, integer=True)
    kw["stagger_s"] = float(_number(source, f"{where}.stagger_s", spec.get("stagger_s", 0), 0))
    for key in ("workdir", "venv"):
        if spec.get(key) is not None:
            kw[key] = _absolute(source, f"{where}.{key}", spec[key])
    path = spec.get("path") or []
    if not isinstance(path, list):
        _fail(source, f"{where}.path", f"value {path!r} is invalid; allowed: {NODE_KEYS['path']}")
    kw["path"] = tuple(_absolute(source, f"{where}.path", p) for p in path)
    env = spec.get("env") or {}
    if not isinstance(env, dict):
        _fail(source, f"{where}.env", f"value {env!r} is invalid; allowed: {NODE_KEYS['env']}")
    pairs = []
    for key, value in env.items():
        if not isinstance(key, str) or not _VARIABLE.match(key) or key in _RESERVED:
            _fail(source, f"{where}.env.{key}", f"not a variable the inventory may set (reserved: {', '.join(sorted(_RESERVED))})")
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            _fail(source, f"{where}.env.{key}", f"value {value!r} is invalid; allowed: a string or number")
        pairs.append((key, str(value)))
    kw["env"] = tuple(pairs)
    if spec.get("setup") is not None:
        if local:
            _fail(source, f"{where}.setup", "a local node runs its job without a shell; use venv, path and env")
        kw["setup"] = _string(source, f"{where}.setup", spec["setup"])
    return Node(**kw)


def parse(data, source="<inventory>", base_dir=None, ssh_config_override=None):
    """Validate an inventory mapping; ``base_dir`` anchors a relative ``ssh_config``."""
    if not isinstance(data, dict):
        _fail(source, "", f"an inventory is a mapping with keys {', '.join(TOP_KEYS)}")
    unknown = sorted(set(data) - set(TOP_KEYS))
    if unknown:
        _fail(source, unknown[0], f"unknown key; allowed: {', '.join(TOP_KEYS)}")
    nodes = data.get("nodes")
    if not isinstance(nodes, dict) or not nodes:
        _fail(source, "nodes", "the inventory needs at least one node under 'nodes'")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        _fail(source, "defaults", f"value {defaults!r} is invalid; allowed: a mapping of node keys")
    bad = sorted(set(defaults) - set(NODE_KEYS))
    if bad:
        _fail(source, f"defaults.{bad[0]}", f"unknown key; allowed: {', '.join(NODE_KEYS)}")
    parsed = tuple(_node(source, name, {**defaults, **(spec or {})}) for name, spec in nodes.items())

    ssh_config = ssh_config_override or data.get("ssh_config")
    if ssh_config is not None:
        ssh_config = os.path.expanduser(_string(source, "ssh_config", ssh_config))
        if not os.path.isabs(ssh_config) and not ssh_config_override:
            ssh_config = str(Path(base_dir or ".") / ssh_config)
        ssh_config = os.path.abspath(ssh_config)
        if not os.path.isfile(ssh_config):
            _fail(source, "ssh_config", f"ssh config {ssh_config!r} does not exist")

    options = dict(DEFAULT_SSH_OPTIONS)
    given = data.get("ssh_options") or {}
    if not isinstance(given, dict):
        _fail(source, "ssh_options", f"value {given!r} is invalid; allowed: a mapping of ssh -o options")
    for key, value in given.items():
        if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z]+", key):
            _fail(source, f"ssh_options.{key}", "not an ssh option name")
        if key in FORCED_SSH_OPTIONS:
            _fail(source, f"ssh_options.{key}", f"always {FORCED_SSH_OPTIONS[key]}: jobs never prompt and host keys are checked")
        if isinstance(value, bool):
            value = "yes" if value else "no"
        if not isinstance(value, (str, int, float)) or "\n" in str(value):
            _fail(source, f"ssh_options.{key}", f"value {value!r} is invalid; allowed: a string or number")
        options[key] = str(value)
    options.update(FORCED_SSH_OPTIONS)

    ttl = float(_number(source, "dead_ttl_s", data.get("dead_ttl_s", 300), 0))

    job_types = data.get("job_types") or {}
    if not isinstance(job_types, dict):
        _fail(source, "job_types", f"value {job_types!r} is invalid; allowed: a mapping of job type to GPU kinds")
    checked = {}
    for jtype, kinds in job_types.items():
        if not isinstance(kinds, list) or not kinds or any(k not in GPU_KINDS for k in kinds):
            _fail(source, f"job_types.{jtype}", f"value {kinds!r} is invalid; allowed: a list of {', '.join(GPU_KINDS)}")
        checked[str(jtype)] = tuple(kinds)
    return Inventory(
        source=source, nodes=parsed, ssh_config=ssh_config, ssh_options=tuple(sorted(options.items())),
        dead_ttl_s=ttl, job_types=checked,
    )


def load(path, ssh_config_override=None):
    """Read and validate the inventory file at ``path``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(path, "", "node inventory does not exist (set SEEDSIFT_NODES to an inventory file)") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else ""
        raise InputError(path, where, f"invalid YAML ({getattr(exc, 'problem', None) or exc})") from None
    return parse(data, source=str(path), base_dir=path.resolve().parent, ssh_config_override=ssh_config_override)
