"""A single-host SLURM cluster on localhost, for the SLURM test: munged, slurmctld and slurmd of
Debian's slurm-wlm and munge packages (bash .ci/system-deps.sh installs them).

Everything lives in a temporary folder: its own munge key and socket, a slurm.conf with free
ports, state and spool folders, and two GPUs that are character devices like /dev/null (SLURM
only hands their ids out). Nothing in /etc is changed: slurmd runs in a private mount namespace
with our config folder bind-mounted over /etc/slurm, because a job's srun (which snakemake's
job step runs without SLURM_CONF) reads the config from there. Clients on the head find it
through ``SLURM_CONF`` (:meth:`SlurmCluster.environment`). Needs root.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from seedsift.errors import SeedsiftError

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "sinfo", "scancel", "scontrol", "srun")


class SlurmError(SeedsiftError):
    """The SLURM cluster cannot start here."""


def _which(name):
    return shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.path.exists(p)), None)


def unavailable_reason():
    """Why a single-host SLURM cluster cannot run here, or None when it can."""
    missing = [name for name in DAEMONS + CLIENTS + ("munge", "unshare", "mount") if _which(name) is None]
    if missing:
        return f"{', '.join(missing)} missing (install slurm-wlm and munge: bash .ci/system-deps.sh)"
    if os.geteuid() != 0:
        return "slurmd, and the private mount namespace it runs in, need root"
    if not os.path.isdir("/etc/slurm"):
        return "/etc/slurm does not exist to bind our config over (is slurm-wlm installed?)"
    return None


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _memory_mb():
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return 4000


class SlurmCluster:
    """``with SlurmCluster() as slurm:``; ``slurm.environment(env)`` for clients; stops on exit."""

    def __init__(self, root=None, cpus=8, gpus=2):
        self.root = Path(root or tempfile.mkdtemp(prefix="seedsift-slurm-"))
        self._own_root = root is None
        self.cpus, self.gpus = cpus, gpus
        self.etc = self.root / "etc"
        self.conf = self.etc / "slurm.conf"
        self.node = socket.gethostname().split(".")[0]
        self.processes = {}

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def environment(self, base=None):
        """``base`` (default: ours) with SLURM_CONF naming this cluster's config."""
        env = dict(os.environ if base is None else base)
        env["SLURM_CONF"] = str(self.conf)
        return env

    def log(self, name):
        """Path of a daemon's log file."""
        return self.root / "log" / f"{name}.log"

    def _write_config(self):
        for sub in ("etc", "log", "state", "spool", "munge", "dev"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        devices = []
        for i in range(self.gpus):
            dev = self.root / "dev" / f"gpu{i}"
            if not dev.exists():
                os.mknod(dev, 0o666 | 0o020000, os.makedev(1, 3))  # a character device like /dev/null
            devices.append(dev)
        munge = self.root / "munge"
        key = munge / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        self.socket = munge / "munge.socket"
        r = self.root
        self.conf.write_text("\n".join([
            "ClusterName=seedsift",
            f"SlurmctldHost={self.node}(127.0.0.1)",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={self.socket}",
            "SlurmUser=root",
            "SlurmdUser=root",
            f"StateSaveLocation={r / 'state'}",
            f"SlurmdSpoolDir={r / 'spool'}",
            f"SlurmctldPidFile={r / 'slurmctld.pid'}",
            f"SlurmdPidFile={r / 'slurmd.pid'}",
            f"SlurmctldLogFile={self.log('slurmctld')}",
            f"SlurmdLogFile={self.log('slurmd')}",
            # No cgroups and no accounting database: the plugin's status command is squeue here.
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "JobCompType=jobcomp/none",
            "MpiDefault=none",
            "SchedulerType=sched/backfill",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "ReturnToService=2",
            # The node may claim more CPUs than the machine has (the profile asks 4 per GPU job).
            "SlurmdParameters=config_overrides",
            # Finished jobs stay visible to squeue long enough for the plugin's status checks.
            "MinJobAge=600",
            "GresTypes=gpu",
            f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={_memory_mb()} "
            f"Gres=gpu:{self.gpus} State=UNKNOWN",
            f"PartitionName=debug Nodes={self.node} Default=YES MaxTime=INFINITE State=UP",
            "",
        ]))
        (self.etc / "gres.conf").write_text(
            f"NodeName={self.node} Name=gpu File={self.root / 'dev'}/gpu[0-{self.gpus - 1}]\n")
        plugstack = Path("/etc/slurm/plugstack.conf")
        if plugstack.exists():
            shutil.copy(plugstack, self.etc / "plugstack.conf")

    def _spawn(self, name, argv):
        self.processes[name] = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                                stderr=open(self.root / "log" / f"{name}.stderr", "wb"),
                                                env=self.environment())

    def start(self):
        """Start munged, slurmctld and slurmd; raises SlurmError when the node does not come up."""
        reason = unavailable_reason()
        if reason:
            raise SlurmError(reason)
        self._write_config()
        munge = self.root / "munge"
        self._spawn("munged", [_which("munged"), "-F", "-f", f"--key-file={munge / 'munge.key'}",
                               f"--socket={self.socket}", f"--pid-file={munge / 'munged.pid'}",
                               f"--log-file={self.log('munged')}", f"--seed-file={munge / 'munged.seed'}"])
        self._wait(lambda: self.socket.exists(), "munged did not open its socket", "munged")
        self._spawn("slurmctld", [_which("slurmctld"), "-D", "-i", "-f", str(self.conf)])
        self._wait(self._controller_up, "slurmctld did not answer", "slurmctld")
        script = (f"mount --bind {self.etc} /etc/slurm && exec {_which('slurmd')} -D -N {self.node} "
                  f"-f /etc/slurm/slurm.conf")
        self._spawn("slurmd", ["unshare", "-m", "--propagation", "private", "sh", "-c", script])
        self._wait(self._node_idle, "the node did not become idle", "slurmd", timeout=60)

    def _run(self, *argv):
        return subprocess.run(list(argv), env=self.environment(), capture_output=True, text=True, timeout=30)

    def _controller_up(self):
        return self._run("scontrol", "ping").returncode == 0

    def _node_idle(self):
        state = self._run("sinfo", "-h", "-N", "-o", "%T").stdout.split()
        return bool(state) and state[0].rstrip("*") in ("idle", "mixed", "allocated")

    def _wait(self, ready, problem, name, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.processes[name].poll() is not None:
                break
            if ready():
                return
            time.sleep(0.2)
        log = self.log(name)
        tail = log.read_text(errors="replace")[-600:] if log.exists() else ""
        stderr = (self.root / "log" / f"{name}.stderr").read_text(errors="replace")[-400:]
        raise SlurmError(f"{problem}: {(stderr + tail).strip()}")

    def jobs(self):
        """{job id: scontrol's fields} of every job slurmctld remembers (JobState, TRES, ...)."""
        out = self._run("scontrol", "-o", "show", "job").stdout
        jobs = {}
        for line in out.splitlines():
            fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
            if "JobId" in fields:
                jobs[fields["JobId"]] = fields
        return jobs

    def stop(self):
        """Stop the daemons (slurmd first) and remove the folder if this object made it."""
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self.processes.pop(name, None)
            if proc is None:
                continue
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)
