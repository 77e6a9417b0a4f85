"""A private SSH "cluster" on loopback addresses, for the cluster tests and the benchmark.

Each live node is its own ``sshd`` bound to one loopback address (127.0.0.2, 127.0.0.3, ...) with
host and client keys generated into a temporary folder; a node marked not live gets an address
where nothing listens. Nothing in ``/etc/ssh``, ``~/.ssh`` or ``/run`` is touched: every sshd runs
in a private mount namespace with a folder of ours bind-mounted over ``/run`` (sshd insists on
``/run/sshd``), which needs root. Clients use the generated ``ssh_config`` (BatchMode, checked host
keys from a generated known_hosts). ``kill(name)`` makes a node die like a crashed machine: its
sshd and every session and job under it are SIGKILLed; ``freeze(name)`` makes it hang like a
machine whose kernel still accepts connections (SIGSTOP of the same processes).

A node with ``shared=False`` gets its own work folder (``workdir``) and the inventory says
``shared: false``, so the placer copies files there; with ``disk_mb`` that folder is a tmpfs of
that size mounted in the node's private mount namespace only, so its disk can really fill up.
"""

import getpass
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from seedsift.errors import SeedsiftError

SSHD = "/usr/sbin/sshd"


class LoopbackError(SeedsiftError):
    """The loopback cluster cannot start here."""


@dataclass
class LoopbackNode:
    """One node: its name (the ssh alias), loopback address and inventory entries."""

    name: str
    address: str
    live: bool = True
    gpu_kind: str = "none"
    gpus: list = field(default_factory=list)
    max_jobs: int = 1
    env: dict = field(default_factory=dict)
    shared: bool = True
    disk_mb: int | None = None
    extra: dict = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen | None = None
    workdir: Path | None = None


def unavailable_reason():
    """Why a loopback cluster cannot run on this machine, or None when it can."""
    sshd = shutil.which("sshd") or SSHD
    if not os.path.exists(sshd):
        return f"{sshd} is missing (install openssh-server: bash .ci/system-deps.sh)"
    for tool in ("ssh", "ssh-keygen", "unshare", "mount"):
        if shutil.which(tool) is None:
            return f"{tool} is not on PATH"
    if os.geteuid() != 0:
        return "starting a private sshd in its own mount namespace needs root"
    return None


def _free_port(address):
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def _wait_listening(address, port, proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection((address, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def _children():
    # {pid: [child pids]} from /proc.
    tree = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(b")") + 2 :].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def descendants(pid):
    """PIDs of every process below ``pid`` (children first listed after their parent)."""
    tree, out, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


class LoopbackCluster:
    """Start with ``with LoopbackCluster(nodes) as cluster:``; everything stops on exit."""

    def __init__(self, nodes, root=None):
        self.nodes = {n.name: n for n in nodes}
        self._own_root = root is None
        self.root = Path(root or tempfile.mkdtemp(prefix="seedsift-loopback-"))
        self.ssh_config = self.root / "ssh_config"
        self.user = getpass.getuser()

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def _keygen(self, name):
        path = self.root / name
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)], check=True)
        return path

    def start(self):
        """Generate keys and configs, start one sshd per live node; raises LoopbackError."""
        reason = unavailable_reason()
        if reason:
            raise LoopbackError(reason)
        (self.root / "run" / "sshd").mkdir(parents=True, exist_ok=True)
        os.chmod(self.root / "run" / "sshd", 0o755)
        host_key = self._keygen("host_key")
        client_key = self._keygen("client_key")
        shutil.copy(f"{client_key}.pub", self.root / "authorized_keys")
        host_pub = " ".join(Path(f"{host_key}.pub").read_text().split()[:2])
        known, hosts = [], []
        for node in self.nodes.values():
            if not node.shared:
                node.workdir = self.root / f"work-{node.name}"
                node.workdir.mkdir(parents=True, exist_ok=True)
            node.port = _free_port(node.address) if node.live else _free_port("127.0.0.1")
            known.append(f"[{node.address}]:{node.port} {host_pub}")
            hosts.append(f"Host {node.name}\n  HostName {node.address}\n  Port {node.port}\n")
        (self.root / "known_hosts").write_text("\n".join(known) + "\n")
        self.ssh_config.write_text("\n".join(hosts) + "\n".join([
            "Host *",
            f"  User {self.user}",
            f"  IdentityFile {client_key}",
            "  IdentitiesOnly yes",
            f"  UserKnownHostsFile {self.root / 'known_hosts'}",
            "  GlobalKnownHostsFile /dev/null",
            "  StrictHostKeyChecking yes",
            "  BatchMode yes",
            "  ConnectTimeout 5",
            "  LogLevel ERROR",
            # The default post-quantum key exchange costs about 0.1 s more per connection.
            "  KexAlgorithms curve25519-sha256",
            "",
        ]))
        for node in self.nodes.values():
            if node.live:
                self.start_node(node.name)

    def sshd_log(self, name):
        """Path of node ``name``'s sshd log (LogLevel VERBOSE: one line per accepted login)."""
        return self.root / f"sshd-{name}.log"

    def start_node(self, name):
        """Start (or restart) node ``name``'s sshd."""
        node = self.nodes[name]
        config = self.root / f"sshd-{name}.conf"
        config.write_text("\n".join([
            f"ListenAddress {node.address}:{node.port}",
            f"HostKey {self.root / 'host_key'}",
            f"PidFile {self.root / f'sshd-{name}.pid'}",
            f"AuthorizedKeysFile {self.root / 'authorized_keys'}",
            # The keys live under /tmp, which is world-writable: sshd's ownership check would refuse them.
            "StrictModes no",
            "UsePAM no",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "PermitRootLogin prohibit-password",
            f"AllowUsers {self.user}",
            "UseDNS no",
            "PrintMotd no",
            "PrintLastLog no",
            "X11Forwarding no",
            "AllowTcpForwarding no",
            "LogLevel VERBOSE",
            "MaxStartups 200:30:400",
            "MaxSessions 200",
            "",
        ]))
        run = self.root / "run"
        script = f"mount --bind {_q(run)} /run && "
        if node.disk_mb is not None:
            script += f"mount -t tmpfs -o size={int(node.disk_mb)}m seedsift-disk {_q(node.workdir)} && "
        script += f"exec {_q(shutil.which('sshd') or SSHD)} -D -f {_q(config)} -E {_q(self.sshd_log(name))}"
        node.process = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        if not _wait_listening(node.address, node.port, node.process):
            err = node.process.stderr.read().decode(errors="replace") if node.process.poll() is not None else ""
            self.kill(name)
            log = self.sshd_log(name).read_text(errors="replace") if self.sshd_log(name).exists() else ""
            raise LoopbackError(f"sshd for {name} on {node.address}:{node.port} did not start: {(err + log).strip()[-500:]}")

    def kill(self, name):
        """Kill node ``name`` like a crash: SIGKILL its sshd and every session and job under it."""
        node = self.nodes[name]
        proc, node.process = node.process, None
        if proc is None:
            return
        victims = [proc.pid] + descendants(proc.pid)
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()
        if proc.stderr:
            proc.stderr.close()

    def _processes(self, name):
        proc = self.nodes[name].process
        return [] if proc is None else [proc.pid] + descendants(proc.pid)

    def freeze(self, name):
        """Make node ``name`` hang: SIGSTOP its sshd and every session and job under it. The
        kernel still accepts new connections, which then get no answer."""
        for pid in self._processes(name):
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                pass

    def thaw(self, name):
        """Undo ``freeze``."""
        for pid in self._processes(name):
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass

    def ssh(self, name, command, **kw):
        """Run the shell ``command`` on node ``name`` (over its sshd, as a job would)."""
        return subprocess.run(["ssh", "-F", str(self.ssh_config), name, command], capture_output=True, text=True,
                              timeout=kw.pop("timeout", 60), **kw)

    def stop(self):
        """Stop every node and remove the folder if this object created it."""
        for name in list(self.nodes):
            self.kill(name)
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def logins(self, name):
        """Number of accepted logins in node ``name``'s sshd log."""
        path = self.sshd_log(name)
        return path.read_text(errors="replace").count("Accepted publickey") if path.exists() else 0

    def write_inventory(self, path, path_dirs=(), env=None, **top):
        """Write an inventory of the nodes (ssh aliases, this cluster's ssh config) to ``path``;
        a node's ``extra`` entries (job_timeout_s, rsync, path, ...) override the rest."""
        nodes = {}
        for node in self.nodes.values():
            spec = {"ssh": node.name, "gpu_kind": node.gpu_kind, "max_jobs": node.max_jobs}
            if node.gpus:
                spec["gpus"] = list(node.gpus)
            if path_dirs:
                spec["path"] = [str(p) for p in path_dirs]
            merged = {**(env or {}), **node.env}
            if merged:
                spec["env"] = merged
            if not node.shared:
                spec["shared"] = False
                spec["workdir"] = str(node.workdir)
            for key, value in node.extra.items():
                spec[key] = list(value) + spec.get(key, []) if key == "path" else value
            nodes[node.name] = spec
        data = {"ssh_config": str(self.ssh_config), "nodes": nodes, **top}
        Path(path).write_text(yaml.safe_dump(data, sort_keys=False))
        return Path(path)


def _q(value):
    import shlex

    return shlex.quote(str(value))
