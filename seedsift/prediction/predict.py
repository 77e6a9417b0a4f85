"""Step 6: rank survivors with all the evidence, continue their hypotheses, pool the votes.

Ranking. The model's predicted quality q of a survivor is its prior - in the pipeline an
out-of-sample prediction (select_model's out_of_sample_priors.json: from a model that never
trained on that survivor's label), so the holdout evidence is not counted twice; its holdout
matches h out of n_h holdout draws are the evidence. With a Beta prior centred on q of strength s
(alpha = s*q, beta = s*(1-q)), the posterior mean is

    posterior_quality = (s*q + h) / (s + n_h)

and survivors are ranked by it. Survivors without holdout labels are ranked by q alone.
A plain likelihood baseline ranks by the binomial log-likelihood ratio of each survivor's
matches m over all N known draws against chance p0 = 1/mod (at the MLE m/N), so that the
evaluation can show whether the model adds anything.

Prediction. Each survivor's next draws are its own hypothesis continued right after the last
known draw. The top ``pool.tight``/``balanced``/``wide`` survivors vote for their next draw with
weights proportional to their posterior quality; the three pools are combined 0.5/0.3/0.2.

Confidence. Every voter i with combined weight c_i (sum 1) is read as "right with probability
posterior_i, else a uniform draw", which gives a proper predictive distribution over [0, mod):

    P(x) = sum_i c_i * posterior_i * [next_i == x] + (1 - sum_i c_i * posterior_i) / mod

``confidence_scores`` are P(x) of the predicted numbers. It is a model-based figure: read it
as a hit probability only when the evaluation on unseen draws supports it.
"""

import logging
from collections import defaultdict

import numpy as np

from seedsift.errors import InputError
from seedsift.jsonio import iter_records, read_json, sha256_file, write_json
from seedsift.prng.hypothesis import hypothesis_draws
from seedsift.scoring import chunks, features

log = logging.getLogger(__name__)

EXIT_SKIPPED = 3
POOLS = ("tight", "balanced", "wide")


def load_survivors(path, need_sieve=False):
    """Survivor records from a file with or without Step 3 features (validated, streaming).

    A hypothesis listed twice is refused: it would vote twice in the pools.
    """
    records, seen = [], set()
    for index, rec in iter_records(path):
        chunks.check_survivor(path, index, rec, need_sieve=need_sieve)
        if "features" in rec and not isinstance(rec["features"], dict):
            raise InputError(path, f"record {index} field 'features'", "is not an object")
        key = (rec["prng_type"], rec["seed"], rec["skip"], rec["burn"])
        if key in seen:
            raise InputError(path, f"record {index}", f"duplicate hypothesis {key}")
        seen.add(key)
        records.append(rec)
    return records


def ensure_features(records, path, train, mod, residue_mods):
    """Feature rows for every survivor; bare sieve records are scored with the Step 3 code.

    Returns (names, X, has_label) with names in the lexicographic schema order.
    """
    with_feats = [r for r in records if "features" in r]
    if with_feats and len(with_feats) != len(records):
        raise InputError(path, "field 'features'", "present in some records and missing in others")
    if with_feats:
        names = sorted(records[0]["features"])
        X = np.empty((len(records), len(names)))
        for i, rec in enumerate(records):
            row = rec["features"]
            if sorted(row) != names:
                raise InputError(path, f"record {i} field 'features'", "has different feature names than record 0")
            values = [row[n] for n in names]
            if not all(type(v) in (float, int) for v in values):  # numpy would read "1.5" or true as numbers
                bad = next(n for n, v in zip(names, values) if type(v) not in (float, int))
                raise InputError(path, f"record {i} field 'features'", f"'{bad}' is {row[bad]!r}, not a number")
            X[i] = values
        if not np.isfinite(X).all():
            bad = int(np.argwhere(~np.isfinite(X))[0][0])
            raise InputError(path, f"record {bad} field 'features'", "contains a non-finite number")
        has_label = all("holdout_matches" in r for r in records)
        return names, X, has_label
    for rec in records:
        for field in chunks.SIEVE_FIELDS:
            rec.setdefault(field, 0.0)
    names, X, _, _ = features.compute(records, train, [], mod, residue_mods)
    order = np.argsort(names)
    return [names[j] for j in order], X[:, order], False


def posterior(prior, holdout_matches, n_holdout, strength):
    """Beta-binomial posterior mean of the quality (see the module docstring)."""
    q = np.clip(np.asarray(prior, dtype=np.float64), 0.0, 1.0)
    if holdout_matches is None or n_holdout == 0:
        return q
    return (strength * q + np.asarray(holdout_matches, dtype=np.float64)) / (strength + n_holdout)


def likelihood_ratio(matches, n_known, mod):
    """Binomial log-likelihood ratio of m matches in N draws at the MLE against chance 1/mod."""
    m = np.asarray(matches, dtype=np.float64)
    p0 = 1.0 / mod
    p = m / n_known
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(m > 0, m * np.log(p / p0), 0.0)
        b = np.where(n_known - m > 0, (n_known - m) * np.log((1 - p) / (1 - p0)), 0.0)
    return np.where(p > p0, a + b, 0.0)


def continue_hypotheses(records, start, horizon, mod):
    """Next ``horizon`` draws of every survivor, starting at history position ``start``."""
    out = np.zeros((len(records), horizon), dtype=np.int64)
    positions = np.arange(start, start + horizon)
    by_family = defaultdict(list)
    for i, rec in enumerate(records):
        by_family[rec["prng_type"]].append(i)
    for prng, rows in by_family.items():
        pick = [records[i] for i in rows]
        out[rows] = hypothesis_draws(prng, [r["seed"] for r in pick], positions, [r["skip"] for r in pick],
                                     [r["burn"] for r in pick], mod, states=[r.get("state") for r in pick])
    return out


def pool_vote(order, quality, next_draws, pool_sizes, pool_weights, mod):
    """Combined votes per number for one horizon step, and each voter's combined weight."""
    votes = defaultdict(float)
    voter_weight = defaultdict(float)
    voters = defaultdict(set)
    for size, weight in zip(pool_sizes, pool_weights):
        members = order[:size]
        if not len(members):
            continue
        q = quality[members]
        w = q / q.sum() if q.sum() > 0 else np.full(len(members), 1.0 / len(members))
        for i, wi in zip(members.tolist(), w.tolist()):
            votes[int(next_draws[i])] += weight * wi
            voter_weight[i] += weight * wi
            voters[int(next_draws[i])].add(i)
    total = sum(pool_weights[j] for j in range(len(POOLS)) if len(order[:pool_sizes[j]]))
    votes = {x: v / total for x, v in votes.items()}
    voter_weight = {i: v / total for i, v in voter_weight.items()}
    # Predictive distribution (module docstring): voter mass on its number, the rest uniform.
    right = sum(c * quality[i] for i, c in voter_weight.items())
    prob = defaultdict(float)
    for i, c in voter_weight.items():
        prob[int(next_draws[i])] += c * quality[i]
    uniform = (1.0 - right) / mod
    ranked = sorted(votes, key=lambda x: (-votes[x], x))
    return ranked, votes, {x: prob[x] + uniform for x in ranked}, uniform, voters


def predict(records, X, model, meta, *, train_matches, n_train, n_holdout, n_known, holdout_matches, mod, params,
            prior=None, low=0):
    """The prediction document (without agent_metadata) for scored survivors and a loaded model.

    ``X`` holds the model's input columns; ``train_matches`` each survivor's exact matches over
    the ``n_train`` training draws. ``n_holdout`` draws are the evidence behind
    ``holdout_matches`` (None: no evidence); hypotheses continue from history position ``n_known``.
    """
    horizon = params["horizon"]
    k = params["k"]
    prior_method = "out_of_sample" if prior is not None else "model"
    prior = np.clip(model.predict(X) if prior is None else prior, 0.0, 1.0)
    post = posterior(prior, holdout_matches, n_holdout, params["prior_strength"])
    order = np.lexsort((np.arange(len(records)), -post))
    all_matches = train_matches + (holdout_matches if holdout_matches is not None else 0)
    llr = likelihood_ratio(all_matches, n_train + n_holdout, mod)
    baseline_order = np.lexsort((np.arange(len(records)), -llr))
    nxt = continue_hypotheses(records, n_known, horizon, mod) + low  # the program's own values
    sizes = [params["pool"][p] for p in POOLS]
    weights = [params["pool"][f"{p}_weight"] for p in POOLS]
    steps = []
    for h in range(horizon):
        ranked, votes, prob, uniform, voters = pool_vote(order, post, nxt[:, h], sizes, weights, mod)
        b_ranked, b_votes, _, _, _ = pool_vote(baseline_order, np.maximum(llr, 1e-12), nxt[:, h], sizes, weights, mod)
        steps.append({
            "step": h + 1,
            "position": n_known + h,
            "predictions": ranked[:k],
            "pool": [{"number": x, "weight": votes[x], "probability": prob[x], "voters": len(voters[x])}
                     for x in ranked],
            "probability_other_numbers": uniform,
            "baseline_predictions": b_ranked[:k],
        })
    first = steps[0]
    raw = [entry["weight"] for entry in first["pool"][: len(first["predictions"])]]
    conf = [entry["probability"] for entry in first["pool"][: len(first["predictions"])]]
    top = []
    for i in order[: params["top_survivors"]].tolist():
        rec = records[i]
        top.append({
            "seed": rec["seed"], "prng_type": rec["prng_type"], "skip": rec["skip"], "burn": rec["burn"],
            "predicted_quality": float(prior[i]), "posterior_quality": float(post[i]),
            "holdout_matches": int(holdout_matches[i]) if holdout_matches is not None else None,
            "likelihood_ratio": float(llr[i]), "next_draws": nxt[i].tolist(),
        })
    return {
        "status": "OK",
        "predictions": first["predictions"],
        "raw_scores": raw,
        "confidence_scores": conf,
        "confidence_scores_normalized": [r / max(raw) for r in raw] if raw and max(raw) > 0 else raw,
        "pool": first["pool"],
        "steps": steps,
        "top_survivors": top,
        "ranking": {
            "posterior_order": order.tolist(),
            "baseline_order": baseline_order.tolist(),
        },
        "metadata": {
            "method": "posterior_pool_vote",
            "pool_sizes": dict(zip(POOLS, sizes)),
            "pool_weights": dict(zip(POOLS, weights)),
            "k": k,
            "horizon": horizon,
            "prior_strength": params["prior_strength"],
            "prior_method": prior_method,
            "mod": mod,
            "low": low,
            "n_survivors": len(records),
            "n_known_draws": n_known,
            "n_train": n_train,
            "n_holdout": n_holdout,
            "holdout_evidence": holdout_matches is not None,
            "model_type": meta.get("model_type"),
            "feature_schema_hash": meta["feature_schema"]["feature_schema_hash"],
            "signal_quality": meta.get("signal_quality"),
            "score_stats": _stats(prior),
            "posterior_stats": _stats(post),
        },
    }


def skipped(reason, meta=None, n_survivors=0):
    """The PREDICTION_SKIPPED document."""
    return {
        "status": "PREDICTION_SKIPPED",
        "reason": reason,
        "predictions": [],
        "raw_scores": [],
        "confidence_scores": [],
        "confidence_scores_normalized": [],
        "pool": [],
        "steps": [],
        "top_survivors": [],
        "metadata": {
            "n_survivors": n_survivors,
            "model_type": (meta or {}).get("model_type"),
            "signal_quality": (meta or {}).get("signal_quality"),
        },
    }


def _stats(values):
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return {}
    return {"min": float(v.min()), "max": float(v.max()), "mean": float(v.mean()), "std": float(v.std()),
            "unique": int(np.unique(v).size)}


def read_priors(path, survivors_path, n_records):
    """Out-of-sample priors (select_model's out_of_sample_priors.json) for this survivors file, or None."""
    doc = read_json(path, "out-of-sample priors")
    if not isinstance(doc, dict) or "status" not in doc:
        raise InputError(path, "field 'status'", "missing: not an out_of_sample_priors file")
    if doc["status"] != "ok":
        return None
    digest = sha256_file(survivors_path)
    if doc.get("survivors_sha256") != digest or doc.get("n") != n_records:
        raise InputError(path, "field 'survivors_sha256'",
                         f"the priors were made for another survivors file than {survivors_path} ({n_records} records)")
    prior = np.asarray(doc.get("prior"), dtype=np.float64)
    if prior.shape != (n_records,) or not np.isfinite(prior).all():
        raise InputError(path, "field 'prior'", f"expected {n_records} finite numbers")
    return prior


def run(models_dir, survivors_path, train, holdout, mod, params, residue_mods, output, inputs, priors_path=None,
        low=0):
    """Load the sidecar's model, predict, write ``output``; returns 0, or EXIT_SKIPPED (3).

    ``train`` and ``holdout`` are draws less ``low`` (read_history_part); the predicted numbers are
    the program's own values, in [low, low + mod).

    ``holdout`` may be None (no holdout evidence: rank by the model's prior alone). With
    ``priors_path`` (select_model's out_of_sample_priors.json for this survivors file) the prior
    of each survivor is the prediction of a model that never trained on its label; without it,
    the loaded model predicts, which is in-sample for survivors it was trained on.
    """
    from models.feature_schema import model_inputs
    from models.model_factory import load_model_from_sidecar, read_sidecar, sidecar_path
    from seedsift.provenance import agent_metadata, parent_run_id_of

    side = sidecar_path(models_dir)
    meta = read_sidecar(side)
    parent = parent_run_id_of(meta)
    records = load_survivors(survivors_path)
    sq = meta.get("signal_quality") or {}
    if meta.get("checkpoint_path") is None or sq.get("prediction_allowed") is False:
        doc = skipped(f"no model to predict with: {sq.get('reason', 'the sidecar has no checkpoint')}", meta, len(records))
    elif not records:
        doc = skipped(f"{survivors_path} holds no survivors: there is nothing to rank", meta, 0)
    else:
        names, X, has_label = ensure_features(records, survivors_path, train, mod, residue_mods)
        train_matches = np.rint(X[:, names.index("exact_match_rate")] * len(train)).astype(np.int64)
        model, meta = load_model_from_sidecar(side, meta=meta)
        try:
            names, X = model_inputs(names, X, meta)
        except ValueError as exc:  # M.6 schema mismatch: one line naming the sidecar and the field
            raise InputError(side, "field 'feature_schema.feature_schema_hash'", str(exc)) from None
        use_label = has_label and holdout is not None
        hold = np.array([r["holdout_matches"] for r in records], dtype=np.float64) if use_label else None
        n_known = len(train) + (len(holdout) if holdout is not None else 0)
        prior = read_priors(priors_path, survivors_path, len(records)) if priors_path else None
        doc = predict(records, X, model, meta, train_matches=train_matches, n_train=len(train),
                      n_holdout=len(holdout) if use_label else 0,
                      n_known=n_known, holdout_matches=hold, mod=mod, params=params, prior=prior, low=low)
    doc["metadata"]["survivors_file"] = str(survivors_path)
    doc["metadata"]["survivors_sha256"] = sha256_file(survivors_path)
    conf = float(np.mean(doc["confidence_scores"])) if doc["confidence_scores"] else 0.0
    doc["agent_metadata"] = agent_metadata(
        "prediction", inputs=[side, survivors_path, priors_path, *inputs], outputs=[output], parent_run_id=parent,
        params=params, success_criteria_met=doc["status"] == "OK", confidence=conf,
    )
    write_json(output, doc)
    return 0 if doc["status"] == "OK" else EXIT_SKIPPED
