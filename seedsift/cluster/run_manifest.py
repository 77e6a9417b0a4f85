"""The run manifest of a cluster run: ``results/cluster/run_manifest.json``.

Successor of the seed's ``scripts_run_manifest.json``. It is built from the placement log the
placer appends to (``logs/cluster/placements.jsonl``), restricted to the latest snakemake run
(the newest ``.snakemake/log/*.snakemake.log``, whose "Job stats" table also gives the number of
jobs the run planned per rule). For every job: its rule, wildcards, command and every attempt
(node, GPU slot, start, end, exit status, outcome); per node: attempts placed there (expected),
completed, failed and lost to the node going down; and run totals. It can be written at any
time, also after a failed or interrupted run: an attempt without an end record is "unfinished".
Per node it also gives its job limit and the most attempts that ever ran there at once (from
the attempts' start and end times), so a run shows that no node was over its limit.
"""

import json
import re
from datetime import datetime
from pathlib import Path

from seedsift.jsonio import write_json

# Appended to by every placer of a run (seedsift.cluster.place), read here.
PLACEMENT_LOG = Path("logs/cluster/placements.jsonl")
MANIFEST = Path("results/cluster/run_manifest.json")
SNAKEMAKE_LOGS = Path(".snakemake/log")
_LOG_NAME = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{6}\.\d+)\.snakemake\.log\Z")
# A record may carry a clock a little behind the log file's name (both come from the head's clock).
_SLACK_S = 2.0


def read_records(path):
    """Records of a placement log; a torn last line (a killed writer) is skipped and counted."""
    records, bad = [], 0
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return [], 0
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if isinstance(rec, dict) and rec.get("event") in ("start", "end") and "placement" in rec:
            records.append(rec)
        else:
            bad += 1
    return records, bad


def latest_snakemake_run(workdir):
    """(log path, start time as epoch seconds, planned jobs per rule) of the newest snakemake run.

    Returns (None, None, {}) when snakemake has not run in ``workdir`` (dry runs write no log).
    """
    logs = sorted(p for p in (Path(workdir) / SNAKEMAKE_LOGS).glob("*.snakemake.log") if _LOG_NAME.search(p.name))
    if not logs:
        return None, None, {}
    log = logs[-1]
    started = datetime.strptime(_LOG_NAME.search(log.name).group(1), "%Y-%m-%dT%H%M%S.%f").timestamp()
    return log, started, planned_jobs(log.read_text(encoding="utf-8", errors="replace"))


def planned_jobs(text):
    """The first "Job stats" table of a snakemake log as {rule: count} (without the total)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip() == "Job stats:":
            planned = {}
            for row in lines[i + 3 :]:
                parts = row.split()
                if len(parts) != 2 or not parts[1].isdigit():
                    break
                if parts[0] != "total":
                    planned[parts[0]] = int(parts[1])
            return planned
    return {}


# Outcomes of an attempt whose job then ran on another node (seedsift.cluster.place.MOVED).
MOVED = ("node_down", "disk_full", "env_missing")


def max_concurrent(spans):
    """The most (start, end) intervals that overlap at any moment (an end before a start at the same time)."""
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans], key=lambda ev: (ev[0], ev[1]))
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


def _iso(t):
    return datetime.fromtimestamp(t).astimezone().isoformat(timespec="milliseconds") if t is not None else None


def _job_key(start):
    # Attempts of one job share rule and wildcards; without wildcards the command names the job.
    if start.get("wildcards"):
        return (start.get("rule"), json.dumps(start["wildcards"], sort_keys=True))
    return (start.get("rule"), json.dumps(start.get("command"), sort_keys=True))


def build(records, planned=None, since=None, bad_lines=0):
    """The manifest mapping from placement records (see the module docstring)."""
    starts = {}
    ends = {}
    spans, limits = {}, {}
    for rec in records:
        key = (rec["placement"], rec.get("attempt"))
        if rec["event"] == "start":
            if since is None or rec.get("time", 0) >= since - _SLACK_S:
                starts[key] = rec
        else:
            ends[key] = rec
    jobs = {}
    for key, start in sorted(starts.items(), key=lambda kv: kv[1].get("time", 0)):
        end = ends.get(key)
        status = end.get("exit_status") if end else None
        attempt = {
            "node": start.get("node"),
            "gpu": start.get("gpu"),
            "gpu_kind": start.get("gpu_kind"),
            "via": start.get("via"),
            "shared": start.get("shared", True),
            "start": _iso(start.get("time")),
            "end": _iso(end.get("time")) if end else None,
            "seconds": round(end["time"] - start["time"], 3) if end else None,
            "exit_status": status,
            "outcome": end.get("outcome") if end else "unfinished",
        }
        for extra in ("reason", "copy_back_tries"):
            if end and end.get(extra) is not None:
                attempt[extra] = end[extra]
        job = jobs.setdefault(_job_key(start), {
            "rule": start.get("rule"),
            "wildcards": start.get("wildcards") or {},
            "job_type": start.get("job_type"),
            "command": start.get("command"),
            "attempts": [],
        })
        attempt["attempt"] = len(job["attempts"]) + 1
        job["attempts"].append(attempt)
        spans.setdefault(start.get("node"), []).append((start.get("time", 0), end["time"] if end else float("inf")))
        if start.get("limit") is not None:
            limits[start.get("node")] = start["limit"]

    nodes = {}
    totals = {"completed": 0, "failed": 0, "unfinished": 0, "attempts": 0, **{o: 0 for o in MOVED}}
    for job in jobs.values():
        last = job["attempts"][-1]
        job["node"], job["gpu"], job["exit_status"] = last["node"], last["gpu"], last["exit_status"]
        job["status"] = {"ok": "completed", "unfinished": "unfinished"}.get(last["outcome"], "failed")
        totals[job["status"]] += 1
        for att in job["attempts"]:
            totals["attempts"] += 1
            per = nodes.setdefault(att["node"], {
                "expected": 0, "completed": 0, "failed": 0, **{o: 0 for o in MOVED}, "unfinished": 0, "gpu_slots": {},
            })
            per["expected"] += 1
            outcome = att["outcome"]
            if outcome == "ok":
                per["completed"] += 1
            elif outcome in MOVED or outcome == "unfinished":
                per[outcome] += 1
                if outcome in MOVED:
                    totals[outcome] += 1
            else:
                per["failed"] += 1
            per["gpu_slots"][att["gpu"]] = per["gpu_slots"].get(att["gpu"], 0) + 1
    for name, per in nodes.items():
        per["limit"] = limits.get(name)
        per["max_concurrent"] = max_concurrent(spans.get(name, []))
    rules = sorted({job["rule"] for job in jobs.values()})
    planned = planned or {}
    expected = sum(planned.get(r, 0) for r in rules) if planned and all(r in planned for r in rules) else len(jobs)
    totals = {
        "expected": expected,
        "placed": len(jobs),
        "not_started": max(0, expected - len(jobs)),
        **totals,
    }
    return {
        "totals": totals,
        "planned_by_rule": {r: planned[r] for r in rules if r in planned},
        "nodes": dict(sorted(nodes.items())),
        "jobs": sorted(jobs.values(), key=lambda j: (j["rule"] or "", json.dumps(j["wildcards"], sort_keys=True))),
        "unreadable_log_lines": bad_lines,
    }


def write(workdir, output=None, only_if_placed=False):
    """Build the manifest of the latest run in ``workdir`` and write it atomically; returns its path.

    With ``only_if_placed`` nothing is written (and None returned) when the latest run placed no
    job, so that a local run does not replace the manifest of the last cluster run.
    """
    workdir = Path(workdir)
    records, bad = read_records(workdir / PLACEMENT_LOG)
    log, started, planned = latest_snakemake_run(workdir)
    if only_if_placed and not any(r["event"] == "start" and (started is None or r.get("time", 0) >= started - _SLACK_S)
                                  for r in records):
        return None
    manifest = {
        "run": {
            "snakemake_log": str(log.relative_to(workdir)) if log else None,
            "started": _iso(started),
            "placement_log": str(PLACEMENT_LOG),
            "written": _iso(datetime.now().timestamp()),
        },
        **build(records, planned, since=started, bad_lines=bad),
    }
    path = Path(output) if output else workdir / MANIFEST
    write_json(path, manifest)
    return path
