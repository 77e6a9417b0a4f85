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
