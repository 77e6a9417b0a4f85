"""Where a run stands, per pipeline step: ``make status`` (people) and ``--json`` (agents).

For every step manifest (in pipeline_step order):

* state, from Snakemake's own view (``snakemake --detailed-summary``): ``missing`` when an output
  of the step's rules does not exist, ``stale`` when all exist but Snakemake would rebuild some
  (its plan column says "update pending": changed inputs, params or code) or an input they were
  made from no longer exists, ``done`` otherwise. Snakemake itself does not rebuild a deleted
  intermediate file while the outputs made from it exist (its plan says "no update"); such a
  step is reported missing with that hint (``make rerun-missing`` rebuilds it), and the steps
  made from it stale;
* key metrics read from the step's summary file when it exists, and whether the step's
  success criteria were met (``agent_metadata.success_criteria_met`` of that file);
* the adjustable parameters: every config key of the step with its allowed range
  (``seedsift.manifests.describe``), default and the value the run's config files give it.

    python scripts/status.py [--json] [-- snakemake options]

Snakemake options are passed to ``snakemake --summary`` (e.g. ``--configfile``, ``-d``); the
summary files are read from the working directory they name (``-d``/``--directory``).
"""

import copy
import subprocess
from pathlib import Path

import yaml

from seedsift import manifests
from seedsift.errors import SeedsiftError
from seedsift.jsonio import read_json
from seedsift.pipeline.config import validate
from seedsift.pipeline.rerun import SummaryError, parse_summary, snakemake_executable

FORMAT = "seedsift.status/1"
MISSING_SHOWN = 5
BOUND_KEYS = ("min", "max", "choices", "items", "min_items", "nullable", "log")
STATES = {
    "done": "every output exists and Snakemake would not rebuild it",
    "stale": "every output exists but Snakemake would rebuild some (changed inputs, code or params, "
             "here or in an earlier step), or some were made from an output that is now missing",
    "missing": "an output does not exist",
}


# -- Snakemake's view ----------------------------------------------------------------------------
def snakemake_rows(snakemake_args, cwd=None):
    """Rows of ``snakemake ARGS --detailed-summary`` (output_file, date, rule, log-file(s),
    input-file(s), shellcmd, status, plan)."""
    done = subprocess.run([snakemake_executable(), *snakemake_args, "--detailed-summary"], cwd=cwd,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        raise SummaryError(f"snakemake --detailed-summary failed (exit {done.returncode}): {tail}")
    return parse_summary(done.stdout)


def _inputs(row):
    return [f for f in row.get("input-file(s)", "").split(",") if f and f != "-"]


def tainted_outputs(rows):
    """Existing outputs made, directly or through other outputs, from an output that is missing."""
    tainted = {r["output_file"] for r in rows if r["status"] == "missing"}
    missing = set(tainted)
    grew = True
    while grew:
        grew = False
        for r in rows:
            if r["output_file"] not in tainted and tainted.intersection(_inputs(r)):
                tainted.add(r["output_file"])
                grew = True
    return tainted - missing


def step_state(rows, tainted=()):
    """(state, reasons, missing files, notes) of one step from its rows of the summary.

    ``reasons`` counts Snakemake's status column ("missing", "updated input files", ...).

    ``tainted``: existing outputs made from a missing one (``tainted_outputs``); a step with
    such an output is stale even where Snakemake's plan says "no update".
    """
    if not rows:
        return "not in the workflow", {}, [], []
    missing = [r["output_file"] for r in rows if r["status"] == "missing"]
    reasons = {}
    for r in rows:
        if r["status"] != "ok":
            reasons[r["status"]] = reasons.get(r["status"], 0) + 1
    if missing:
        notes = []
        if all(r["plan"] == "no update" for r in rows if r["status"] == "missing"):
            notes.append("Snakemake will not rebuild this while outputs made from it exist: make rerun-missing does")
        return "missing", reasons, missing, notes
    stale = [r["output_file"] for r in rows if r["output_file"] in set(tainted)]
    if stale:
        return "stale", reasons, [], [f"made from an output that is now missing ({len(stale)} of {len(rows)} outputs)"]
    if any(r["plan"] != "no update" for r in rows):
        return "stale", reasons, [], []
    return "done", reasons, [], []


# -- the run's config ----------------------------------------------------------------------------
def option_values(args, *names):
    """Values following any of the options ``names`` in a snakemake argument list."""
    values, i = [], 0
    while i < len(args):
        arg = args[i]
        key, eq, inline = arg.partition("=")
        if key in names:
            if eq:
                values.append(inline)
            else:
                i += 1
                while i < len(args) and not args[i].startswith("-"):
                    values.append(args[i])
                    i += 1
                continue
        i += 1
    return values


def workdir_of(args, cwd=None):
    """The working directory snakemake runs in (``-d``/``--directory``, else ``cwd``)."""
    named = option_values(args, "-d", "--directory")
    base = Path(cwd or ".")
    return base / named[-1] if named else base


def _deep_update(base, extra):
    out = copy.deepcopy(base)
    for key, value in (extra or {}).items():
        out[key] = _deep_update(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def effective_config(args, cwd=None):
    """(validated config, error) from config.yaml and every ``--configfile`` in ``args``.

    ``--config KEY=VALUE`` overrides on the command line are not applied here.
    """
    config = yaml.safe_load((manifests.REPO_ROOT / "config.yaml").read_text(encoding="utf-8")) or {}
    for name in option_values(args, "--configfile", "--configfiles"):
        path = Path(name) if Path(name).is_absolute() else Path(cwd or ".") / name
        try:
            config = _deep_update(config, yaml.safe_load(path.read_text(encoding="utf-8")) or {})
        except OSError as exc:
            return None, f"{path}: {exc.strerror}"
    try:
        return validate(config), None
    except SeedsiftError as exc:
        return None, str(exc)


def _lookup(config, key):
    node = config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def parameters(manifest, config):
    """The step's config parameters: key, type, allowed range, default and the run's value."""
    out = []
    for name, bound in manifest["parameter_bounds"].items():
        if bound.get("cli_only") or "search_space" in bound:
            continue
        key = manifests.config_key(manifest, name)
        out.append({"key": key, "type": bound["type"], "allowed": manifests.describe(bound),
                    "bounds": {k: bound[k] for k in BOUND_KEYS if k in bound},
                    "default": bound["default"], "value": _lookup(config, key) if config else None})
    return out


def search_space_size(manifest):
    """Hyper-parameter ranges the step samples trials from (bounds in the same manifest)."""
    return sum(1 for b in manifest["parameter_bounds"].values() if "search_space" in b)


# -- key metrics ---------------------------------------------------------------------------------
def _draws(doc):
    return {k: doc.get(k) for k in ("n_draws", "n_train", "n_holdout", "n_test", "synthetic", "mod")}


def _sieve(doc):
    return {k: doc.get(k) for k in ("forward_survivors", "expected_false_forward", "bidirectional_survivors",
                                    "expected_false_bidirectional", "chance_note")}


def _scoring(doc):
    return {k: doc.get(k) for k in ("scored_survivors", "feature_count", "chance_holdout_quality",
                                    "holdout_quality_max")}


def _plan(doc):
    sq = doc.get("signal_quality") or {}
    data = doc.get("data") or {}
    return {"n_survivors": data.get("n_survivors"), "n_features": data.get("n_features"),
            "fit_rows_per_fold": data.get("fit_rows_per_fold"), "signal_status": sq.get("signal_status"),
            "signal_reason": sq.get("reason")}


def _training(doc):
    if doc.get("status") != "ok":
        return {"status": doc.get("status"), "reason": doc.get("reason"), "chosen": None}
    test = doc["per_type"][doc["chosen"]]["test"]
    return {"status": "ok", "chosen": doc["chosen"], "test_r2": test["r2"], "test_mse": test["mse"],
            "baseline_mse": test["baseline_mse"], "beats_baseline": test["beats_baseline"], "n_test": test["n_test"],
            "selection": bool((doc.get("selection") or {}).get("enabled"))}


def _prediction(doc):
    return {"status": doc.get("status"), "reason": doc.get("reason"), "next_draw_top_k": doc.get("predictions"),
            "model_type": (doc.get("metadata") or {}).get("model_type")}


def _evaluation(doc):
    return {"verdict": doc.get("verdict"), "reason": doc.get("reason"), "prediction_status": doc.get("prediction_status"),
            "lift": (doc.get("lift") or {}).get("verdict")}


def _summary(doc):
    planted = doc.get("planted") or {}
    return {"verdict": (doc.get("evaluation") or {}).get("verdict"),
            "planted_seed_survived": planted.get("bidirectional_survivor") if planted else None}


def _report(doc):
    return {"families": len(doc.get("families") or {}), "window": doc.get("window")}


# Step name -> (the file its metrics and success criteria are read from, extractor).
METRICS = {
    "data": ("results/data/draw_history_summary.json", _draws),
    "sieve": ("results/sieve/sieve_summary.json", _sieve),
    "scoring": ("results/scoring/scoring_summary.json", _scoring),
    "training_plan": ("results/training/reinforcement_engine_config.json", _plan),
    "training": ("results/training/model/model_comparison.json", _training),
    "prediction": ("results/prediction/predictions.json", _prediction),
    "evaluation": ("results/prediction/evaluation.json", _evaluation),
    "summary": ("results/report/summary.json", _summary),
    "report": ("results/report/forward_matches.json", _report),
}


def step_metrics(name, workdir):
    """(metrics file, metrics, success_criteria_met, success criteria) of a step; Nones when absent."""
    if name not in METRICS:
        return None, None, None, None
    name, extract = METRICS[name]
    path = Path(workdir) / name
    if not path.is_file():
        return name, None, None, None
    try:
        doc = read_json(path)
    except SeedsiftError as exc:
        return name, {"error": str(exc)}, None, None
    meta = doc.get("agent_metadata") or {}
    return name, extract(doc), meta.get("success_criteria_met"), meta.get("success_criteria")


# -- the whole picture ---------------------------------------------------------------------------
def collect(snakemake_args, cwd=None):
    """The status document: one entry per step, in pipeline_step order."""
    rows = snakemake_rows(snakemake_args, cwd)
    workdir = workdir_of(snakemake_args, cwd)
    config, config_error = effective_config(snakemake_args, cwd)
    by_rule = {}
    for r in rows:
        by_rule.setdefault(r["rule"], []).append(r)
    tainted = tainted_outputs(rows)
    steps = []
    stages = [(number, step, stem, m) for stem, m in manifests.load_all().items()
              for number, step in manifests.steps(m).items()]
    for number, step, stem, m in sorted(stages, key=lambda s: s[0]):
        step_rows = [r for rule in step["rules"] for r in by_rule.get(rule, [])]
        state, reasons, missing, notes = step_state(step_rows, tainted)
        metrics_file, metrics, met, criteria = step_metrics(step["name"], workdir)
        steps.append({
            "pipeline_step": number, "name": step["name"], "manifest": f"manifests/{stem}.json",
            "rules": step["rules"], "state": state, "outputs": len(step_rows), "reasons": reasons,
            "missing": missing, "notes": notes, "metrics_file": metrics_file, "metrics": metrics,
            "success_metrics": m["success_metrics"], "success_criteria_met": met, "success_criteria": criteria,
            "parameters": parameters(m, config), "search_space_parameters": search_space_size(m),
        })
    return {"format": FORMAT, "workdir": str(workdir), "config_error": config_error, "states": STATES,
            "steps": steps}


# -- text for people -----------------------------------------------------------------------------
def _num(x):
    if x is None:
        return "n/a"
    if isinstance(x, bool):
        return str(x).lower()
    if isinstance(x, int):
        return f"{x:,}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def metrics_line(stem_name, m):
    """One line of a step's key metrics."""
    if not m:
        return "no summary file yet"
    if "error" in m:
        return m["error"]
    lines = {
        "data": lambda: f"{_num(m['n_draws'])} draws ({'synthetic' if m['synthetic'] else 'from a file'}): "
                                f"train {_num(m['n_train'])}, holdout {_num(m['n_holdout'])}, test {_num(m['n_test'])}",
        "sieve": lambda: f"survivors: forward {_num(m['forward_survivors'])} (chance {_num(m['expected_false_forward'])}), "
                              f"bidirectional {_num(m['bidirectional_survivors'])} "
                              f"(chance {_num(m['expected_false_bidirectional'])})",
        "scoring": lambda: f"scored {_plural(m['scored_survivors'], 'survivor')}, {_num(m['feature_count'])} features, "
                                f"best holdout quality {_num(m['holdout_quality_max'])} "
                                f"(chance {_num(m['chance_holdout_quality'])})",
        "training_plan": lambda: f"{_num(m['n_survivors'])} survivors x {_num(m['n_features'])} features, "
                                 f"{_num(m['fit_rows_per_fold'])} rows per fold; label signal {m['signal_status']}",
        "training": lambda: (f"{'chosen' if m.get('selection') else 'kept (no choice made)'} {m['chosen']}: "
                             f"test R² {_num(m['test_r2'])}, MSE {_num(m['test_mse'])} "
                             f"vs baseline {_num(m['baseline_mse'])} on {_plural(m['n_test'], 'test survivor')}"
                             if m.get("status") == "ok" else f"no model: {m.get('reason')}"),
        "prediction": lambda: (f"{m['status']}: next draw top {len(m['next_draw_top_k'] or [])} "
                               f"{m['next_draw_top_k']} ({m['model_type']})" if m["status"] == "OK"
                               else f"{m['status']}: {m['reason']}"),
        "evaluation": lambda: f"verdict {m['verdict']}: {m['reason']}; what the model adds: {m.get('lift')}",
        "summary": lambda: f"verdict {m['verdict']}"
                               + ("" if m["planted_seed_survived"] is None
                                  else f"; planted seed {'survived' if m['planted_seed_survived'] else 'lost'} the sieve"),
        "report": lambda: f"forward-match counts for {_num(m['families'])} families",
    }
    make = lines.get(stem_name)
    return make() if make else ", ".join(f"{k} {_num(v)}" for k, v in m.items())


def _criteria(step):
    met = step["success_criteria_met"]
    if not step["success_metrics"]:
        return "(no success criteria)"
    if met is None:
        return "criteria: not recorded" if step["metrics"] else ""
    failed = [k for k, d in (step["success_criteria"] or {}).items() if not d["met"]]
    return "criteria met" if met else f"criteria NOT met ({', '.join(failed)})"


def render(status, show_parameters=True):
    """Plain-text status for people."""
    lines = [f"seedsift status of {status['workdir']} (Snakemake's view: snakemake --detailed-summary)"]
    if status["config_error"]:
        lines.append(f"config: {status['config_error']}")
    for step in status["steps"]:
        state = step["state"]
        reasons = {why: n for why, n in step["reasons"].items() if why != "missing"}
        if reasons and state != "done":
            state += " (" + ", ".join(f"{n} {why}" for why, n in sorted(reasons.items())) + ")"
        lines.append("")
        lines.append(f"Step {step['pipeline_step']} {step['name']:<22} {state:<12} {_criteria(step)}".rstrip())
        lines.append(f"  {metrics_line(step['name'], step['metrics'])}")
        if step["missing"]:
            shown = step["missing"][:MISSING_SHOWN]
            more = len(step["missing"]) - len(shown)
            lines.append(f"  missing: {' '.join(shown)}" + (f" and {more} more" if more > 0 else ""))
        for note in step["notes"]:
            lines.append(f"  note: {note}")
        if show_parameters and step["parameters"]:
            lines.append("  parameters (config key = value; allowed; default):")
            for p in step["parameters"]:
                lines.append(f"    {p['key']} = {_value(p['value'])}; {p['allowed']}; default {_value(p['default'])}")
        if show_parameters and step["search_space_parameters"]:
            lines.append(f"    and {step['search_space_parameters']} hyper-parameter ranges trials sample from "
                         f"(bounds in {step['manifest']})")
    lines.append("")
    counts = {}
    for step in status["steps"]:
        counts[step["state"]] = counts.get(step["state"], 0) + 1
    lines.append("Steps: " + ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
                 + ". make run brings missing and stale steps up to date (make rerun-missing where "
                 "Snakemake will not rebuild a deleted file).")
    for state, meaning in STATES.items():
        lines.append(f"  {state}: {meaning}")
    return "\n".join(lines)


def _plural(n, word):
    return f"{_num(n)} {word}" if n == 1 else f"{_num(n)} {word}s"


def _value(v):
    if isinstance(v, bool):
        return str(v).lower()
    if v is None:
        return "null"
    return str(v)
