"""Node slots under a lock directory: one flock per job token and per GPU, start stagger, down markers.

Every placer of a run shares the lock directory (``.nodelocks/`` in the working directory, or
``SEEDSIFT_LOCKDIR``); a lock is a non-blocking ``flock``, so a killed placer frees its slot.
"""

import fcntl
import json
import os
import random
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from seedsift.errors import SeedsiftError
from seedsift.jsonio import atomic_write_text

POLL_S = 0.2


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
