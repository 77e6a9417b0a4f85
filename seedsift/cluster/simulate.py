"""A discrete-event model of a cluster run: Snakemake's resource gating plus the placer's choice of
node, for a DAG, an inventory and job lengths. It answers "how long would this DAG take on that
cluster, and how busy would each node be" without the cluster, for the two ways of accounting:

* ``before``: one global ``gpu_slots`` (the sum of the inventory's slots) that every placed job
  takes, ``select_model`` without a job type, nodes tried in inventory order, and a placer that
  waits for a slot while holding its unit of ``gpu_slots`` (and its head cores);
* ``after``: the per-kind classes of :mod:`seedsift.cluster.accounting` (each job takes one unit of
  its own class), the node order, the priority of constrained waiters and the hand-over of a
  slot a constrained job released of :mod:`seedsift.cluster.locks` (the same functions and delay
  the placer uses), and ``cores`` sized by :func:`seedsift.cluster.accounting.cores_for`.

Snakemake's greedy scheduler is modelled as: whenever something ends, start every ready job, in
the DAG's order, whose resources fit. Stagger between starts on a node is modelled; ssh and copy
overheads are not (they are measured by ``make cluster-bench`` on loopback nodes).

The DAG comes from ``snakemake -n --forceall`` (:func:`jobs_from_dry_run`: each job's rule,
wildcards, threads, job type, inputs and outputs), the job lengths from a finished run's
``benchmarks/`` and snakemake log (:func:`durations_from_run`).
"""

import heapq
import itertools
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from seedsift.cluster import accounting
from seedsift.cluster.locks import HANDOVER_S, preference, yields_to

# Placed rules of the pipeline before per-kind accounting, and the job type each carried then.
BEFORE_PLACED = ("sieve_shard", "score_chunk", "train_fold", "select_model")


@dataclass
class SimJob:
    """One job of the DAG."""

    jobid: int
    rule: str
    wildcards: dict
    threads: int
    inputs: list
    outputs: list
    job_type: str | None = None  # None: a rule that runs on the head
    duration: float = 0.0
    deps: set = field(default_factory=set)

    @property
    def key(self):
        """``rule[k=v,...]``."""
        return f"{self.rule}[{','.join(f'{k}={v}' for k, v in self.wildcards.items())}]"


def jobs_from_dry_run(text):
    """The jobs of a ``snakemake -n`` output (with ``--forceall``), dependencies from their files."""
    jobs = []
    current = None
    for line in text.splitlines():
        m = re.match(r"(?:local)?rule (\w+):$", line)
        if m:
            current = {"rule": m.group(1), "wildcards": {}, "threads": 1, "inputs": [], "outputs": [], "resources": {}}
            jobs.append(current)
            continue
        if current is None:
            continue
        m = re.match(r"    (\w+): (.*)$", line)
        if not m:
            if not line.startswith("    "):
                current = None
            continue
        key, value = m.groups()
        if key in ("input", "output"):
            current[key + "s"] = [v for v in value.split(", ") if v]
        elif key == "jobid":
            current["jobid"] = int(value)
        elif key == "threads":
            current["threads"] = int(value)
        elif key in ("wildcards", "resources"):
            current[key] = dict(part.split("=", 1) for part in _split_pairs(value))
    out = []
    for spec in jobs:
        if "jobid" not in spec:
            continue
        out.append(SimJob(spec["jobid"], spec["rule"], spec["wildcards"], spec["threads"], spec["inputs"], spec["outputs"],
                          job_type=spec["resources"].get("job_type")))
    made_by = {path: job.jobid for job in out for path in job.outputs}
    for job in out:
        job.deps = {made_by[p] for p in job.inputs if p in made_by and made_by[p] != job.jobid}
    return out


def _split_pairs(text):
    # "a=1, b=x,y, c=2" -> ["a=1", "b=x,y", "c=2"]: a comma starts a new pair only before "name=".
    parts = re.split(r", (?=\w+=)", text)
    return [p for p in parts if "=" in p]


# --------------------------------------------------------------------------- job lengths


def _benchmark_seconds(path):
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return float(lines[1].split("\t")[0]) if len(lines) > 1 else None


def durations_from_run(workdir, jobs):
    """Set each job's ``duration`` from a finished run in ``workdir``: its benchmark file where the
    rule has one, else the start and finish times of its job in the newest snakemake log."""
    workdir = Path(workdir)
    from_log = _log_durations(workdir)
    missing = []
    for job in jobs:
        seconds = None
        bench = _benchmark_path(workdir, job)
        if bench is not None and bench.is_file():
            seconds = _benchmark_seconds(bench)
        if seconds is None:
            seconds = from_log.get((job.rule, tuple(sorted(job.wildcards.items()))))
        if seconds is None:
            missing.append(job.key)
            seconds = 0.0
        job.duration = seconds
    return missing


def _benchmark_path(workdir, job):
    if not job.outputs:
        return None
    out = job.outputs[0]
    if not out.startswith("results/"):
        return None
    return workdir / "benchmarks" / Path(out[len("results/"):]).with_suffix(".tsv")


def _log_durations(workdir):
    logs = sorted((workdir / ".snakemake" / "log").glob("*.snakemake.log"))
    if not logs:
        return {}
    text = logs[-1].read_text(encoding="utf-8", errors="replace")
    started, finished, ident = {}, {}, {}
    stamp = None
    current = None
    for line in text.splitlines():
        m = re.match(r"\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$", line)
        if m:
            stamp = datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y").timestamp()
            continue
        m = re.match(r"(?:local)?rule (\w+):$", line)
        if m:
            current = {"rule": m.group(1), "wildcards": (), "start": stamp}
            continue
        m = re.match(r"    wildcards: (.*)$", line)
        if m and current is not None:
            current["wildcards"] = tuple(sorted(tuple(p.split("=", 1)) for p in _split_pairs(m.group(1))))
            continue
        m = re.match(r"    jobid: (\d+)$", line)
        if m and current is not None:
            jid = int(m.group(1))
            ident[jid] = current  # its wildcards line may follow
            started[jid] = current["start"]
            continue
        m = re.match(r"Finished jobid: (\d+)", line)
        if m:
            finished[int(m.group(1))] = stamp
    return {(ident[j]["rule"], ident[j]["wildcards"]): max(0.0, finished[j] - started[j])
            for j in ident if j in finished and started.get(j) is not None}


# --------------------------------------------------------------------------- the model


@dataclass
class Schedule:
    """What a simulated run did."""

    policy: str
    makespan: float
    starts: dict            # jobid -> (start, end, node or "head", gpu slot)
    busy: dict              # node -> busy share of its slots over the makespan
    waited: dict            # jobid -> seconds a placer waited for a slot (holding its resource units)
    limits: dict
    cores: int
    idle_while_work_waited: float = 0.0  # slot-seconds a free slot stayed idle while a job that could use it waited

    def summary(self, inv, jobs):
        """A JSON-able summary: makespan, busy share per node and per kind, placement by job type."""
        by_id = {j.jobid: j for j in jobs}
        placed = {}
        for jid, (_, _, node, _) in self.starts.items():
            job = by_id[jid]
            if node != "head-local":
                kind = inv.node(node).gpu_kind
                placed.setdefault(job.job_type if job.rule == "train_fold" else job.rule, {}).setdefault(kind, 0)
                placed[job.job_type if job.rule == "train_fold" else job.rule][kind] += 1
        kinds = {}
        for node in inv.nodes:
            k = kinds.setdefault(node.gpu_kind, {"slots": 0, "busy_slot_s": 0.0})
            k["slots"] += node.concurrency
            k["busy_slot_s"] += self.busy[node.name] * node.concurrency * self.makespan
        return {
            "policy": self.policy,
            "makespan_s": round(self.makespan, 1),
            "limits": self.limits,
            "cores": self.cores,
            "busy_share_by_node": {n: round(v, 3) for n, v in self.busy.items()},
            "busy_share_by_kind": {k: round(v["busy_slot_s"] / (v["slots"] * self.makespan), 3) if self.makespan else 0.0
                                   for k, v in kinds.items()},
            "placed_jobs_by_type_and_kind": dict(sorted(placed.items())),
            "placer_wait_s": round(sum(self.waited.values()), 1),
            "idle_slot_s_while_work_waited": round(self.idle_while_work_waited, 1),
        }


def _before(inv, job):
    # The old profile: one global resource every placed job took, and select_model without a type.
    if job.rule not in BEFORE_PLACED:
        return None, {}
    job_type = job.job_type if job.rule == "train_fold" else job.rule
    return job_type, {"gpu_slots": 1}


def _after(inv, job):
    if job.job_type is None:
        return None, {}
    return job.job_type, accounting.request(inv, job.job_type)


def simulate(jobs, inv, policy="after", head_cores=16):
    """Run the model; returns a Schedule. ``head_cores`` is the head node's core count."""
    if policy == "before":
        limits = {"gpu_slots": sum(n.concurrency for n in inv.nodes)}
        cores = head_cores
        classify = _before
    elif policy == "after":
        limits = accounting.limits(inv)
        cores = accounting.cores_for(inv, head_cores)
        classify = _after
    else:
        raise ValueError(f"policy {policy!r}; allowed: before, after")
    order = sorted(jobs, key=lambda j: j.jobid)
    by_id = {j.jobid: j for j in order}
    free = dict(limits)
    free_cores = cores
    node_free = {n.name: n.concurrency for n in inv.nodes}
    node_gpu = {n.name: list(n.slots) for n in inv.nodes}
    last_start = {}
    done, admitted = set(), set()
    starts, waited = {}, {}
    busy = {n.name: 0.0 for n in inv.nodes}
    events = []  # (end time, sequence, jobid or None for a hand-over's end)
    seq = itertools.count()
    waiters = []  # [(since, seq, jobid, kinds)]
    claims = {}
    now = 0.0

    def kinds_of(job_type):
        if policy == "before":
            return frozenset(k for k in accounting.present_kinds(inv)
                             if job_type not in inv.job_types or k in inv.job_types[job_type])
        return frozenset(accounting.job_kinds(inv, job_type))

    handover = {n.name: [] for n in inv.nodes}  # node -> [(kinds, until)]

    def handed_over(node, kinds):
        handover[node.name] = [(k, u) for k, u in handover[node.name] if u > now]
        return any(k < kinds for k, _ in handover[node.name])

    def try_place(jid, kinds):
        nodes = [n for n in inv.nodes if n.gpu_kind in kinds]
        if policy == "after":
            nodes = preference(nodes, kinds, inv.job_types)
            others = [w[3] for w in waiters if w[2] != jid]
        else:
            others = []
        for node in nodes:
            if node_free[node.name] <= 0:
                continue
            if policy == "after" and (yields_to(node, kinds, others) or handed_over(node, kinds)):
                continue
            if policy == "after":
                taken = next((e for e in handover[node.name] if kinds <= e[0]), None)
                if taken is not None:
                    handover[node.name].remove(taken)
            node_free[node.name] -= 1
            gpu = node_gpu[node.name].pop(0)
            start = max(now, last_start.get(node.name, -1e18) + node.stagger_s)
            last_start[node.name] = start
            end = start + by_id[jid].duration
            starts[jid] = (start, end, node.name, gpu)
            busy[node.name] += end - start
            heapq.heappush(events, (end, next(seq), jid))
            return True
        return False

    def admit():
        nonlocal free_cores
        for job in order:
            if job.jobid in admitted or not job.deps <= done:
                continue
            job_type, need = classify(inv, job)
            threads = job.threads
            if threads > free_cores or any(free.get(r, 0) < n for r, n in need.items()):
                continue
            admitted.add(job.jobid)
            free_cores -= threads
            for r, n in need.items():
                free[r] -= n
            claims[job.jobid] = (threads, need)
            if job_type is None:
                starts[job.jobid] = (now, now + job.duration, "head-local", "")
                heapq.heappush(events, (now + job.duration, next(seq), job.jobid))
                continue
            kinds = kinds_of(job_type)
            job_kinds[job.jobid] = kinds
            if not try_place(job.jobid, kinds):
                waiters.append((now, len(waiters) + len(starts), job.jobid, kinds))

    job_kinds = {}
    idle_blocked = 0.0

    def blocked_idle_rate():
        # Free slots that a job held back (waiting for a slot, or ready but not admitted) could use.
        wanting = [w[3] for w in waiters]
        for job in order:
            if job.jobid not in admitted and job.deps <= done:
                job_type, _ = classify(inv, job)
                if job_type is not None:
                    wanting.append(kinds_of(job_type))
        return sum(node_free[n.name] for n in inv.nodes if any(n.gpu_kind in k for k in wanting))

    admit()
    while events:
        rate = blocked_idle_rate()
        idle_blocked += rate * (events[0][0] - now)
        now, _, jid = heapq.heappop(events)
        if jid is None:
            pass  # a hand-over expired: waiting placers look again
        else:
            done.add(jid)
            threads, need = claims.pop(jid)
            free_cores += threads
            for r, n in need.items():
                free[r] += n
            start, end, node, gpu = starts[jid]
            if node != "head-local":
                node_free[node] += 1
                node_gpu[node].append(gpu)
                if policy == "after":
                    handover[node].append((job_kinds[jid], now + HANDOVER_S))
                    heapq.heappush(events, (now + HANDOVER_S, next(seq), None))
        if events and events[0][0] == now:
            continue  # end everything that ends now before anyone looks for a slot
        # The waiting placers look again (they are awake before snakemake's next placer is): the
        # most constrained first (after), in arrival order (before); then snakemake starts the
        # next ready jobs.
        pending = sorted(waiters, key=(lambda w: (len(w[3]), w[0], w[1])) if policy == "after" else (lambda w: (w[0], w[1])))
        for w in pending:
            if try_place(w[2], w[3]):
                waiters.remove(w)
                waited[w[2]] = now - w[0]
        admit()
    makespan = max((e for _, e, _, _ in starts.values()), default=0.0)
    if len(done) != len(order):
        raise RuntimeError(f"the model stalled with {len(order) - len(done)} jobs not run (a job no node may run?)")
    share = {n.name: busy[n.name] / (n.concurrency * makespan) if makespan else 0.0 for n in inv.nodes}
    return Schedule(policy, makespan, starts, share, waited, limits, cores, idle_blocked)
