"""Placer in front of every remote rule's command: ``python -m seedsift.place [options] -- CMD ...``.

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
   ``python -m seedsift.place --manifest`` writes ``results/cluster/run_manifest.json``.

``python -m seedsift.place --check`` probes every node of the inventory and prints one line each.
"""

import argparse
import ctypes
import fcntl
import json
import logging
import os
import random
import shlex
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from seedsift.cli import split_at_dashdash
from seedsift.errors import SeedsiftError

LOG = logging.getLogger("seedsift.place")

ENV_NODES = "SEEDSIFT_NODES"
ENV_SSH_CONFIG = "SEEDSIFT_SSH_CONFIG"
ENV_LOCKDIR = "SEEDSIFT_LOCKDIR"
DEFAULT_LOCKDIR = ".nodelocks"
PLACEMENT_LOG = Path("logs/cluster/placements.jsonl")

EXIT_SSH = 255
# No eligible node is alive: a temporary failure (EX_TEMPFAIL); a later retry may find one.
EXIT_NO_NODE = 75
EXIT_SETUP = 126
FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
# After forwarding a stop signal, how long a job may take to exit before it is killed.
KILL_GRACE_S = 10.0
POLL_S = 0.2
PR_SET_PDEATHSIG = 1
# Set by snakemake from a job's threads (snakemake/shell.py); they describe the placer, not the job.
SNAKEMAKE_THREAD_VARIABLES = (
    "OMP_NUM_THREADS", "GOTO_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS",
)


class PlacementError(SeedsiftError):
    """No node can take the job (none eligible, or every eligible node is down)."""


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
    from seedsift import inventory

    environ = os.environ if environ is None else environ
    path = inventory_path(environ)
    if path is None:
        return None
    return inventory.load(path, ssh_config_override=environ.get(ENV_SSH_CONFIG, "").strip() or None)


# --------------------------------------------------------------------------- locks and markers


def try_lock(path):
    """A file descriptor holding an exclusive non-blocking flock on ``path``, or None if taken."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


@contextmanager
def _held(path):
    # A briefly held blocking lock that serialises read-modify-write of a node's state file.
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _read_state(path):
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def _write_state(path, state):
    from seedsift.jsonio import atomic_write_text

    atomic_write_text(path, json.dumps(state) + "\n")


@dataclass
class Slot:
    """A held (node, GPU slot); ``release()`` frees it."""

    node: object
    gpu: str
    fds: list

    def release(self):
        """Drop the locks (closing the descriptors releases the flocks)."""
        while self.fds:
            os.close(self.fds.pop())


def take_slot(lockdir, node):
    """Take a job token and the next free GPU slot of ``node`` in rotation; None when it is full."""
    lockdir = Path(lockdir)
    token = None
    for k in range(node.concurrency):
        token = try_lock(lockdir / f"{node.name}.job{k}.lock")
        if token is not None:
            break
    if token is None:
        return None
    slots = node.slots
    state_file = lockdir / f"{node.name}.state.json"
    with _held(lockdir / f"{node.name}.state.lock"):
        state = _read_state(state_file)
        start = state.get("next_slot", 0) if isinstance(state.get("next_slot"), int) else 0
        for i in range(len(slots)):
            index = (start + i) % len(slots)
            fd = try_lock(lockdir / f"{node.name}.slot-{slots[index]}.lock")
            if fd is not None:
                state["next_slot"] = (index + 1) % len(slots)
                _write_state(state_file, state)
                return Slot(node, slots[index], [token, fd])
    os.close(token)
    return None


def stagger(lockdir, node, clock=time.time, sleep=time.sleep):
    """Wait until ``node.stagger_s`` has passed since the last start on the node; returns the wait."""
    if node.stagger_s <= 0:
        return 0.0
    lockdir = Path(lockdir)
    path = lockdir / f"{node.name}.stagger.json"
    with _held(lockdir / f"{node.name}.stagger.lock"):
        last = _read_state(path).get("last_start", 0)
        wait = max(0.0, float(last) + node.stagger_s - clock()) if isinstance(last, (int, float)) else 0.0
        if wait:
            sleep(wait)
        _write_state(path, {"last_start": clock()})
    return wait


def mark_dead(lockdir, name, ttl, reason, clock=time.time):
    """Mark node ``name`` down for ``ttl`` seconds; deleting the file brings it back at once."""
    from seedsift.jsonio import write_json

    now = clock()
    write_json(Path(lockdir) / f"{name}.dead", {"node": name, "since": now, "until": now + ttl, "reason": reason})


def dead_until(lockdir, name, clock=time.time):
    """Until when node ``name`` is marked down, or None if it is not (an unreadable marker is ignored)."""
    state = _read_state(Path(lockdir) / f"{name}.dead")
    until = state.get("until")
    if isinstance(until, (int, float)) and not isinstance(until, bool) and until > clock():
        return until
    return None


def acquire(lockdir, nodes, poll=POLL_S, clock=time.time, sleep=time.sleep):
    """Block until a slot on one of ``nodes`` that is not marked down is free, and take it.

    Raises PlacementError when every node is marked down: waiting for the markers to expire
    would only hide a broken cluster.
    """
    lockdir = Path(lockdir)
    lockdir.mkdir(parents=True, exist_ok=True)
    while True:
        live = [n for n in nodes if dead_until(lockdir, n.name, clock) is None]
        if not live:
            raise PlacementError(
                f"{lockdir}: every eligible node is marked down ({', '.join(n.name for n in nodes)}); "
                "delete its <node>.dead file once a node is back"
            )
        for node in live:
            slot = take_slot(lockdir, node)
            if slot is not None:
                return slot
        # Jitter so that placers woken together do not poll in lockstep.
        sleep(poll * (0.5 + random.random()))


# --------------------------------------------------------------------------- commands


def job_environment(node, gpu):
    """Variables the job sees: the node's ``env`` overrides, then its GPU and placement."""
    from seedsift.inventory import GPU_VARIABLE

    env = list(node.env)
    variable = GPU_VARIABLE[node.gpu_kind]
    if variable:
        env.append((variable, gpu))
    env += [
        ("SEEDSIFT_NODE", node.name),
        ("SEEDSIFT_GPU", gpu if variable else ""),
        ("SEEDSIFT_GPU_KIND", node.gpu_kind),
    ]
    return env


def _die(message):
    return "{ printf '%s\\n' " + shlex.quote(f"seedsift.place: {message}") + f" >&2; exit {EXIT_SETUP}; }}"


def remote_script(node, command, cwd, gpu):
    """The POSIX shell text run on ``node``: every value in it is quoted with shlex.quote.

    ``setup`` is the one exception: it is shell text written by the inventory's owner.
    """
    q = shlex.quote
    workdir = node.workdir or str(cwd)
    lines = [
        f"cd -- {q(workdir)} || " + _die(f"{node.name}: cannot cd to {workdir}"),
        # bash re-reads ~/.bashrc in nested shells while SSH_CLIENT is set, which can put another
        # python first on PATH; the job must run the project's python.
        "unset SSH_CLIENT SSH2_CLIENT",
        # -tt gives the job a terminal; keep its output's line ends as the job wrote them.
        "stty -onlcr 2>/dev/null",
    ]
    if node.setup:
        lines.append("{ " + node.setup + "\n} || " + _die(f"{node.name}: setup failed"))
    if node.venv:
        lines.append(f". {q(node.venv + '/bin/activate')} || " + _die(f"{node.name}: cannot activate {node.venv}"))
    if node.path:
        lines.append("PATH=" + ":".join(q(p) for p in node.path) + ':"$PATH"; export PATH')
    lines.append("export " + " ".join(f"{k}={q(v)}" for k, v in job_environment(node, gpu)))
    lines.append("exec " + " ".join(q(str(a)) for a in command))
    return "\n".join(lines)


def local_environment(node, gpu, base=None):
    """Environment of a job run on a ``local`` node (no shell involved)."""
    env = dict(os.environ if base is None else base)
    # Same starting point as a remote job: no ssh session markers, and none of the thread limits
    # snakemake sets for the placer itself (the cluster profile gives placed jobs 0 head cores).
    for key in ("SSH_CLIENT", "SSH2_CLIENT") + SNAKEMAKE_THREAD_VARIABLES:
        env.pop(key, None)
    front = [f"{node.venv}/bin"] if node.venv else []
    front += list(node.path)
    if node.venv:
        env["VIRTUAL_ENV"] = node.venv
    if front:
        env["PATH"] = os.pathsep.join(front + ([env["PATH"]] if env.get("PATH") else []))
    env.update(dict(job_environment(node, gpu)))
    return env


def ssh_base(inv, node, tty=True):
    """``ssh`` argv up to and including the destination (no shell involved on the head)."""
    argv = ["ssh"]
    if tty:
        argv.append("-tt")
    if inv.ssh_config:
        argv += ["-F", inv.ssh_config]
    for key, value in inv.ssh_options:
        argv += ["-o", f"{key}={value}"]
    if node.port:
        argv += ["-p", str(node.port)]
    if node.user:
        argv += ["-l", node.user]
    return argv + [node.destination]


def probe(inv, node, timeout=None):
    """True when ``ssh node true`` succeeds; its error output goes to the job log."""
    if node.local:
        return True
    connect = float(dict(inv.ssh_options).get("ConnectTimeout", "10"))
    try:
        done = subprocess.run(
            ssh_base(inv, node, tty=False) + ["true"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            timeout=timeout or connect + 5,
        )
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


# --------------------------------------------------------------------------- process supervision


def _libc_prctl():
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def set_parent_death_signal(signum=signal.SIGTERM):
    """Ask the kernel to send ``signum`` when the parent exits (Linux); False where unsupported."""
    prctl = _libc_prctl()
    return bool(prctl) and prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0


def parent_pid_of(pid):
    """Parent PID of ``pid`` from /proc, or None where /proc cannot tell."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: the fields start after the last ')'.
    fields = stat[stat.rfind(b")") + 2 :].split()
    return int(fields[1]) if len(fields) > 1 else None


class Supervisor:
    """Runs one child at a time, forwarding stop signals and stopping it when the run is gone."""

    def __init__(self):
        self.pending = None
        self.parent = os.getppid()
        self.grandparent = parent_pid_of(self.parent)
        self._previous = {}

    def install(self):
        """Catch the stop signals (they are forwarded to the child instead of killing us)."""
        for signum in FORWARDED_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._on_signal)
        set_parent_death_signal(signal.SIGTERM)
        if os.getppid() != self.parent:
            # The parent died before the death signal was armed.
            self.pending = signal.SIGTERM
        return self

    def _on_signal(self, signum, frame):
        self.pending = signum

    def orphaned(self):
        """True when our parent, or the process that started it (snakemake), has gone."""
        if os.getppid() != self.parent:
            return True
        if self.grandparent is None:
            return False
        now = parent_pid_of(self.parent)
        return now is not None and now != self.grandparent

    def run(self, argv, env=None, cwd=None):
        """Run ``argv`` to its end; returns its exit status (128 + signal when killed by one)."""
        if self.pending is not None:
            return 128 + int(self.pending)
        parent = os.getpid()

        def child_setup():
            set_parent_death_signal(signal.SIGTERM)
            if os.getppid() != parent:
                os._exit(128 + signal.SIGTERM)

        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, env=env, cwd=cwd, preexec_fn=child_setup)
        forwarded, deadline, delay = None, None, 0.005
        while True:
            # waitpid(WNOHANG) in a loop, never Popen.wait(): a signal arriving inside wait() would
            # leave the handler unable to reach the child until wait() returned.
            pid, status = os.waitpid(proc.pid, os.WNOHANG)
            if pid:
                code = os.waitstatus_to_exitcode(status)
                proc.returncode = code
                return 128 - code if code < 0 else code
            if self.pending is None and self.orphaned():
                LOG.warning("the run that started this job is gone: stopping the job")
                self.pending = signal.SIGTERM
            if self.pending is not None and self.pending != forwarded:
                forwarded = self.pending
                deadline = time.monotonic() + KILL_GRACE_S
                _signal(proc.pid, forwarded)
            elif deadline is not None and time.monotonic() > deadline:
                _signal(proc.pid, signal.SIGKILL)
                deadline = None
            time.sleep(delay)
            delay = min(delay * 2, 0.1)


def _signal(pid, signum):
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


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
        prog="python -m seedsift.place",
        description="Run a rule's command on a free (node, GPU slot) of the inventory named by "
        f"{ENV_NODES}, or in place when none is set.",
        epilog="usage in a rule: python -m seedsift.place --rule {rule} --wildcards {wildcards:q} -- CMD ...",
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
        from seedsift import run_manifest

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
        print("usage: python -m seedsift.place [--rule R] [--wildcards W] [--job-type T] [--require KINDS] -- COMMAND [ARGS...]",
              file=sys.stderr)
        return 2
    inv = load_inventory()
    if inv is None:
        os.execvp(command[0], command)
    from seedsift.inventory import GPU_KINDS

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
