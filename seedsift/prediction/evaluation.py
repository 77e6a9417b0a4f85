"""Scoring predictions against chance on the test draws, which no stage has seen.

For each horizon step: does the top-1 / top-k prediction hit the test draw, against the chance
rate k/mod. Over all steps, the number of top-k hits is compared with chance by an exact
one-sided Poisson-binomial test. The verdict rule (alpha = 0.01):

* ``insufficient data`` - no test draws, or too few: even a hit at every step would not reach
  p < alpha (e.g. one step of top-10 at mod 1000: p = 0.01);
* ``signal``            - top-k hits are significantly above chance (p < alpha);
* ``no signal``         - otherwise, including when no prediction could be made (no hypothesis
  survived, for example).

The lift. Step 6 ranks with the model (its prior and the holdout evidence) and, on the same
survivors, without it: the likelihood baseline (matches over every known draw) and the holdout
evidence alone (the same posterior with the chance rate as prior). On the same test steps, the
``lift`` section pairs the model's ranking with each of them: top-k hits (an exact McNemar test
on the steps where one hits and the other does not), the log score (the per-step difference of
-ln P(actual), a seeded bootstrap interval of its mean and a sign-flip permutation test), and the
rank of the planted hypothesis where it is known. Its verdict says "adds X nats/draw over ..." only
when the paired test is significant at alpha and the mean difference is at least MIN_GAIN;
"does worse than ..." when the model is worse by the same rule; "adds nothing measurable"
otherwise.

Each ranking's predictive distribution also says how many top-k hits it expects; the evaluation
sets that next to the hits seen. The distribution is a model-based figure, not a calibrated one.
"""

import math
from pathlib import Path

import numpy as np

from seedsift.prng.hypothesis import hypothesis_draws, is_planted

ALPHA = 0.01
# Paired resamples for the lift's interval and test (seeded: the same run gives the same figures).
BOOTSTRAP = 10_000
PERMUTATIONS = 20_000
# Fewer paired test steps than this give no lift verdict.
MIN_LIFT_STEPS = 5
# A mean log-score difference below this (nats per draw: 5% in likelihood) is not counted as a
# lift or a loss, however consistent. When one planted hypothesis makes every test draw, every
# step's difference is the same number, so any difference is "significant"; a prior that moved
# that one survivor's posterior by a point or two gives about 0.02 nats/draw (the default run),
# random draws give less than 0.04, and the history of several partly true seeds, where the
# model does learn, at least 0.12 (docs/trust.md, "What the model adds").
MIN_GAIN = 0.05
INTERVAL = 1.0 - ALPHA
METHODS = {
    "model": ("predictions", "pool", "probability_other_numbers"),
    "baseline": ("baseline_predictions", "baseline_pool", "baseline_probability_other_numbers"),
    "evidence": ("evidence_predictions", "evidence_pool", "evidence_probability_other_numbers"),
}
NAMES = {"baseline": "the likelihood baseline", "evidence": "the holdout evidence alone"}


def poisson_binomial_sf(hits, probs):
    """P[sum of independent Bernoulli(probs) >= hits], exactly (dynamic programming)."""
    dist = np.zeros(len(probs) + 1)
    dist[0] = 1.0
    for p in probs:
        dist[1:] = dist[1:] * (1 - p) + dist[:-1] * p
        dist[0] *= 1 - p
    return float(min(1.0, dist[hits:].sum()))


def _hits(lists, test, mod):
    steps = []
    for h, (picks, actual) in enumerate(zip(lists, test)):
        picks = list(picks)
        chance = len(picks) / mod
        hit = actual in picks
        steps.append({
            "step": h + 1, "actual": actual, "top1": picks[0] if picks else None,
            "top1_hit": bool(picks) and picks[0] == actual, "topk_hit": hit, "k": len(picks),
            "chance_rate": chance, "p_value": chance if hit else 1.0,
        })
    n_hits = sum(s["topk_hit"] for s in steps)
    probs = [s["chance_rate"] for s in steps]
    return {
        "steps": steps,
        "top1_hits": sum(s["top1_hit"] for s in steps),
        "topk_hits": n_hits,
        "expected_topk_hits": float(sum(probs)),
        "observed_rate": n_hits / len(steps) if steps else 0.0,
        "chance_rate": float(np.mean(probs)) if probs else 0.0,
        "p_value": poisson_binomial_sf(n_hits, probs) if steps else 1.0,
        "best_possible_p_value": float(np.prod(probs)) if steps and all(probs) else 1.0,
    }


def _method(pred_steps, test, mod, method):
    """Hits, per-step log loss and the hits the ranking's own distribution expects, for one ranking."""
    picks_key, pool_key, other_key = METHODS[method]
    if not all(picks_key in s and pool_key in s for s in pred_steps):
        return None
    result = _hits([s[picks_key] for s in pred_steps], test, mod)
    losses, expected = [], 0.0
    for step, actual, row in zip(pred_steps, test, result["steps"]):
        prob = {e["number"]: e["probability"] for e in step[pool_key]}
        other = step[other_key]
        p = prob.get(actual, other)
        losses.append(-math.log(p))
        row["probability_of_actual"] = p
        expected += sum(prob.get(x, other) for x in step[picks_key])
    result["log_losses"] = losses
    result["log_score"] = float(np.mean(losses)) if losses else None
    result["uniform_log_score"] = math.log(mod)
    result["own_expected_topk_hits"] = expected
    return result


def verdict(result, n_test):
    """The overall verdict and its reason (rule in the module docstring)."""
    if n_test == 0:
        return "insufficient data", "test_draws is 0: there are no unseen draws to score the predictions on"
    if result is None:
        return "no signal", "no prediction was made, so nothing beat chance"
    if result["best_possible_p_value"] >= ALPHA:
        return "insufficient data", (
            f"{len(result['steps'])} test step(s): even a hit at every step would only reach "
            f"p = {result['best_possible_p_value']:.3g} (need < {ALPHA})")
    if result["p_value"] < ALPHA and result["topk_hits"] > result["expected_topk_hits"]:
        return "signal", (f"{result['topk_hits']} top-k hits in {len(result['steps'])} steps against "
                          f"{result['expected_topk_hits']:.3g} expected by chance (p = {result['p_value']:.2g})")
    return "no signal", (f"{result['topk_hits']} top-k hits in {len(result['steps'])} steps against "
                         f"{result['expected_topk_hits']:.3g} expected by chance (p = {result['p_value']:.2g})")


# -- the lift ----------------------------------------------------------------------------------------
def sign_flip_p(differences, seed, n=PERMUTATIONS):
    """Two-sided p-value of a zero mean paired difference: random sign flips (seeded), exact when few."""
    d = np.asarray(differences, dtype=np.float64)
    d = d[d != 0]
    if d.size == 0:
        return 1.0
    observed = abs(d.sum())
    if d.size <= 16:
        signs = ((np.arange(2 ** d.size)[:, None] >> np.arange(d.size)) & 1) * 2 - 1
        return float(np.mean(np.abs(signs @ d) >= observed - 1e-12))
    rng = np.random.default_rng(seed)
    signs = rng.choice((-1.0, 1.0), size=(n, d.size))
    return float((1 + np.sum(np.abs(signs @ d) >= observed - 1e-12)) / (n + 1))


def bootstrap_interval(differences, seed, level=INTERVAL, n=BOOTSTRAP):
    """Percentile interval of the mean of ``differences`` over ``n`` seeded resamples of the steps."""
    d = np.asarray(differences, dtype=np.float64)
    if d.size == 0:
        return None
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, d.size, size=(n, d.size))].mean(axis=1)
    tail = (1.0 - level) / 2.0
    return [float(np.quantile(means, tail)), float(np.quantile(means, 1.0 - tail))]


def mcnemar_p(only_a, only_b):
    """Exact two-sided McNemar p-value of the discordant counts."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    k = min(only_a, only_b)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0 ** n
    return float(min(1.0, 2.0 * tail))


def _fmt(x):
    return f"{x:+.3g}"


def paired(model, other, name, seed, subject="the model"):
    """The paired comparison of the model's ranking with ``other`` on the same test steps.

    ``subject`` names the model's ranking in the verdict line (Step 6's ranking when no model
    was trained)."""
    n = len(model["log_losses"])
    d = np.asarray(other["log_losses"]) - np.asarray(model["log_losses"])  # > 0: the model's log loss is lower
    a = [s["topk_hit"] for s in model["steps"]]
    b = [s["topk_hit"] for s in other["steps"]]
    only_model = sum(1 for x, y in zip(a, b) if x and not y)
    only_other = sum(1 for x, y in zip(a, b) if y and not x)
    out = {
        "against": name, "steps": n,
        "log_score_gain": float(d.mean()) if n else None,
        "log_score_gain_unit": "nats per draw: the other ranking's mean -ln P(actual) minus the model's",
        "interval": bootstrap_interval(d, seed), "interval_level": INTERVAL,
        "p_value": sign_flip_p(d, seed),
        "topk_hits": {"model": sum(a), "other": sum(b), "only_model": only_model, "only_other": only_other,
                      "mcnemar_p": mcnemar_p(only_model, only_other)},
        "top1_hits": {"model": model["top1_hits"], "other": other["top1_hits"]},
    }
    target = NAMES.get(name, name)
    if n < MIN_LIFT_STEPS:
        out["verdict"] = "insufficient data"
        out["line"] = f"{n} test step(s): too few to measure what {subject} adds over {target} (need {MIN_LIFT_STEPS})"
        return out
    lo, hi = out["interval"]
    figures = (f"{_fmt(out['log_score_gain'])} nats/draw, {INTERVAL:.0%} interval [{lo:+.3g}, {hi:+.3g}], "
               f"paired sign-flip p = {out['p_value']:.2g}; top-k hits {sum(a)} vs {sum(b)}")
    if out["p_value"] < ALPHA and out["log_score_gain"] >= MIN_GAIN:
        out["verdict"] = "adds"
        out["line"] = f"{subject} adds {out['log_score_gain']:.3g} nats/draw over {target} ({figures})"
    elif out["p_value"] < ALPHA and out["log_score_gain"] <= -MIN_GAIN:
        out["verdict"] = "worse"
        out["line"] = f"{subject} does worse than {target} by {-out['log_score_gain']:.3g} nats/draw ({figures})"
    else:
        out["verdict"] = "nothing measurable"
        small = f"; below the {MIN_GAIN} nats/draw that count" if abs(out["log_score_gain"]) < MIN_GAIN else ""
        out["line"] = f"{subject} adds nothing measurable over {target} ({figures}{small})"
    return out


def lift(results, prediction, truth_ranks, seed):
    """The lift section: the model's ranking paired with the likelihood baseline and with the holdout evidence alone.

    ``verdict`` and ``line`` say what the trained model itself adds: the comparison with the holdout
    evidence alone, which differs from Step 6's ranking only by the model's prior. The comparison
    with the likelihood baseline also measures how Step 6 weighs the evidence (the baseline counts
    the training matches that let chance survivors through the sieve), so it can favour Step 6's
    ranking when the model has learned nothing.
    """
    if results.get("model") is None:
        return {"status": "no prediction", "verdict": "no prediction",
                "line": "no prediction was made: there is no lift to measure"}
    meta = prediction.get("metadata") or {}
    subject = "Step 6's ranking (the holdout evidence alone: no model)" if meta.get("prior_method") == "chance" \
        else "the model"
    out = {"status": "ok", "prior_method": meta.get("prior_method"), "subject": subject, "truth_rank": truth_ranks}
    for name in ("baseline", "evidence"):
        if results.get(name) is None:
            out[name] = {"verdict": "not available", "line": f"the prediction file has no {name} ranking"}
            continue
        out[name] = paired(results["model"], results[name], name, seed, subject)
    if meta.get("prior_method") == "chance":
        out["evidence"] = {"verdict": "no model", "line": (
            "no model was trained, so Step 6's ranking is the holdout evidence alone: there is no model to measure")}
    out["verdict"], out["line"] = out["evidence"]["verdict"], out["evidence"]["line"]
    return out


# -- the planted hypothesis --------------------------------------------------------------------------
def truth_index(truth, survivors, n_positions, mod):
    """Index of the planted hypothesis among ``survivors`` (a file path, streamed, or a list of
    records): the same (call, seed, skip, burn), or a recovered state making the planted draws at
    every history position below ``n_positions`` (seedsift.prng.hypothesis.is_planted)."""
    if not truth.get("synthetic") or survivors is None:
        return None

    def match(rec):
        return is_planted(rec, truth, n_positions, mod)

    if isinstance(survivors, (str, Path)):
        from seedsift.prediction.predict import survivor_index

        return survivor_index(survivors, match)
    return next((i for i, r in enumerate(survivors) if match(r)), None)


def truth_check(truth, index, prediction, test, n_known, mod, low=0):
    """Where the planted hypothesis stands, when the history is synthetic."""
    if not truth.get("synthetic"):
        return None
    out = {"prng": truth["prng"], "seed": truth["seed"], "skip": truth["skip"], "survivor": index is not None,
           "rank_posterior": None, "rank_baseline": None, "rank_evidence": None}
    ranking = prediction.get("ranking") or {}
    if index is not None and ranking:
        # predictions.json lists the head of each ranking: a rank beyond it is given as None.
        out["ranks_listed"] = ranking.get("kept")
        for name, key in (("posterior", "posterior_order"), ("baseline", "baseline_order"),
                          ("evidence", "evidence_order")):
            order = ranking.get(key) or []
            if index in order:
                out[f"rank_{name}"] = order.index(index) + 1
    if test:
        positions = np.arange(n_known, n_known + len(test))
        cont = low + hypothesis_draws(truth["prng"], [truth["seed"]], positions, truth["skip"], truth["burn"], mod)[0]
        noisy = set(truth.get("noise_positions", []))
        clean = [j for j, p in enumerate(positions.tolist()) if p not in noisy]
        out["test_positions_clean"] = len(clean)
        out["continuation_matches_clean"] = int(sum(cont[j] == test[j] for j in clean))
        out["reproduces_test_draws"] = out["continuation_matches_clean"] == len(clean)
    return out


def evaluate(prediction, test, mod, truth, survivors, n_known, seed=0, low=0):
    """The evaluation document for a prediction document and the test draws (history positions
    n_known onwards), both as the program's values in [low, low + mod). ``survivors`` (a path or
    records) locates the planted hypothesis of a synthetic history; ``seed`` seeds the random pick
    and the lift's resamples."""
    steps = prediction.get("steps") or []
    usable = min(len(steps), len(test))
    results = {name: None for name in METHODS}
    rnd = None
    if prediction.get("status") == "OK" and usable:
        k = prediction["metadata"]["k"]
        for name in METHODS:
            results[name] = _method(steps[:usable], test[:usable], mod, name)
        rng = np.random.default_rng(seed)
        picks = [(low + rng.choice(mod, size=min(k, mod), replace=False)).tolist() for _ in range(usable)]
        rnd = _hits(picks, test[:usable], mod)
    label, reason = verdict(results["model"], len(test))
    if prediction.get("status") != "OK":
        reason = f"prediction skipped ({prediction.get('reason')}); " + reason
    truth = truth or {}
    check = None
    if truth:
        index = truth_index(truth, survivors, n_known + len(test), mod)
        check = truth_check(truth, index, prediction, test, n_known, mod, low)
    ranks = None
    if check and check["survivor"]:
        ranks = {"model": check["rank_posterior"], "baseline": check["rank_baseline"],
                 "evidence": check["rank_evidence"]}
    return {
        "verdict": label,
        "reason": reason,
        "alpha": ALPHA,
        "n_test": len(test),
        "steps_evaluated": usable,
        "prediction_status": prediction.get("status"),
        "ranking_basis": (prediction.get("metadata") or {}).get("ranking_basis"),
        "model": results["model"],
        "likelihood_baseline": results["baseline"],
        "evidence_only": results["evidence"],
        "random_pick": rnd,
        "lift": lift(results, prediction, ranks, seed),
        "confidence_check": _confidence_check(results["model"]),
        "truth": check,
    }


def _confidence_check(model):
    """The hits the model's own predictive distribution expected next to the hits seen."""
    if model is None:
        return None
    expected, seen, n = model["own_expected_topk_hits"], model["topk_hits"], len(model["steps"])
    return {"expected_topk_hits": expected, "observed_topk_hits": seen, "steps": n,
            "note": ("the confidence scores are model-based, not calibrated: over these steps they expected "
                     f"{expected:.2f} top-k hits and {seen} were seen")}
