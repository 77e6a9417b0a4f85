"""The placer's child process: signals forwarded, parent-death signal, and a stop when the run is gone."""

import ctypes
import logging
import os
import signal
import subprocess
import time

LOG = logging.getLogger("seedsift.cluster.place")

FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
# After forwarding a stop signal, how long a job may take to exit before it is killed.
KILL_GRACE_S = 10.0
POLL_S = 0.2
PR_SET_PDEATHSIG = 1


def _libc_prctl():
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def set_parent_death_signal(signum=signal.SIGTERM):
    """Ask the kernel to send ``signum`` when the parent exits (Linux); False where unsupported."""
    prctl = _libc_prctl()
    return bool(prctl) and prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0


def proc_stat(pid):
    """The fields of /proc/<pid>/stat after the command name (state, parent PID, ...), or None
    when the process is gone or /proc cannot tell."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: the fields start after the last ')'.
    return stat[stat.rfind(b")") + 2 :].split()


def parent_pid_of(pid):
    """Parent PID of ``pid`` from /proc, or None where /proc cannot tell."""
    fields = proc_stat(pid)
    return int(fields[1]) if fields and len(fields) > 1 else None


class Supervisor:
    """Runs one child at a time, forwarding stop signals and stopping it when the run is gone."""

    def __init__(self):
        self.pending = None
        # Set by run() when its child ran past the timeout it was given.
        self.timed_out = False
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

    def run(self, argv, env=None, cwd=None, timeout=None, stdout=None, stderr=None):
        """Run ``argv`` to its end; returns its exit status (128 + signal when killed by one).

        After ``timeout`` seconds the child is stopped like on SIGTERM and ``timed_out`` is set.
        ``stdout``/``stderr`` are file objects (default: ours, i.e. the job's log).
        """
        self.timed_out = False
        if self.pending is not None:
            return 128 + int(self.pending)
        parent = os.getpid()

        def child_setup():
            set_parent_death_signal(signal.SIGTERM)
            if os.getppid() != parent:
                os._exit(128 + signal.SIGTERM)

        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, env=env, cwd=cwd, preexec_fn=child_setup,
                                stdout=stdout, stderr=stderr)
        forwarded, deadline, delay = None, None, 0.005
        ends = time.monotonic() + timeout if timeout else None
        stop = None
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
            if ends is not None and stop is None and time.monotonic() > ends:
                self.timed_out = True
                stop = signal.SIGTERM
            wanted = self.pending if self.pending is not None else stop
            if wanted is not None and wanted != forwarded:
                forwarded = wanted
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
