"""Placer in front of every remote rule's command: ``python -m seedsift.cluster.place [options] -- CMD ...``.

Without a node inventory (``SEEDSIFT_NODES`` unset or empty, the default of local runs) it
replaces itself with ``CMD``, so the rule text is the same under every profile and switching
profiles never reruns a job. With an inventory (the cluster profile sets ``SEEDSIFT_NODES``) it

1. takes a free (node, GPU slot): a non-blocking ``flock`` on a per-node job token (at most
   ``max_jobs`` per node) and on the node's next free GPU, in rotation, under the lock directory
   (``.nodelocks/`` in the working directory, or ``SEEDSIFT_LOCKDIR``);
2. waits out the node's start stagger, then runs CMD there: over ``ssh -tt`` with every value
   shell-quoted, after ``cd``, ``unset SSH_CLIENT``, the node's environment activation and the GPU
   variables (``CUDA_VISIBLE_DEVICES`` or ``HIP_VISIBLE_DEVICES``, ``SEEDSIFT_NODE``,
   ``SEEDSIFT_GPU``), or directly on the head for a ``local`` node;
3. on ssh exit 255 probes the node with ``ssh node true``; a node that does not answer is marked
   down for ``dead_ttl_s`` (a ``<node>.dead`` file in the lock directory) and the command is rerun
   on another slot;
4. forwards SIGTERM, SIGINT and SIGHUP to ssh, dies with its parent (``PR_SET_PDEATHSIG``) and
   stops its job when the process that started its shell (snakemake) is gone, so a stopped run
   leaves no remote job behind (``-tt`` makes the remote job die with its ssh session);
5. appends a start and an end record per attempt to ``logs/cluster/placements.jsonl``, from which
   ``python -m seedsift.cluster.place --manifest`` writes ``results/cluster/run_manifest.json``.

``python -m seedsift.cluster.place --check`` probes every node of the inventory and prints one line each.
"""

import argparse
import fcntl
import logging
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from seedsift.cli import split_at_dashdash
from seedsift.cluster.locks import PlacementError, acquire, mark_dead, stagger
from seedsift.cluster.remote import local_environment, probe, remote_script, ssh_base
from seedsift.cluster.run_manifest import PLACEMENT_LOG
from seedsift.cluster.supervise import Supervisor

LOG = logging.getLogger("seedsift.cluster.place")

ENV_NODES = "SEEDSIFT_NODES"
ENV_SSH_CONFIG = "SEEDSIFT_SSH_CONFIG"
ENV_LOCKDIR = "SEEDSIFT_LOCKDIR"
DEFAULT_LOCKDIR = ".nodelocks"

EXIT_SSH = 255
# No eligible node is alive: a temporary failure (EX_TEMPFAIL); a later retry may find one.
EXIT_NO_NODE = 75


@dataclass
class Job:
    """What the placer knows about the job it places."""

    command: list
    rule: str
    wildcards: dict = field(default_factory=dict)
    job_type: str | None = None
    require: tuple = ()

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


def place(job, inv, lockdir, cwd, log_path, supervisor):
    """Run ``job`` on a free slot of an eligible node, failing over from nodes that are down.

    Returns the job's exit status.
    """
    nodes = inv.eligible(job.job_type, job.require)
    if not nodes:
        wanted = inv.job_types.get(job.job_type, ("any",))
        have = ", ".join(f"{n.name}={n.gpu_kind}" for n in inv.nodes)
        raise PlacementError(
            f"{inv.source}: no node may run {job.label}: job type {job.job_type!r} runs on GPU kinds "
            f"{','.join(wanted)}, --require {','.join(job.require) or '-'}; nodes: {have}"
        )
    placement = uuid.uuid4().hex
    attempt = 0
    while True:
        attempt += 1
        slot = acquire(lockdir, nodes)
        node = slot.node
        try:
            stagger(lockdir, node)
            common = {"placement": placement, "attempt": attempt, "node": node.name, "gpu": slot.gpu}
            append_record(log_path, {
                "event": "start", **common, "rule": job.rule, "wildcards": job.wildcards, "job_type": job.job_type,
                "gpu_kind": node.gpu_kind, "via": "local" if node.local else "ssh", "command": job.command,
                "time": time.time(), "pid": os.getpid(), "run_pid": supervisor.grandparent,
            })
            LOG.info("%s: attempt %d on %s, slot %s", job.label, attempt, node.name, slot.gpu)
            if node.local:
                status = supervisor.run(job.command, env=local_environment(node, slot.gpu), cwd=node.workdir or cwd)
            else:
                script = remote_script(node, job.command, cwd, slot.gpu)
                status = supervisor.run(ssh_base(inv, node) + [script])
            outcome = "ok" if status == 0 else "failed"
            if supervisor.pending is not None:
                # ssh reports 255 for a session it was told to end: report the signal instead.
                outcome, status = "interrupted", 128 + int(supervisor.pending)
            elif status == EXIT_SSH and not node.local:
                # 255 is also what ssh reports when the remote job died of a signal: ask the node.
                if probe(inv, node):
                    LOG.error("%s: exit 255 on %s, which answers: the job failed", job.label, node.name)
                else:
                    mark_dead(lockdir, node.name, inv.dead_ttl_s, f"no answer after exit 255 of {job.label}")
                    LOG.error("%s: %s does not answer; marked down for %g s", job.label, node.name, inv.dead_ttl_s)
                    outcome = "node_down"
            append_record(log_path, {"event": "end", **common, "time": time.time(), "exit_status": status, "outcome": outcome})
        finally:
            slot.release()
        if outcome != "node_down":
            return status


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
        epilog="usage in a rule: python -m seedsift.cluster.place --rule {rule} --wildcards {wildcards:q} -- CMD ...",
    )
    ap.add_argument("--rule", help="rule name (default: the stem of the command's .py script)")
    ap.add_argument("--wildcards", default="", help="the job's wildcards as name=value,name=value")
    ap.add_argument("--job-type", help="job type looked up in the inventory's job_types (default: the rule)")
    ap.add_argument("--require", default="", help="GPU kinds the job needs, comma-separated (cuda, rocm, none)")
    ap.add_argument("--manifest", action="store_true", help="write the run manifest from the placement log and exit")
    ap.add_argument("--output", type=Path, help="with --manifest: where to write it")
    ap.add_argument("--if-placed", action="store_true",
                    help="with --manifest: write nothing when the latest run placed no job (a local run)")
    ap.add_argument("--check", action="store_true", help="probe every node of the inventory and exit")
    return ap.parse_args(argv)


def check_nodes(inv, out=sys.stdout):
    """Probe every node; prints one line per node and returns the number that did not answer."""
    bad = 0
    for node in inv.nodes:
        ok = probe(inv, node)
        bad += not ok
        where = "local" if node.local else node.destination
        print(f"{node.name}\t{where}\t{node.gpu_kind}\t{','.join(node.slots)}\tmax_jobs={node.concurrency}\t"
              f"{'ok' if ok else 'NO ANSWER'}", file=out)
    print(f"job slots: {sum(n.concurrency for n in inv.nodes)} (the profile's resources: gpu_slots)", file=out)
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
        print("usage: python -m seedsift.cluster.place [--rule R] [--wildcards W] [--job-type T] [--require KINDS] -- COMMAND [ARGS...]",
              file=sys.stderr)
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
              job_type=args.job_type or rule, require=require)
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
