"""The command a job runs under on its node: environment, GPU variables, the ssh command line, the probe."""

import os
import shlex
import subprocess

EXIT_SETUP = 126
# Set by snakemake from a job's threads (snakemake/shell.py); they describe the placer, not the job.
SNAKEMAKE_THREAD_VARIABLES = (
    "OMP_NUM_THREADS", "GOTO_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS",
)


def job_environment(node, gpu):
    """Variables the job sees: the node's ``env`` overrides, then its GPU and placement."""
    from seedsift.cluster.inventory import GPU_VARIABLE

    env = list(node.env)
    variable = GPU_VARIABLE[node.gpu_kind]
    if node.gpu_kind == "rocm":
        # ROCr picks the GPU for every ROCm runtime (HIP, OpenCL); HIP then numbers what ROCr left,
        # so in HIP's numbering the slot's GPU is 0 (the same id in both would hide it for ids > 0).
        env += [("ROCR_VISIBLE_DEVICES", gpu), (variable, "0")]
    elif variable:
        env.append((variable, gpu))
    env += [
        ("SEEDSIFT_NODE", node.name),
        ("SEEDSIFT_GPU", gpu if variable else ""),
        ("SEEDSIFT_GPU_KIND", node.gpu_kind),
    ]
    return env


def _die(message):
    return "{ printf '%s\\n' " + shlex.quote(f"seedsift.cluster.place: {message}") + f" >&2; exit {EXIT_SETUP}; }}"


def _activation(node):
    # The node's own environment: its setup text, its venv and PATH entries.
    q = shlex.quote
    lines = [
        # bash re-reads ~/.bashrc in nested shells while SSH_CLIENT is set, which can put another
        # python first on PATH; the job must run the project's python.
        "unset SSH_CLIENT SSH2_CLIENT",
    ]
    if node.setup:
        lines.append("{ " + node.setup + "\n} || " + _die(f"{node.name}: setup failed"))
    if node.venv:
        lines.append(f". {q(node.venv + '/bin/activate')} || " + _die(f"{node.name}: cannot activate {node.venv}"))
    if node.path:
        lines.append("PATH=" + ":".join(q(p) for p in node.path) + ':"$PATH"; export PATH')
    return lines


def code_environment(code_dir):
    """Shell text that makes the copied project importable on a node without the shared checkout
    (the node's environment has the requirements; the project itself is the copy in ``code_dir``)."""
    q = shlex.quote
    return f'PYTHONPATH={q(str(code_dir))}${{PYTHONPATH:+:$PYTHONPATH}}; export PYTHONPATH'


def remote_script(node, command, cwd, gpu, staged=None):
    """The POSIX shell text run on ``node``: every value in it is quoted with shlex.quote.

    ``setup`` is the one exception: it is shell text written by the inventory's owner. For a node
    with ``shared: false``, ``staged`` (a :class:`seedsift.cluster.staging.Stage`) gives the job's
    folder on the node, the copied code and the outputs to clear before the job starts.
    """
    q = shlex.quote
    workdir = str(staged.run_dir) if staged is not None else (node.workdir or str(cwd))
    # A staged job's folder exists once its inputs were copied; a job without inputs makes it.
    make = f"mkdir -p -- {q(workdir)} && " if staged is not None else ""
    lines = [
        f"{make}cd -- {q(workdir)} || " + _die(f"{node.name}: cannot cd to {workdir}"),
        *_activation(node),
        # -tt gives the job a terminal; keep its output's line ends as the job wrote them.
        "stty -onlcr 2>/dev/null",
    ]
    if staged is not None:
        lines.append(code_environment(staged.code_dir))
        lines += staged.prepare_outputs_shell()
        command = staged.node_command(command)
    lines.append("export " + " ".join(f"{k}={q(v)}" for k, v in job_environment(node, gpu)))
    lines.append("exec " + " ".join(q(str(a)) for a in command))
    return "\n".join(lines)


def check_script(node, python_code, args, cwd, code_dir=None):
    """Shell text that runs ``python -c python_code args...`` in the node's environment."""
    q = shlex.quote
    workdir = node.workdir or str(cwd)
    lines = [f"cd -- {q(workdir)} || " + _die(f"{node.name}: cannot cd to {workdir}"), *_activation(node)]
    if code_dir is not None:
        lines.append(code_environment(code_dir))
    lines.append("exec python -c " + q(python_code) + "".join(" " + q(str(a)) for a in args))
    return "\n".join(lines)


def shell_quote_for_rsync(arg):
    """One argument of rsync's ``-e`` command, which rsync splits on spaces and unquotes itself."""
    arg = str(arg)
    if not any(c in arg for c in " '\"\t\n"):
        return arg
    if "'" not in arg and "\n" not in arg:
        return f"'{arg}'"
    if '"' not in arg and "\n" not in arg:
        return f'"{arg}"'
    raise ValueError(f"{arg!r} cannot be passed to rsync -e (it holds both kinds of quotes)")


def rsync_shell(inv, node):
    """rsync's ``-e`` value: the same ssh command and options as every other connection."""
    return " ".join(shell_quote_for_rsync(a) for a in ssh_base(inv, node, tty=False)[:-1])


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


def ssh_base(inv, node, tty=True, master=False):
    """``ssh`` argv up to and including the destination (no shell involved on the head).

    With connection sharing on, an ordinary connection uses the node's master connection when
    one is up (and connects on its own when not); ``master=True`` gives the argv that starts one.
    """
    argv = ["ssh"]
    if tty:
        argv.append("-tt")
    if inv.ssh_config:
        argv += ["-F", inv.ssh_config]
    for key, value in inv.ssh_options:
        argv += ["-o", f"{key}={value}"]
    if inv.control is not None:
        path, persist = inv.control
        argv += ["-o", f"ControlPath={path}"]
        argv += ["-o", "ControlMaster=yes", "-o", f"ControlPersist={persist}"] if master else ["-o", "ControlMaster=no"]
    else:
        argv += ["-o", "ControlMaster=no", "-o", "ControlPath=none"]
    if node.port:
        argv += ["-p", str(node.port)]
    if node.user:
        argv += ["-l", node.user]
    return argv + [node.destination]


def stop_master(inv, node):
    """Close the node's shared connection (a node marked down: its sessions, which a hung node
    never closes, go with it)."""
    if node.local or inv.control is None:
        return
    try:
        subprocess.run(ssh_base(inv, node, tty=False)[:-1] + ["-O", "exit", node.destination], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
    except subprocess.TimeoutExpired:
        pass


def ensure_master(inv, node, lockdir):
    """Make sure the node's shared connection is up (start it in the background if not).

    Returns False when it cannot be started (the node does not answer); True otherwise, also
    when sharing is turned off or the node is the head.
    """
    import fcntl
    from pathlib import Path

    if node.local or inv.control is None:
        return True
    base = ssh_base(inv, node, tty=False)
    connect = float(dict(inv.ssh_options).get("ConnectTimeout", "10"))
    Path(lockdir).mkdir(parents=True, exist_ok=True)
    fd = os.open(Path(lockdir) / f"{node.name}.master.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        check = subprocess.run(base[:-1] + ["-O", "check", node.destination], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if check.returncode == 0:
            return True
        try:
            # -f: into the background once connected; nothing of ours stays open in it.
            started = subprocess.run(ssh_base(inv, node, tty=False, master=True)[:-1] + ["-f", "-N", node.destination],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     timeout=connect + 5)
        except subprocess.TimeoutExpired:
            return False
        return started.returncode == 0
    finally:
        os.close(fd)


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
