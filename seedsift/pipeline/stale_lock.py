"""A stale Snakemake lock: the one a run killed with kill -9 (or a crashed machine) leaves behind.

Snakemake locks a working directory with the files in ``.snakemake/locks/`` while it runs and
removes them when it ends. A run that could not end cleanly leaves them, and the next run stops
with "Directory cannot be locked" until someone finds ``snakemake --unlock``. The Snakefile calls
:func:`clear_stale_lock` while it is read (before Snakemake takes its lock): when lock files
exist and no live snakemake process works in the directory, they are removed and one line says
so. A lock held by a live snakemake is never touched; Snakemake then refuses to run, as it should.
"""

import os
from pathlib import Path

from seedsift.cluster.supervise import proc_stat

LOCKS = Path(".snakemake") / "locks"


def _argv(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return [a.decode("utf-8", "replace") for a in fh.read().split(b"\0") if a]
    except OSError:
        return None


def _state(pid):
    fields = proc_stat(pid)
    return fields[0].decode() if fields else None


def is_snakemake(argv):
    """True for the command line of a snakemake process (its script or ``python -m snakemake``)."""
    if not argv:
        return False
    if os.path.basename(argv[0]) == "snakemake":
        return True
    rest = argv[1:]
    if rest[:2] == ["-m", "snakemake"]:
        return True
    return bool(rest) and os.path.basename(rest[0]) == "snakemake"


def working_directory(pid, argv):
    """The directory snakemake process ``pid`` works in: its ``-d``/``--directory``, else its cwd.

    None when it cannot be told (another user's process): such a process counts as live here.
    """
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None
    for i, arg in enumerate(argv):
        value = None
        if arg in ("-d", "--directory") and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith("--directory="):
            value = arg.split("=", 1)[1]
        if value is not None:
            return os.path.realpath(os.path.join(cwd, value))
    return os.path.realpath(cwd)


def live_snakemakes(workdir, exclude=()):
    """PIDs of running snakemake processes that work in ``workdir`` (or that cannot be told apart)."""
    workdir = os.path.realpath(workdir)
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in exclude:
            continue
        pid = int(entry)
        argv = _argv(pid)
        if not is_snakemake(argv) or _state(pid) in (None, "Z"):
            continue
        where = working_directory(pid, argv)
        if where is None or where == workdir:
            found.append(pid)
    return found


def lock_files(workdir):
    """Snakemake's lock files in ``workdir``."""
    folder = Path(workdir) / LOCKS
    return sorted(folder.glob("*.lock")) if folder.is_dir() else []


def clear_stale_lock(workdir, own_pid=None):
    """Remove ``workdir``'s Snakemake lock when no other live snakemake works there.

    Returns the one line to print when a stale lock was removed, else None (no lock, or a live
    snakemake that owns it).
    """
    files = lock_files(workdir)
    if not files:
        return None
    own = os.getpid() if own_pid is None else own_pid
    if live_snakemakes(workdir, exclude={own}):
        return None
    for path in files:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
    return (f"seedsift: removed a stale snakemake lock in {os.path.realpath(workdir)} "
            "(no snakemake runs there: the last run was killed); continuing")
