"""Scoring predictions against chance on the test draws, which no stage has seen.

For each horizon step: does the top-1 / top-k prediction hit the test draw, against the chance
rate k/mod. Over all steps, the number of top-k hits is compared with chance by an exact
one-sided Poisson-binomial test. The verdict rule (alpha = 0.01):

* ``insufficient data`` - no test draws, or too few: even a hit at every step would not reach
  p < alpha (e.g. one step of top-10 at mod 1000: p = 0.01);
* ``signal``            - top-k hits are significantly above chance (p < alpha);
* ``no signal``         - otherwise, including when no prediction could be made.

The same counts are given for the likelihood-baseline ranking and for a seeded random pick,
and the log score of the predictive distribution is compared with the uniform ln(mod).
"""

import math

import numpy as np

from seedsift.prng.hypothesis import hypothesis_draws, is_planted

ALPHA = 0.01


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


def _log_score(pred_steps, test, mod):
    scores = []
    for step, actual in zip(pred_steps, test):
        prob = {e["number"]: e["probability"] for e in step["pool"]}
        scores.append(-math.log(prob.get(actual, step["probability_other_numbers"])))
    return float(np.mean(scores)) if scores else None


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


def truth_check(truth, records, prediction, test, n_known, mod, low=0):
    """Where the planted hypothesis stands, when the history is synthetic."""
    if not truth.get("synthetic"):
        return None
    index = next((i for i, r in enumerate(records) if is_planted(r, truth, n_known + len(test), mod)), None)
    out = {"prng": truth["prng"], "seed": truth["seed"], "skip": truth["skip"], "survivor": index is not None,
           "rank_posterior": None, "rank_baseline": None}
    ranking = prediction.get("ranking") or {}
    if index is not None and ranking:
        out["rank_posterior"] = ranking["posterior_order"].index(index) + 1
        out["rank_baseline"] = ranking["baseline_order"].index(index) + 1
    if test:
        positions = np.arange(n_known, n_known + len(test))
        cont = low + hypothesis_draws(truth["prng"], [truth["seed"]], positions, truth["skip"], truth["burn"], mod)[0]
        noisy = set(truth.get("noise_positions", []))
        clean = [j for j, p in enumerate(positions.tolist()) if p not in noisy]
        out["test_positions_clean"] = len(clean)
        out["continuation_matches_clean"] = int(sum(cont[j] == test[j] for j in clean))
        out["reproduces_test_draws"] = out["continuation_matches_clean"] == len(clean)
    return out


def evaluate(prediction, test, mod, truth, records, n_known, seed=0, low=0):
    """The evaluation document for a prediction document and the test draws (history positions
    n_known onwards), both as the program's values in [low, low + mod)."""
    steps = prediction.get("steps") or []
    usable = min(len(steps), len(test))
    model = base = rnd = None
    if prediction.get("status") == "OK" and usable:
        k = prediction["metadata"]["k"]
        model = _hits([s["predictions"] for s in steps[:usable]], test[:usable], mod)
        model["log_score"] = _log_score(steps[:usable], test[:usable], mod)
        model["uniform_log_score"] = math.log(mod)
        base = _hits([s["baseline_predictions"] for s in steps[:usable]], test[:usable], mod)
        rng = np.random.default_rng(seed)
        picks = [(low + rng.choice(mod, size=min(k, mod), replace=False)).tolist() for _ in range(usable)]
        rnd = _hits(picks, test[:usable], mod)
    label, reason = verdict(model, len(test))
    if prediction.get("status") != "OK":
        reason = f"prediction skipped ({prediction.get('reason')}); " + reason
    return {
        "verdict": label,
        "reason": reason,
        "alpha": ALPHA,
        "n_test": len(test),
        "steps_evaluated": usable,
        "prediction_status": prediction.get("status"),
        "model": model,
        "likelihood_baseline": base,
        "random_pick": rnd,
        "truth": truth_check(truth, records, prediction, test, n_known, mod, low) if truth else None,
    }
