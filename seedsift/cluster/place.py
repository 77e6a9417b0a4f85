"""Placer in front of every remote rule's command: ``python -m seedsift.cluster.place [options] -- CMD ...``.

Without a node inventory (``SEEDSIFT_NODES`` unset or empty, the default of local runs) it
replaces itself with ``CMD``, so the rule text is the same under every profile and switching
profiles never reruns a job. With an inventory (the cluster profile sets ``SEEDSIFT_NODES``) it

1. takes a free (node, GPU slot) of a GPU kind the job's type may use: a non-blocking ``flock``
   on a per-node job token (at most ``max_jobs`` per node) and on the node's next free GPU, in
   rotation, under the lock directory (``.nodelocks/`` in the working directory, or
   ``SEEDSIFT_LOCKDIR``). With no slot free it sleeps until one is released (no polling) and
   leaves a slot to a waiting job that has fewer kinds to choose from (seedsift.cluster.locks);
2. once per run and node, checks the node's Python environment (the requirements importable at
   their pinned versions) and, on a node with ``shared: false``, copies the project's code there;
3. on such a node copies the job's declared inputs (``--inputs``) into its folder there;
4. waits out the node's start stagger, then runs CMD there: over ``ssh -tt`` with every value
   shell-quoted, after ``cd``, ``unset SSH_CLIENT``, the node's environment activation and the GPU
   variables (``CUDA_VISIBLE_DEVICES`` or ``HIP_VISIBLE_DEVICES``, ``SEEDSIFT_NODE``,
   ``SEEDSIFT_GPU``), or directly on the head for a ``local`` node; it stops a job that runs
   longer than the node's ``job_timeout_s``;
5. on a node with ``shared: false``, copies the declared outputs (``--outputs``) of a job that
   succeeded back under temporary names and renames them into place; a copy that broke off is
   tried again;
6. moves the job to another slot when its node is lost: ssh exit 255 (or a job timeout) and no
   answer to ``ssh node true``, a full disk in the node's work folder, or a Python environment
   that lacks the requirements. The node is marked down for ``dead_ttl_s`` (``<node>.dead`` in
   the lock directory, with the reason);
7. forwards SIGTERM, SIGINT and SIGHUP to ssh, dies with its parent (``PR_SET_PDEATHSIG``) and
   stops its job when the process that started its shell (snakemake) is gone, so a stopped run
   leaves no remote job behind (``-tt`` makes the remote job die with its ssh session);
8. appends a start and an end record per attempt to ``logs/cluster/placements.jsonl``, from which
   ``python -m seedsift.cluster.place --manifest`` writes ``results/cluster/run_manifest.json``.

``python -m seedsift.cluster.place --check`` probes every node of the inventory, checks its
Python environment and prints one line each.
"""

import argparse
import fcntl
import logging
import os
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from seedsift.cli import split_at_dashdash
from seedsift.cluster import accounting, staging
from seedsift.cluster.locks import PlacementError, acquire, mark_dead, once_per_run, run_identity, stagger
from seedsift.cluster.remote import (
    check_script,
    ensure_master,
    local_environment,
    probe,
    remote_script,
    ssh_base,
    stop_master,
)
from seedsift.cluster.run_manifest import PLACEMENT_LOG
from seedsift.cluster.supervise import Supervisor
from seedsift.manifests import REPO_ROOT

LOG = logging.getLogger("seedsift.cluster.place")

ENV_NODES = accounting.ENV_NODES
ENV_SSH_CONFIG = accounting.ENV_SSH_CONFIG
ENV_LOCKDIR = "SEEDSIFT_LOCKDIR"
DEFAULT_LOCKDIR = ".nodelocks"

EXIT_SSH = 255
# No eligible node is alive: a temporary failure (EX_TEMPFAIL); a later retry may find one.
EXIT_NO_NODE = 75
# A job stopped after its node's job_timeout_s (the status timeout(1) uses).
EXIT_TIMEOUT = 124
# Tries of copying a finished job's outputs back before the node is judged.
COPY_BACK_TRIES = 3
COPY_BACK_PAUSE_S = 1.0
# Outcomes after which the job runs again on another slot; the node was marked down.
MOVED = ("node_down", "disk_full", "env_missing")


class NodeLost(Exception):
    """The node stopped answering during preparation or a copy."""


@dataclass
class Job:
    """What the placer knows about the job it places."""

    command: list
    rule: str
    wildcards: dict = field(default_factory=dict)
    job_type: str | None = None
    require: tuple = ()
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)

    @property
    def label(self):
        """``rule[k=v,...]`` for messages."""
        wc = ",".join(f"{k}={v}" for k, v in sorted(self.wildcards.items()))
        return f"{self.rule}[{wc}]" if wc else self.rule


# --------------------------------------------------------------------------- inventory selection


def inventory_path(environ=None):
    """Path of the inventory named by ``SEEDSIFT_NODES``; None (run in place) when unset or empty."""
    value = (os.environ if environ is None else environ).get(ENV_NODES, "").strip()
    return value or None


def lock_dir(environ=None, cwd=None):
    """The lock directory: ``SEEDSIFT_LOCKDIR`` or ``.nodelocks`` in the working directory."""
    value = (os.environ if environ is None else environ).get(ENV_LOCKDIR, "").strip()
    return Path(cwd or os.getcwd()) / (value or DEFAULT_LOCKDIR)


def load_inventory(environ=None):
    """The inventory named by the environment (with ``SEEDSIFT_SSH_CONFIG`` applied), or None."""
    from seedsift.cluster import inventory

    environ = os.environ if environ is None else environ
    path = inventory_path(environ)
    if path is None:
        return None
    return inventory.load(path, ssh_config_override=environ.get(ENV_SSH_CONFIG, "").strip() or None)


# --------------------------------------------------------------------------- records


def append_record(path, record):
    """Append one JSON line to the placement log under an exclusive lock (many placers write it)."""
    from seedsift.jsonio import dumps

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (dumps(record) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        while data:
            data = data[os.write(fd, data) :]
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- placement


def _captured(supervisor, argv, timeout=None, echo=True):
    """Run ``argv`` under the supervisor; (exit status, its stdout and stderr as text)."""
    with tempfile.TemporaryFile() as out:
        status = supervisor.run(argv, timeout=timeout, stdout=out, stderr=out)
        out.seek(0)
        text = out.read().decode("utf-8", errors="replace")
    if echo and text.strip():
        sys.stderr.write(text if text.endswith("\n") else text + "\n")
        sys.stderr.flush()
    return status, text


def environment_check(inv, node, cwd, repo, supervisor):
    """None when the node's Python has the requirements (and, on a staged node, imports the copied
    project); else the one-line problem. Raises NodeLost when ssh cannot reach the node."""
    import json

    code = str(staging.code_dir(node)) if node.staged else ""
    requirements = json.dumps(staging.node_requirements(repo))
    script = check_script(node, staging.ENV_CHECK, [requirements, code], cwd,
                          code_dir=staging.code_dir(node) if node.staged else None)
    status, text = _captured(supervisor, ssh_base(inv, node, tty=False) + [script], timeout=120, echo=False)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if status == 0:
        return None
    if status == EXIT_SSH:
        raise NodeLost(lines[-1] if lines else "ssh failed")
    if status == 127:
        return "no `python` on the node's PATH (set venv: or path: in the inventory)"
    return lines[-1] if lines else f"the environment check exited with status {status}"


def prepare_node(inv, node, lockdir, run_id, cwd, repo, supervisor):
    """Once per run: copy the code (shared: false) and check the Python environment.

    Returns None, or ``(outcome, reason)`` when the node cannot take jobs. Raises NodeLost.
    """
    def check():
        if node.staged:
            status, text = _captured(supervisor, staging.sync_code_argv(inv, node, repo), timeout=node.job_timeout_s)
            failure = staging.rsync_failure(status, text)
            if failure == "connection":
                raise NodeLost(f"copying the code failed (rsync exit {status})")
            if failure == "disk_full":
                return f"disk_full: no space left in {node.workdir} for the project's code"
            if failure != "ok":
                return f"env_missing: copying the code to {node.workdir} failed (rsync exit {status})"
            # The compiled kernels only save time: a failure to copy them is no reason to stop.
            _captured(supervisor, staging.sync_kernel_cache_argv(inv, node, repo), timeout=node.job_timeout_s)
        problem = environment_check(inv, node, cwd, repo, supervisor)
        return None if problem is None else f"env_missing: {problem}"

    error, _cached = once_per_run(lockdir, node.name, "prepared", run_id, check)
    if error is None:
        return None
    outcome, _, reason = error.partition(": ")
    return outcome, reason


def free_mb(inv, node, supervisor):
    """Free MB in the node's work folder, or None when it cannot be read."""
    import shlex

    status, text = _captured(supervisor, ssh_base(inv, node, tty=False) + [f"df -Pk -- {shlex.quote(node.workdir)}"],
                             timeout=30, echo=False)
    rows = [line.split() for line in text.splitlines() if line.strip()]
    if status != 0 or len(rows) < 2 or len(rows[-1]) < 4 or not rows[-1][3].isdigit():
        return None
    return int(rows[-1][3]) / 1024


@dataclass
class Outcome:
    """How an attempt ended: ``outcome`` (ok, failed, timeout, interrupted, or one of MOVED) and
    the status to exit with."""

    outcome: str
    status: int
    reason: str | None = None
    details: dict = field(default_factory=dict)


def _lost(inv, node, lockdir, job, why):
    # ssh failed: the node is down unless it answers a probe.
    if probe(inv, node):
        return False
    stop_master(inv, node)
    mark_dead(lockdir, node.name, inv.dead_ttl_s, f"no answer after {why} of {job.label}")
    LOG.error("%s: %s does not answer after %s; marked down for %g s", job.label, node.name, why, inv.dead_ttl_s)
    return True


def run_attempt(job, inv, slot, lockdir, cwd, repo, supervisor, run_id, area_name):
    """One attempt of ``job`` on the held ``slot``; returns an Outcome."""
    node = slot.node
    if node.local:
        status = supervisor.run(job.command, env=local_environment(node, slot.gpu), cwd=node.workdir or cwd,
                                timeout=node.job_timeout_s)
        return _finish(job, inv, node, lockdir, supervisor, status)

    if not ensure_master(inv, node, lockdir) and _lost(inv, node, lockdir, job, "connecting"):
        return Outcome("node_down", EXIT_SSH, "no answer when connecting")
    try:
        problem = prepare_node(inv, node, lockdir, run_id, cwd, repo, supervisor)
    except NodeLost as exc:
        if _lost(inv, node, lockdir, job, f"preparing the node ({exc})"):
            return Outcome("node_down", EXIT_SSH, str(exc))
        return Outcome("failed", EXIT_SSH, f"preparing the node failed: {exc}")
    if problem is not None:
        outcome, reason = problem
        mark_dead(lockdir, node.name, inv.dead_ttl_s, f"{outcome}: {reason}")
        # One line, in the job's log and so on the console (show-failed-logs aside).
        print(f"seedsift: error: {node.name}: {reason}; its jobs run elsewhere for {inv.dead_ttl_s:g} s", file=sys.stderr,
              flush=True)
        return Outcome(outcome, EXIT_SSH, reason)

    stage = None
    if node.staged:
        try:
            stage = staging.Stage(inv, node, repo, cwd, job.inputs, job.outputs)
        except staging.StagingError as exc:
            LOG.error("seedsift: error: %s: %s", job.label, exc)
            return Outcome("failed", 2, str(exc))
    stagger(lockdir, node)
    if stage is None:
        script = remote_script(node, job.command, cwd, slot.gpu)
        status = supervisor.run(ssh_base(inv, node) + [script], timeout=node.job_timeout_s)
        return _finish(job, inv, node, lockdir, supervisor, status)

    area = staging.StagingArea(cwd, area_name)
    try:
        for argv in stage.upload_argvs(area.root):
            status, text = _captured(supervisor, argv, timeout=node.job_timeout_s)
            failure = staging.rsync_failure(status, text)
            if supervisor.pending is not None:
                return Outcome("interrupted", 128 + int(supervisor.pending))
            if failure == "disk_full":
                return _disk_full(job, inv, node, lockdir, "copying the inputs")
            if failure == "connection" and _lost(inv, node, lockdir, job, f"rsync exit {status} copying the inputs"):
                return Outcome("node_down", status, "lost while copying the inputs")
            if failure != "ok":
                return Outcome("failed", status, f"copying the inputs failed (rsync exit {status})")
        script = remote_script(node, job.command, cwd, slot.gpu, staged=stage)
        status = supervisor.run(ssh_base(inv, node) + [script], timeout=node.job_timeout_s)
        result = _finish(job, inv, node, lockdir, supervisor, status)
        if result.outcome == "failed":
            free = free_mb(inv, node, supervisor)
            if free is not None and free < node.min_free_mb:
                return _disk_full(job, inv, node, lockdir, f"the job (exit {status})", free)
        if result.outcome != "ok":
            return result
        return _copy_back(job, inv, node, lockdir, supervisor, stage, area)
    finally:
        area.close()


def _disk_full(job, inv, node, lockdir, during, free=None):
    stop_master(inv, node)
    reason = f"disk full in {node.workdir}" + (f" ({free:.0f} MB free, min_free_mb {node.min_free_mb:g})" if free is not None else "")
    mark_dead(lockdir, node.name, inv.dead_ttl_s, f"disk_full: {reason}, after {during} of {job.label}")
    LOG.error("%s: %s on %s after %s; marked down for %g s", job.label, reason, node.name, during, inv.dead_ttl_s)
    return Outcome("disk_full", 1, reason)


def _copy_back(job, inv, node, lockdir, supervisor, stage, area):
    tries = 0
    while True:
        tries += 1
        shutil.rmtree(area.outputs, ignore_errors=True)
        status, text = _captured(supervisor, stage.download_argv(area.outputs), timeout=node.job_timeout_s)
        if supervisor.pending is not None:
            return Outcome("interrupted", 128 + int(supervisor.pending), details={"copy_back_tries": tries})
        failure = staging.rsync_failure(status, text)
        if failure == "ok":
            placed = stage.commit(area.outputs)
            LOG.info("%s: %d output(s) copied back from %s", job.label, len(placed), node.name)
            return Outcome("ok", 0, details={"copy_back_tries": tries})
        if failure == "connection" and _lost(inv, node, lockdir, job, f"rsync exit {status} copying the outputs back"):
            # The outputs went down with the node: the job runs again elsewhere.
            return Outcome("node_down", status, "lost while copying the outputs back", {"copy_back_tries": tries})
        if failure != "connection" or tries >= COPY_BACK_TRIES:
            return Outcome("failed", status or 1, f"copying the outputs back failed (rsync exit {status})",
                           {"copy_back_tries": tries})
        LOG.warning("%s: copying the outputs back from %s broke off (rsync exit %d); trying again", job.label, node.name, status)
        time.sleep(COPY_BACK_PAUSE_S * tries)


def _finish(job, inv, node, lockdir, supervisor, status):
    # The outcome of running the job itself.
    if supervisor.pending is not None:
        # ssh reports 255 for a session it was told to end: report the signal instead.
        return Outcome("interrupted", 128 + int(supervisor.pending))
    if supervisor.timed_out:
        why = f"job_timeout_s={node.job_timeout_s:g}"
        if not node.local and _lost(inv, node, lockdir, job, why):
            return Outcome("node_down", EXIT_TIMEOUT, f"stopped after {why}; the node does not answer")
        LOG.error("%s: stopped on %s after %s", job.label, node.name, why)
        return Outcome("timeout", EXIT_TIMEOUT, f"stopped after {why}")
    if status == 0:
        return Outcome("ok", 0)
    if status == EXIT_SSH and not node.local:
        # 255 is also what ssh reports when the remote job died of a signal: ask the node.
        if _lost(inv, node, lockdir, job, "exit 255"):
            return Outcome("node_down", status, "ssh exit 255 and no answer to ssh <node> true")
        LOG.error("%s: exit 255 on %s, which answers: the job failed", job.label, node.name)
    return Outcome("failed", status)


def place(job, inv, lockdir, cwd, log_path, supervisor, repo=REPO_ROOT):
    """Run ``job`` on a free slot of an eligible node, moving it off nodes that are lost.

    Returns the job's exit status.
    """
    try:
        kinds = accounting.job_kinds(inv, job.job_type, job.require)
        if not kinds:
            accounting.request(inv, job.job_type, job.require)
    except accounting.JobTypeError as exc:
        raise PlacementError(f"no node may run {job.label}: {exc}") from None
    nodes = [n for n in inv.nodes if n.gpu_kind in kinds]
    placement = uuid.uuid4().hex
    run_id = (run_identity(supervisor.grandparent) if supervisor.grandparent else None) or run_identity(os.getpid())
    if any(n.staged for n in nodes):
        staging.clean_stale_staging(cwd)
    names = ", ".join(n.name for n in nodes)

    def waiting():
        LOG.info("%s: every slot it may use is busy (%s): waiting", job.label, names)

    attempt = 0
    while True:
        attempt += 1
        slot = acquire(lockdir, nodes, kinds, inv.job_types, name=f"{placement}-{attempt}", on_wait=waiting)
        node = slot.node
        common = {"placement": placement, "attempt": attempt, "node": node.name, "gpu": slot.gpu}
        try:
            append_record(log_path, {
                "event": "start", **common, "rule": job.rule, "wildcards": job.wildcards, "job_type": job.job_type,
                "gpu_kind": node.gpu_kind, "via": "local" if node.local else "ssh",
                "shared": not node.staged, "limit": node.concurrency, "command": job.command,
                "time": time.time(), "pid": os.getpid(), "run_pid": supervisor.grandparent,
            })
            LOG.info("%s: attempt %d on %s, slot %s", job.label, attempt, node.name, slot.gpu)
            result = Outcome("failed", 1, "the placer stopped with an error")
            try:
                result = run_attempt(job, inv, slot, lockdir, cwd, repo, supervisor, run_id, f"{placement}-{attempt}")
            finally:
                append_record(log_path, {"event": "end", **common, "time": time.time(), "exit_status": result.status,
                                         "outcome": result.outcome, "reason": result.reason, **result.details})
        finally:
            slot.release()
        if result.outcome not in MOVED or supervisor.pending is not None:
            return result.status


def _infer_rule(command):
    # One name per step: scripts/<rule>.py is run by rule <rule>.
    for arg in command:
        if str(arg).endswith(".py"):
            return Path(arg).stem
    return Path(str(command[0])).name


def parse_wildcards(text):
    """``k=v,k=v`` (snakemake's rendering of ``{wildcards}``) as a dict."""
    out = {}
    for part in filter(None, (text or "").split(",")):
        key, sep, value = part.partition("=")
        if not sep:
            raise PlacementError(f"--wildcards: {text!r} is not of the form name=value,name=value")
        out[key] = value
    return out


def _arguments(argv):
    ap = argparse.ArgumentParser(
        prog="python -m seedsift.cluster.place",
        description="Run a rule's command on a free (node, GPU slot) of the inventory named by "
        f"{ENV_NODES}, or in place when none is set.",
        epilog="usage in a rule: python -m seedsift.cluster.place --job-type {resources.job_type:q} "
        "--inputs {input:q} --outputs {output:q} -- CMD ...",
    )
    ap.add_argument("--rule", help="rule name (default: the stem of the command's .py script)")
    ap.add_argument("--wildcards", default="", help="the job's wildcards as name=value,name=value")
    ap.add_argument("--job-type", help="job type looked up in the inventory's job_types (default: the rule); "
                    "several types, comma-separated, for a job that loads each of their backends")
    ap.add_argument("--require", default="", help="GPU kinds the job needs, comma-separated (cuda, rocm, none)")
    ap.add_argument("--inputs", nargs="*", default=[], help="the job's input files: copied to a node with shared: false")
    ap.add_argument("--outputs", nargs="*", default=[],
                    help="the job's output files (or patterns such as dir/best_model.*): copied back from such a node")
    ap.add_argument("--manifest", action="store_true", help="write the run manifest from the placement log and exit")
    ap.add_argument("--output", type=Path, help="with --manifest: where to write it")
    ap.add_argument("--if-placed", action="store_true",
                    help="with --manifest: write nothing when the latest run placed no job (a local run)")
    ap.add_argument("--check", action="store_true",
                    help="probe every node of the inventory, check its Python environment and exit")
    return ap.parse_args(argv)


def check_nodes(inv, out=sys.stdout, repo=REPO_ROOT, cwd=None):
    """Probe every node and check its environment; prints one line per node and returns the
    number of nodes that cannot take jobs."""
    cwd = Path(cwd or Path.cwd())
    supervisor = Supervisor()
    bad = 0
    for node in inv.nodes:
        ok = probe(inv, node)
        state = "ok" if ok else "NO ANSWER"
        if ok and not node.local:
            try:
                if node.staged:
                    status, _ = _captured(supervisor, staging.sync_code_argv(inv, node, repo), echo=False)
                    if status != 0:
                        raise NodeLost(f"copying the code failed (rsync exit {status})")
                problem = environment_check(inv, node, cwd, repo, supervisor)
            except NodeLost as exc:
                problem = str(exc)
            if problem is not None:
                state = f"ENVIRONMENT: {problem}"
        bad += state != "ok"
        where = "local" if node.local else node.destination
        files = "shared" if not node.staged else f"copies in {node.workdir}"
        print(f"{node.name}\t{where}\t{node.gpu_kind}\t{','.join(node.slots)}\tmax_jobs={node.concurrency}\t{files}\t"
              f"{state}", file=out)
    limits = accounting.limits(inv)
    print("job slots per class (the cluster profile's resources): "
          + ", ".join(f"{name}={n}" for name, n in limits.items()), file=out)
    return bad


def main(argv=None):
    """Entry point; returns the job's exit status (or execs it in place)."""
    options, command = split_at_dashdash(sys.argv[1:] if argv is None else argv)
    args = _arguments(options)
    if args.manifest:
        from seedsift.cluster import run_manifest

        path = run_manifest.write(Path.cwd(), args.output, only_if_placed=args.if_placed)
        if path is not None:
            print(path)
        return 0
    if args.check:
        inv = load_inventory()
        if inv is None:
            raise PlacementError(f"{ENV_NODES} is not set: there is no inventory to check")
        return 1 if check_nodes(inv) else 0
    if not command:
        print("usage: python -m seedsift.cluster.place [--rule R] [--wildcards W] [--job-type T] [--require KINDS] "
              "[--inputs FILE ...] [--outputs FILE ...] -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    inv = load_inventory()
    if inv is None:
        os.execvp(command[0], command)
    from seedsift.cluster.inventory import GPU_KINDS

    require = tuple(k for k in args.require.split(",") if k)
    for kind in require:
        if kind not in GPU_KINDS:
            raise PlacementError(f"--require: {kind!r} is not a GPU kind; allowed: {', '.join(GPU_KINDS)}")
    rule = args.rule or _infer_rule(command)
    job = Job(command=command, rule=rule, wildcards=parse_wildcards(args.wildcards),
              job_type=args.job_type or rule, require=require, inputs=args.inputs, outputs=args.outputs)
    supervisor = Supervisor().install()
    cwd = Path.cwd()
    try:
        return place(job, inv, lock_dir(cwd=cwd), cwd, cwd / PLACEMENT_LOG, supervisor)
    except PlacementError as exc:
        print(f"seedsift: error: {exc}", file=sys.stderr)
        return EXIT_NO_NODE


if __name__ == "__main__":
    from seedsift.cli import run

    sys.exit(run(main))
