"""Copies for nodes without the shared project directory (``shared: false`` in the inventory).

Such a node has its own work folder (``workdir:``) laid out as

    <workdir>/code/            the project's code (seedsift/, models/, scripts/, manifests/, ...)
    <workdir>/runs/<key>/      one head working directory (``key`` names the head and its folder):
                               the jobs' declared inputs at their relative paths, and their outputs

The placer copies, over rsync with the same ssh options as every other connection:

1. once per run, the code (only what changed) - see :func:`sync_code`;
2. before a job, the job's declared inputs (``--inputs``; the rule's script is part of the code);
3. after the job succeeded, its declared outputs (``--outputs``; a pattern such as
   ``results/x/best_model.*`` names files whose names the job picks) into
   ``.seedsift-staging/<attempt>/`` on the head, then renames each into place. A job that failed,
   or a copy that broke off, leaves nothing in place.

Nothing else goes either way. The job runs in its run folder, with its command's paths into the
head's checkout pointed at the copy of the code, which the job imports (seedsift.cluster.remote).
"""

import fcntl
import glob
import hashlib
import os
import re
import shlex
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path

from seedsift.cluster.remote import rsync_shell

# What "the project's code" is: everything a job imports or runs, nothing the head alone uses.
CODE_DIRS = ("seedsift", "models", "scripts", "manifests")
CODE_FILES = ("pyproject.toml", "requirements.txt", "requirements.lock")
CODE_EXCLUDES = ("__pycache__/", "*.pyc", ".*")
STAGING_DIR = ".seedsift-staging"
# Packages of requirements.txt that only the head uses (workflow, plots, tests, linters).
HEAD_ONLY = {"snakemake", "snakemake-executor-plugin-slurm", "pytest", "matplotlib", "ruff", "snakefmt"}
IMPORT_NAMES = {"pyyaml": "yaml"}
# rsync exit statuses of a broken connection (ssh's own 255 included).
RSYNC_CONNECTION = {5, 10, 12, 30, 35, 255}
NO_SPACE = "No space left on device"
_PATTERN = re.compile(r"[*?\[]")
_SAFE_PATTERN = re.compile(r"[A-Za-z0-9_./*?-]+\Z")


class StagingError(ValueError):
    """A path the placer cannot copy to or from a node."""


def is_pattern(path):
    """True for an output given as a pattern (``*``, ``?`` or ``[``)."""
    return bool(_PATTERN.search(str(path)))


def head_key(cwd):
    """Name of the head's working directory on a node: host and folder, hashed (16 hex digits)."""
    return hashlib.sha256(f"{socket.gethostname()}\0{os.path.abspath(cwd)}".encode()).hexdigest()[:16]


def node_requirements(repo):
    """[(distribution, module, version)] of requirements.txt that jobs import on a node."""
    out = []
    for line in (Path(repo) / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        m = re.match(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*==\s*([^\s;]+)", line)
        if not m or m.group(1).lower() in HEAD_ONLY:
            continue
        name = m.group(1)
        out.append((name, IMPORT_NAMES.get(name.lower(), name.lower().replace("-", "_")), m.group(3)))
    return out


# Run on the node: one line per problem, exit 3 when there is any.
ENV_CHECK = r"""
import importlib, importlib.metadata, json, os, sys
problems = []
for dist, module, pinned in json.loads(sys.argv[1]):
    try:
        importlib.import_module(module)
    except Exception as exc:
        problems.append(f"cannot import {module} ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})")
        continue
    try:
        have = importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        have = None
    if have is not None and have.split("+")[0] != pinned:
        problems.append(f"{dist} {have} where requirements.txt pins {pinned}")
try:
    import seedsift
    where = os.path.dirname(os.path.dirname(os.path.abspath(seedsift.__file__)))
    if sys.argv[2] and os.path.realpath(where) != os.path.realpath(sys.argv[2]):
        problems.append(f"seedsift is imported from {where}, not from the copied project in {sys.argv[2]}")
except Exception as exc:
    problems.append(f"cannot import seedsift ({type(exc).__name__})")
if problems:
    print(f"python {sys.executable}: " + "; ".join(problems))
    sys.exit(3)
"""


def code_dir(node):
    """The node's copy of the project's code."""
    return Path(node.workdir) / "code"


def run_dir(node, cwd):
    """The node's folder for the head's working directory ``cwd``."""
    return Path(node.workdir) / "runs" / head_key(cwd)


def rsync_base(inv, node):
    """``rsync`` argv up to the paths: the inventory's ssh command, the node's rsync program."""
    argv = ["rsync", "-e", rsync_shell(inv, node)]
    if node.rsync != "rsync":
        argv += ["--rsync-path", node.rsync]
    return argv


def remote(node, path):
    """``destination:path`` of rsync (a trailing slash kept: copy into the folder)."""
    text = str(path)
    return f"{node.destination}:{text}"


def sync_code_argv(inv, node, repo):
    """rsync argv that brings the node's copy of the code up to date (deleting what the head dropped)."""
    argv = rsync_base(inv, node) + ["-rlt", "--delete", "--mkpath"]
    argv += [f"--exclude={e}" for e in CODE_EXCLUDES]
    sources = [str(Path(repo) / d) for d in CODE_DIRS if (Path(repo) / d).is_dir()]
    sources += [str(Path(repo) / f) for f in CODE_FILES if (Path(repo) / f).is_file()]
    return argv + sources + [remote(node, str(code_dir(node)) + "/")]


def sync_kernel_cache_argv(inv, node, repo):
    """rsync argv that gives the node the head's compiled numba kernels (``__pycache__/*.nbi``,
    ``*.nbc``), so that a node with the head's CPU does not compile them again.

    Numba keys each entry by the source file's time and size (which the code copy keeps) and by
    the CPU; a node with another CPU adds its own entries, which ``--update`` keeps as long as
    they are newer than the head's.
    """
    argv = rsync_base(inv, node) + ["-rlt", "--update", "--prune-empty-dirs", "--mkpath",
                                    "--include=*/", "--include=__pycache__/*.nbi", "--include=__pycache__/*.nbc",
                                    "--exclude=*"]
    sources = [str(Path(repo) / d) for d in CODE_DIRS if (Path(repo) / d).is_dir()]
    return argv + sources + [remote(node, str(code_dir(node)) + "/")]


@dataclass
class Stage:
    """One job's copies to and from one node."""

    inv: object
    node: object
    repo: Path
    cwd: Path
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)

    def __post_init__(self):
        self.repo = Path(self.repo).resolve()
        self.cwd = Path(self.cwd).resolve()
        self.code_dir = code_dir(self.node)
        self.run_dir = run_dir(self.node, self.cwd)
        self.relative_inputs, self.absolute_inputs = [], []
        for item in self.inputs:
            where, path = self._classify(item)
            if where == "relative":
                self.relative_inputs.append(path)
            elif where == "absolute":
                self.absolute_inputs.append(path)
        self.files, self.patterns = [], []
        for item in self.outputs:
            where, path = self._classify(item, output=True)
            if where != "relative":
                raise StagingError(f"output {item!r} is outside the working directory {self.cwd}: "
                                   "a node's copy cannot be brought back there")
            (self.patterns if is_pattern(path) else self.files).append(path)
        for pattern in self.patterns:
            if not _SAFE_PATTERN.match(pattern) or is_pattern(os.path.dirname(pattern)):
                raise StagingError(f"output pattern {pattern!r}: only the file name may hold * ? and the path only "
                                   "letters, digits and _ . / -")

    def _classify(self, item, output=False):
        # "code": a file of the project's code in the checkout (copied with the code); "relative":
        # under the working directory; "absolute": anywhere else (copied under _abs/).
        where, path = self._where(str(item) if os.path.isabs(str(item)) else str(self.cwd / str(item)))
        if output and where == "code":
            where, path = "absolute", os.path.normpath(str(self.cwd / str(item)))
        return where, path

    def _where(self, absolute):
        norm = os.path.normpath(absolute)
        repo, cwd = str(self.repo), str(self.cwd)
        if norm.startswith(repo + os.sep):
            rel = os.path.relpath(norm, repo)
            top = rel.split(os.sep, 1)[0]
            if top in CODE_DIRS or top in CODE_FILES:
                return "code", rel
        if norm.startswith(cwd + os.sep):
            return "relative", os.path.relpath(norm, cwd)
        return "absolute", norm

    def node_path(self, arg):
        """An argument of the job's command as the node sees it: paths into the checkout's code
        point at the copy of the code, absolute paths under the working directory into the run
        folder, and declared absolute inputs at their copies; anything else is left alone."""
        text = str(arg)
        if not os.path.isabs(text):
            return text
        where, path = self._where(text)
        if where == "code":
            return str(self.code_dir / path)
        if where == "relative":
            return str(self.run_dir / path)
        if path in self.absolute_inputs:
            return str(self.run_dir / "_abs" / path.lstrip("/"))
        return text

    def node_command(self, command):
        """The job's command with its paths into the checkout and the head's folders mapped."""
        return [self.node_path(a) for a in command]

    def prepare_outputs_shell(self):
        """Shell lines run in the run folder before the job: clear old outputs, make their folders."""
        q = shlex.quote
        lines = []
        if self.files:
            lines.append("rm -f -- " + " ".join(q(f) for f in self.files))
        # Patterns were checked to hold only safe characters; the shell expands them here.
        for pattern in self.patterns:
            lines.append(f"rm -f -- {pattern}")
        folders = sorted({os.path.dirname(p) for p in self.files + self.patterns} - {""})
        if folders:
            lines.append("mkdir -p -- " + " ".join(q(d) for d in folders))
        return lines

    # ------------------------------------------------------------------ copies

    def upload_argvs(self, list_dir):
        """rsync argvs that copy the inputs to the node (file lists written into ``list_dir``)."""
        argvs = []
        dest = str(self.run_dir) + "/"
        if self.relative_inputs:
            listing = Path(list_dir) / "inputs.txt"
            listing.write_text("".join(f"{p}\n" for p in self.relative_inputs), encoding="utf-8")
            argvs.append(rsync_base(self.inv, self.node) + ["-rlt", "--mkpath", f"--files-from={listing}", str(self.cwd) + "/",
                                                            remote(self.node, dest)])
        if self.absolute_inputs:
            listing = Path(list_dir) / "absolute_inputs.txt"
            listing.write_text("".join(f"{p.lstrip('/')}\n" for p in self.absolute_inputs), encoding="utf-8")
            argvs.append(rsync_base(self.inv, self.node) + ["-rlt", "--mkpath", f"--files-from={listing}", "/",
                                                            remote(self.node, dest + "_abs/")])
        return argvs

    def download_argv(self, into):
        """rsync argv that copies the declared outputs (and the pattern's matches) into ``into``.

        Times are not kept: the head's copy is newer than the inputs it was made from, whatever
        the node's clock says.
        """
        rules = []
        for path in self.files + self.patterns:
            parts = path.split("/")
            for i in range(1, len(parts)):
                rules.append("+ /" + "/".join(parts[:i]) + "/")
            rules.append("+ /" + path)
        rules.append("- *")
        filters = Path(into).parent / f"{Path(into).name}.filter"
        filters.write_text("".join(f"{r}\n" for r in dict.fromkeys(rules)), encoding="utf-8")
        return rsync_base(self.inv, self.node) + ["-rl", "--mkpath", f"--filter=merge {filters}",
                                                  remote(self.node, str(self.run_dir) + "/"), str(into) + "/"]

    def commit(self, staged):
        """Rename the copies in ``staged`` into place; returns the paths put in place.

        A pattern's files replace every head file the pattern matched, so a file the job removed
        on the node (another model type's artifact) goes on the head too.
        """
        staged = Path(staged)
        placed = []
        for pattern in self.patterns:
            fresh = {os.path.relpath(p, staged) for p in glob.glob(str(staged / pattern))}
            for old in glob.glob(str(self.cwd / pattern)):
                if os.path.relpath(old, self.cwd) not in fresh:
                    os.unlink(old)
            for rel in sorted(fresh):
                placed.append(self._put(staged, rel))
        for rel in self.files:
            if os.path.lexists(staged / rel):
                placed.append(self._put(staged, rel))
        return placed

    def _put(self, staged, rel):
        target = self.cwd / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        os.replace(staged / rel, target)
        return target


# --------------------------------------------------------------------------- the head's temporary copies


class StagingArea:
    """``.seedsift-staging/<name>/`` on the head: copies of one attempt's outputs, locked while in use."""

    def __init__(self, cwd, name):
        self.root = Path(cwd) / STAGING_DIR / name
        self.root.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        self.outputs = self.root / "outputs"

    def close(self):
        """Remove the folder (whatever is in it was either renamed into place or is not wanted)."""
        shutil.rmtree(self.root, ignore_errors=True)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def clean_stale_staging(cwd):
    """Remove staging folders whose placer is gone (killed mid-copy); returns how many."""
    removed = 0
    for folder in (Path(cwd) / STAGING_DIR).glob("*"):
        lock = folder / ".lock"
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        shutil.rmtree(folder, ignore_errors=True)
        os.close(fd)
        removed += 1
    return removed


def rsync_failure(status, text):
    """What an rsync exit status and its error output mean: ok, disk_full, connection or error."""
    if status == 0:
        return "ok"
    if NO_SPACE in (text or ""):
        return "disk_full"
    if status in RSYNC_CONNECTION:
        return "connection"
    return "error"
