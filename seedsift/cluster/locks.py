"""Node slots under a lock directory: one flock per job token and per GPU, start stagger, down
markers, waiting placers and once-per-run node preparation.

Every placer of a run shares the lock directory (``.nodelocks/`` in the working directory, or
``SEEDSIFT_LOCKDIR``); a lock is a non-blocking ``flock``, so a killed placer frees its slot.

A placer that finds no free slot does not poll: it registers as a waiter (a locked file under
``waiting/`` naming the GPU kinds it may use) and sleeps until a placer that releases a slot
touches ``released`` (inotify), with a timeout as the fallback for a placer that was killed
without saying so. When it looks for a slot it leaves a node to a waiter that has fewer kinds
to choose from (a CUDA-only job waiting for the CUDA node), it tries first the nodes that fewer
constrained job types need (a neural-net fold takes a ROCm rig before the CUDA node), and it
leaves a slot that a more constrained job has just released to the next such job for
``HANDOVER_S`` seconds (snakemake is usually starting it).
"""

import ctypes
import fcntl
import json
import os
import select
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from seedsift.cluster.supervise import proc_stat
from seedsift.errors import SeedsiftError
from seedsift.jsonio import atomic_write_text

# Longest sleep of a waiting placer between two looks at the slots (a killed placer frees its
# slot without touching `released`; a down marker expires without any event).
WAIT_S = 2.0
# How long a released slot stays reserved for jobs as constrained as the one that ended: long
# enough for snakemake to start the next of them, short enough not to idle the GPU.
HANDOVER_S = 2.0
RELEASED = "released"
WAITING = "waiting"


class PlacementError(SeedsiftError):
    """No node can take the job (none eligible, or every eligible node is down)."""


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
    atomic_write_text(path, json.dumps(state) + "\n")


@dataclass
class Slot:
    """A held (node, GPU slot); ``release()`` frees it and wakes the waiting placers."""

    node: object
    gpu: str
    fds: list
    lockdir: Path | None = None
    kinds: frozenset | None = None

    def release(self, clock=time.time):
        """Hand the slot over: reserve it for ``HANDOVER_S`` for jobs with no more kinds to choose
        from than this one's (the next of them is usually being started by snakemake), drop the
        locks (closing the descriptors releases the flocks), then wake the waiting placers."""
        held = bool(self.fds)
        if held and self.lockdir is not None and self.kinds is not None:
            _reserve(self.lockdir, self.node.name, self.kinds, clock)
        while self.fds:
            os.close(self.fds.pop())
        if held and self.lockdir is not None:
            signal_release(self.lockdir)


def _handovers(state, now):
    # The unexpired reservations of a node's state.
    entries = state.get("handover") if isinstance(state.get("handover"), list) else []
    return [e for e in entries if isinstance(e, dict) and isinstance(e.get("until"), (int, float)) and e["until"] > now
            and isinstance(e.get("kinds"), list)]


def _reserve(lockdir, name, kinds, clock):
    lockdir = Path(lockdir)
    with _held(lockdir / f"{name}.state.lock"):
        state = _read_state(lockdir / f"{name}.state.json")
        entries = _handovers(state, clock())
        entries.append({"kinds": sorted(kinds), "until": clock() + HANDOVER_S})
        state["handover"] = entries
        _write_state(lockdir / f"{name}.state.json", state)


def handover_until(lockdir, node, kinds, clock=time.time):
    """Until when ``node``'s free slots are reserved for jobs more constrained than ``kinds``, or None."""
    kinds = frozenset(kinds)
    state = _read_state(Path(lockdir) / f"{node.name}.state.json")
    blocking = [e["until"] for e in _handovers(state, clock()) if frozenset(e["kinds"]) < kinds]
    return max(blocking) if blocking else None


def signal_release(lockdir):
    """Touch ``released`` in ``lockdir``: every waiting placer wakes up and looks again."""
    path = Path(lockdir) / RELEASED
    try:
        os.utime(path)
    except FileNotFoundError:
        path.touch()


def take_slot(lockdir, node, kinds=None, clock=time.time):
    """Take a job token and the next free GPU slot of ``node`` in rotation for a job that may use
    GPU ``kinds``; None when the node is full, or its free slot is handed over to a more
    constrained job (see Slot.release)."""
    lockdir = Path(lockdir)
    kinds = frozenset(kinds) if kinds is not None else None
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
        entries = _handovers(state, clock())
        if kinds is not None and any(frozenset(e["kinds"]) < kinds for e in entries):
            os.close(token)
            return None
        start = state.get("next_slot", 0) if isinstance(state.get("next_slot"), int) else 0
        for i in range(len(slots)):
            index = (start + i) % len(slots)
            fd = try_lock(lockdir / f"{node.name}.slot-{slots[index]}.lock")
            if fd is not None:
                state["next_slot"] = (index + 1) % len(slots)
                if kinds is not None:
                    # This job takes one reservation made for its kind of job (or a broader one).
                    for e in entries:
                        if kinds <= frozenset(e["kinds"]):
                            entries.remove(e)
                            break
                state["handover"] = entries
                _write_state(state_file, state)
                return Slot(node, slots[index], [token, fd], lockdir, kinds)
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


def preference(nodes, kinds, job_types):
    """``nodes`` in the order a job that may use GPU ``kinds`` tries them.

    First the nodes whose kind fewer *more constrained* job types may use (types whose kinds are
    a strict subset of ``kinds``), so that a job with a choice leaves the scarce kind to the jobs
    without one; ties keep the inventory's order.
    """
    kinds = set(kinds)

    def contention(node):
        return sum(1 for allowed in job_types.values()
                   if node.gpu_kind in allowed and set(allowed) & kinds < kinds)

    return sorted(nodes, key=contention)


@dataclass
class Waiters:
    """The placers waiting for a slot, seen through their files under ``waiting/``."""

    lockdir: Path
    own: Path | None = None
    fd: int | None = None
    _seen: dict = field(default_factory=dict)

    def register(self, name, kinds):
        """Announce this placer as waiting for a slot of ``kinds`` (held until ``unregister``)."""
        folder = self.lockdir / WAITING
        folder.mkdir(parents=True, exist_ok=True)
        # Locked and written under a temporary name, then renamed: no other placer ever sees the
        # file unlocked and takes it for a dead waiter's.
        temp = folder / f".{name}.tmp"
        self.fd = try_lock(temp)
        if self.fd is None:
            return
        os.ftruncate(self.fd, 0)
        os.write(self.fd, (json.dumps({"kinds": sorted(kinds), "pid": os.getpid()}) + "\n").encode())
        self.own = folder / f"{name}.json"
        os.replace(temp, self.own)

    def unregister(self):
        """Stop waiting: remove the file and drop its lock."""
        if self.own is not None:
            try:
                self.own.unlink()
            except FileNotFoundError:
                pass
            self.own = None
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
            # A placer that yielded a node to us may take another free slot now.
            signal_release(self.lockdir)

    def others(self):
        """The GPU kinds (a frozenset each) of every other live waiting placer."""
        out = []
        for path in (self.lockdir / WAITING).glob("*.json"):
            if path == self.own:
                continue
            try:
                fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                free = True
            except BlockingIOError:
                free = False
            os.close(fd)
            if free:
                # Nobody holds it: its placer was killed while waiting.
                try:
                    path.unlink()
                except FileNotFoundError:
                    pass
                continue
            kinds = self._seen.get(path)
            if kinds is None:
                try:
                    kinds = frozenset(json.loads(path.read_text(encoding="utf-8"))["kinds"])
                except (OSError, ValueError, KeyError, TypeError):
                    continue
                self._seen[path] = kinds
            out.append(kinds)
        return out


def yields_to(node, kinds, waiting):
    """True when a waiting placer with fewer kinds to choose from needs ``node`` more than we do."""
    kinds = frozenset(kinds)
    return any(node.gpu_kind in other and other < kinds for other in waiting)


class _Wakeup:
    """Sleeps until ``released`` in the lock directory is touched (inotify), or a timeout."""

    IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE = 0x2, 0x4, 0x8

    def __init__(self, lockdir):
        path = Path(lockdir) / RELEASED
        path.touch(exist_ok=True)
        self.fd = None
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
            if fd >= 0 and libc.inotify_add_watch(fd, str(path).encode(), self.IN_MODIFY | self.IN_ATTRIB | self.IN_CLOSE_WRITE) >= 0:
                self.fd = fd
            elif fd >= 0:
                os.close(fd)
        except (OSError, AttributeError):
            self.fd = None

    def drain(self):
        """Forget the events seen so far (a look at the slots follows)."""
        if self.fd is None:
            return
        try:
            while os.read(self.fd, 4096):
                pass
        except BlockingIOError:
            pass

    def wait(self, timeout):
        """Block until a release is signalled or ``timeout`` seconds pass; True on a signal."""
        if self.fd is None:
            time.sleep(timeout)
            return False
        ready, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        return bool(ready)

    def close(self):
        """Stop watching."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def acquire(lockdir, nodes, kinds=None, job_types=None, name=None, clock=time.time, wait_s=WAIT_S, on_wait=None):
    """Block until a slot on one of ``nodes`` that is not marked down is free, and take it.

    ``kinds`` are the GPU kinds the job may use (default: those of ``nodes``) and ``job_types``
    the inventory's mapping (for the order of the nodes). Waiting costs no CPU: see the module
    docstring. ``on_wait`` is called once, when the placer starts to wait. Raises PlacementError
    when every node is marked down: waiting for the markers to expire would only hide a broken
    cluster.
    """
    lockdir = Path(lockdir)
    lockdir.mkdir(parents=True, exist_ok=True)
    kinds = frozenset(kinds if kinds is not None else {n.gpu_kind for n in nodes})
    ordered = preference(nodes, kinds, job_types or {})
    waiters = Waiters(lockdir)
    wakeup = _Wakeup(lockdir)
    registered = False
    try:
        while True:
            wakeup.drain()
            now = clock()
            down = {n.name: dead_until(lockdir, n.name, clock) for n in ordered}
            live = [n for n in ordered if down[n.name] is None]
            if not live:
                raise PlacementError(
                    f"{lockdir}: every eligible node is marked down ({', '.join(n.name for n in nodes)}); "
                    "delete its <node>.dead file once a node is back"
                )
            waiting = waiters.others()
            for node in live:
                if yields_to(node, kinds, waiting):
                    continue
                slot = take_slot(lockdir, node, kinds, clock)
                if slot is not None:
                    return slot
            if not registered:
                registered = True
                waiters.register(name or f"{os.getpid()}", kinds)
                if on_wait is not None:
                    on_wait()
                # Look once more: a slot may have been released before we were registered.
                continue
            expiry = [u - now for u in down.values() if u is not None]
            expiry += [u - now for u in (handover_until(lockdir, n, kinds, clock) for n in live) if u is not None]
            wakeup.wait(min([wait_s] + [max(0.05, e) for e in expiry]))
    finally:
        waiters.unregister()
        wakeup.close()


# --------------------------------------------------------------------------- once per run


def run_identity(pid):
    """``pid:start`` of process ``pid`` (its start time in clock ticks), or None when it is gone."""
    fields = proc_stat(pid)
    return f"{pid}:{fields[19].decode()}" if fields and len(fields) > 19 else None


def once_per_run(lockdir, node_name, what, run_id, check):
    """Run ``check()`` at most once per run for ``(node, what)``; returns its result (a string
    error, or None when all is well) and whether it was cached.

    ``check`` may raise; nothing is then remembered and the next placer runs it again (a node
    that was down during the check is not judged by it).
    """
    lockdir = Path(lockdir)
    lockdir.mkdir(parents=True, exist_ok=True)
    state_path = lockdir / f"{node_name}.{what}.json"
    with _held(lockdir / f"{node_name}.{what}.lock"):
        state = _read_state(state_path)
        if run_id is not None and state.get("run") == run_id and "error" in state:
            return state["error"], True
        error = check()
        _write_state(state_path, {"run": run_id, "error": error, "time": time.time()})
        return error, False
