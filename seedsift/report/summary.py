"""The run summary printed at the end of ``make run``: what was found, next to chance."""

from seedsift.jsonio import atomic_write_text, iter_records, read_json, write_json
from seedsift.prng.hypothesis import is_planted
from seedsift.provenance import agent_metadata, parent_run_id_of
from seedsift.sieve import recover
from seedsift.sieve.state import render_lines as state_lines


def _fmt_expected(x):
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 0.01:
        return f"{x:.2f}"
    return f"{x:.1e}"


def _fmt_devices(devices):
    """Where a call's shards ran: "gpu/cuda", or "cpu/numba x3 + gpu/cuda x1" when they differ."""
    if not devices:
        return "-"
    if len(devices) == 1:
        return next(iter(devices))
    return " + ".join(f"{label} x{n}" for label, n in sorted(devices.items()))


def planted_rank(truth, bidirectional_path, n_draws=1000):
    """Where the planted seed stands among the bidirectional survivors (None if not planted); a
    recovered state counts when it makes the planted draws at the first ``n_draws`` positions."""
    if not truth.get("synthetic"):
        return None
    found = None
    same_family = 0
    for _, rec in iter_records(bidirectional_path):
        if rec["prng_type"] != truth["prng"]:
            continue
        same_family += 1
        if is_planted(rec, truth, n_draws, truth["mod"]):
            found = rec
    return {
        "prng": truth["prng"], "seed": truth["seed"], "skip": truth["skip"],
        "bidirectional_survivor": found is not None,
        "forward_matches": found["forward_matches"] if found else None,
        "reverse_matches": found["reverse_matches"] if found else None,
        "family_survivors": same_family,
    }


def build(data, truth, sieve, bidirectional, scoring, comparison, predictions, evaluation, recovered=None):
    """Collect the headline figures of every step into one dict (arguments are file paths)."""
    truth_doc = read_json(truth)
    evaluation_doc = read_json(evaluation)
    pred = read_json(predictions)
    data_doc = read_json(data)
    return {
        "data": data_doc,
        "sieve": read_json(sieve),
        "planted": planted_rank(truth_doc, bidirectional, data_doc.get("n_draws", 1000)),
        "recovered": read_json(recovered) if recovered else None,
        "scoring": read_json(scoring),
        "training": read_json(comparison),
        "prediction": {k: pred.get(k) for k in ("status", "reason", "predictions", "confidence_scores",
                                                "top_survivors", "metadata")},
        "evaluation": {k: v for k, v in evaluation_doc.items() if k != "agent_metadata"},
        "agent_metadata": agent_metadata(
            "report", step=8, inputs=[data, sieve, scoring, comparison, predictions, evaluation],
            outputs=[], parent_run_id=parent_run_id_of(evaluation_doc), params=None,
        ),
    }


def render(summary):
    """Plain-text summary for people."""
    d, s = summary["data"], summary["sieve"]
    lines = [
        "seedsift run summary",
        "====================",
        f"Draws: {d['n_draws']} ({'synthetic' if d['synthetic'] else d['source']}), mod {d['mod']}; "
        f"train {d['n_train']}, holdout {d['n_holdout']}, test {d['n_test']}.",
        "",
    ]
    lines += state_lines(s) if s.get("search") == "state" else render_seed_sieve(s)
    p = summary.get("planted")
    if p is not None:
        if p["bidirectional_survivor"]:
            lines.append(
                f"Planted generator {p['prng']} seed {p['seed']} skip {p['skip']}: recovered as a bidirectional "
                f"survivor ({p['forward_matches']}+{p['reverse_matches']} window matches), one of "
                f"{p['family_survivors']:,} {p['prng']} survivors."
            )
        else:
            lines.append(f"Planted generator {p['prng']} seed {p['seed']} skip {p['skip']}: NOT among the survivors.")
    if summary.get("recovered"):
        lines += ["", *recover.render(summary["recovered"]).splitlines()]
    lines += ["", *render_scoring(summary["scoring"])]
    lines += ["", "Training (k-fold trials; CV AUC = validation positive AUC, 0.5 = no better than chance; "
                  "test part never used to choose):",
              *("  " + ln for ln in render_comparison(summary["training"]).splitlines())]
    lines += ["", *render_prediction(summary["prediction"]), *render_evaluation(summary["evaluation"])]
    return "\n".join(lines) + "\n"


def render_seed_sieve(s):
    """The seed sieve's lines: per call, the seeds tested and the survivors next to chance."""
    lines = [
        f"Seed sieve: seeds [{s['seed_range'][0]}, {s['seed_range'][1]}), skips {s['skip_range'][0]}..{s['skip_range'][1]}, "
        f"window {s['window']} draws, pass = at least "
        f"{next(iter(s['families'].values()))['required_matches'] if s['families'] else '?'} matches.",
    ]
    width = max([14] + [len(p) + 1 for p in s["families"]])
    lines.append(f"  {'call':<{width}}{'seeds':>14}{'forward':>11}{'(chance)':>12}{'bidir.':>9}{'(chance)':>12}"
                 f"  device")
    for prng, f in sorted(s["families"].items()):
        lines.append(
            f"  {prng:<{width}}{f['seeds_tested']:>14,}{f['forward_survivors']:>11,}{_fmt_expected(f['expected_false_forward']):>12}"
            f"{f['bidirectional_survivors']:>9,}{_fmt_expected(f['expected_false_bidirectional']):>12}"
            f"  {_fmt_devices(f.get('devices'))}"
        )
    lines.append(
        "  '(chance)' = expected false survivors if the draws were uniform random: survivors "
        "near that number are what chance alone produces."
    )
    if s.get("chance_note"):
        lines.append(f"  Verdict on the counts: {s['chance_note']}.")
    return lines


# Said on every run: where the lift's two comparisons are explained, with the figures of three cases.
LIFT_NOTE = (
    "what the two comparisons can and cannot show, and the only case found where the model helps (many partly "
    "true survivors, a short holdout): docs/trust.md#what-the-model-adds"
)


def render_prediction(pred):
    """Step 6 lines: the numbers, their confidence, the best survivor, what the ranking rests on."""
    if pred["status"] != "OK":
        return [f"Prediction: skipped - {pred.get('reason')}."]
    meta = pred["metadata"]
    conf = pred["confidence_scores"]
    model = meta["model_type"] or "none"
    lines = [
        f"Prediction for draw {meta['n_known_draws'] + 1} (model {model}, "
        f"{meta['n_survivors']:,} survivors): {pred['predictions']}",
        f"  ranked by {meta.get('ranking_basis')}.",
        f"  model-based probability of the first pick: {conf[0]:.3f} (chance: {1 / meta['mod']:.4f}); it is not "
        "calibrated: believe it only as far as the evaluation below supports it.",
    ]
    if pred["top_survivors"]:
        t = pred["top_survivors"][0]
        prior = {"out_of_sample": "model prior, out of sample", "model": "model prior, in sample",
                 "chance": "no model: prior = chance"}.get(meta.get("prior_method"), "prior")
        lines.append(f"  best survivor: {t['prng_type']} seed {t['seed']} skip {t['skip']}, "
                     f"posterior quality {t['posterior_quality']:.3f} ({prior} {t['predicted_quality']:.3g})")
    return lines


def render_evaluation(ev):
    """Evaluation lines: the verdict in plain words, next to chance, the baselines and the lift."""
    lines = [f"Evaluation on {ev['n_test']} unseen test draws: {ev['verdict'].upper()} - {ev['reason']}."]
    m = ev.get("model")
    if m:
        base, rnd = ev["likelihood_baseline"], ev["random_pick"]
        lines.append(
            f"  top-k hits: model {m['topk_hits']}, likelihood baseline {base['topk_hits']}, random pick "
            f"{rnd['topk_hits']}, chance expects {m['expected_topk_hits']:.2f}; log score {m['log_score']:.3f} "
            f"nats/draw (baseline {base['log_score']:.3f}) vs {m['uniform_log_score']:.3f} for a uniform guess "
            "(lower is better).")
    lift = ev.get("lift") or {}
    if lift.get("status") == "ok":
        lines.append(f"  Lift over the likelihood baseline (same test draws, paired): {lift['baseline']['line']}.")
        lines.append("  What the trained model itself adds (against the same ranking without it, the holdout "
                     f"evidence alone): {lift['evidence']['line']}.")
    elif lift:
        lines.append(f"  Lift: {lift.get('line')}.")
    lines.append(f"  Reading the lift: {LIFT_NOTE}.")
    check = ev.get("confidence_check")
    if check:
        lines.append(f"  Confidence: {check['note']}.")
    t = ev.get("truth")
    if t:
        def rank(r):
            return f"beyond the first {t.get('ranks_listed')}" if r is None else str(r)

        where = (f"ranked {rank(t['rank_posterior'])} by the model's posterior, {rank(t['rank_baseline'])} by the "
                 "likelihood baseline" if t["survivor"] else "not a survivor")
        repro = t.get("reproduces_test_draws")
        lines.append(f"  planted {t['prng']} seed {t['seed']}: {where}; its continuation "
                     f"{'reproduces' if repro else 'does not reproduce'} the noise-free test draws.")
    return lines


def render_scoring(sc):
    """Step 3 lines: how many were scored, and the best few by training match rate."""
    lines = [
        f"Scoring: {sc['scored_survivors']:,} survivors scored, {sc['feature_count']} features each "
        f"(from the training draws only); label = holdout exact-match rate over {sc['n_holdout']} draws "
        f"(chance {sc['chance_holdout_quality']:.4g}).",
    ]
    if sc["top_by_score"]:
        lines.append(f"  {'family':<14}{'seed':>12}{'skip':>6}{'train match':>13}{'holdout':>10}")
        for rec in sc["top_by_score"][:5]:
            lines.append(
                f"  {rec['prng_type']:<14}{rec['seed']:>12}{rec['skip']:>6}{rec['score']:>13.3f}"
                f"{rec['holdout_quality']:>10.3f}"
            )
    return lines


def write(summary, json_path, text_path):
    """Write the summary as JSON and as text (atomically)."""
    summary["agent_metadata"]["outputs"] = [str(json_path), str(text_path)]
    write_json(json_path, summary)
    atomic_write_text(text_path, render(summary))
def render_comparison(result):
    """Plain-text table of a select_and_finalise result (its return value or model_comparison.json)."""
    comparison = result.get("comparison", result)
    if comparison.get("status") != "ok":
        return f"Training: no model trained - {comparison.get('reason')}."
    lines = [f"{'model':<12}{'trial':>6}{'CV AUC':>8}{'CV MSE':>12}{'test MSE':>12}{'baseline':>12}{'test R2':>9}"
             f"{'gain %':>8}"]
    for row in comparison["rankings"]:
        t = comparison["per_type"][row["model"]]
        test = t["test"]
        r2 = "n/a" if test["r2"] is None else f"{test['r2']:.3f}"
        gain = "n/a" if test["improvement_pct"] is None else f"{test['improvement_pct']:.1f}"
        auc = t["cv"].get("mean_val_positive_auc")
        auc = "n/a" if auc is None else f"{auc:.3f}"
        mark = " <- chosen" if row["model"] == comparison["chosen"] else ""
        lines.append(f"{row['model']:<12}{t['best_trial']:>6}{auc:>8}{row['mean_val_mse']:>12.4g}{test['mse']:>12.4g}"
                     f"{test['baseline_mse']:>12.4g}{r2:>9}{gain:>8}{mark}")
    selection = comparison.get("selection") or {}
    if selection.get("enabled"):
        lines.append(f"Selection: by the validation folds' positive AUC - {selection.get('reason')}.")
    else:
        lines.append(f"Selection: none - {selection.get('reason')}.")
    sq = comparison.get("signal_quality") or {}
    lines.append(f"Label signal: {sq.get('signal_status', '?')} - {sq.get('reason', '')}")
    return "\n".join(lines)
