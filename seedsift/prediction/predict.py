"""Step 6: rank survivors with all the evidence, continue their hypotheses, pool the votes.

Ranking. The model's predicted quality q of a survivor is its prior - in the pipeline an
out-of-sample prediction (select_model's out_of_sample_priors.json: from a model that never
trained on that survivor's label), so the holdout evidence is not counted twice; its holdout
matches h out of n_h holdout draws are the evidence. With a Beta prior centred on q of strength s
(alpha = s*q, beta = s*(1-q)), the posterior mean is

    posterior_quality = (s*q + h) / (s + n_h)

and survivors are ranked by it. Without a model (too few survivors, a label without variance)
q is the chance rate 1/mod, so the ranking is by the holdout evidence alone; without holdout
evidence the ranking is by q alone, and the run says so in one line.

Two rankings without the model are computed beside it, on the same survivors and draws, so
that the evaluation can measure what the model adds:

* the likelihood baseline ranks by the binomial log-likelihood ratio of each survivor's matches
  m over all N known draws against chance p0 = 1/mod (at the MLE m/N); its voters' quality is
  (s*p0 + m) / (s + N);
* the evidence ranking is the posterior above with q = 1/mod for every survivor: the holdout
  evidence alone, which is Step 6's own ranking when no model was trained.

Prediction. Each survivor's next draws are its own hypothesis continued right after the last
known draw. The top ``pool.tight``/``balanced``/``wide`` survivors of a ranking vote for their
next draw with weights proportional to their quality; the three pools are combined 0.5/0.3/0.2.

Confidence. Every voter i with combined weight c_i (sum 1) is read as "right with probability
quality_i, else a uniform draw", which gives a proper predictive distribution over [0, mod):

    P(x) = sum_i c_i * quality_i * [next_i == x] + (1 - sum_i c_i * quality_i) / mod

``confidence_scores`` are P(x) of the predicted numbers. They are model-based figures, not
calibrated probabilities: the evaluation reports how many hits they led to expect next to the
hits observed on the unseen test draws, and only there can they be checked.

Memory. The survivors file is read in one streaming pass into arrays of identifiers and the few
columns a ranking needs; hypotheses are continued only for the survivors that vote or are listed.
"""

import logging
import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from seedsift.errors import InputError
from seedsift.jsonio import ArrayReader, read_json, write_json
from seedsift.prng.hypothesis import hypothesis_draws
from seedsift.scoring import chunks, features

log = logging.getLogger(__name__)

EXIT_SKIPPED = 3
POOLS = ("tight", "balanced", "wide")
IDS_DTYPE = np.dtype([("seed", "<u8"), ("skip", "<i8"), ("burn", "<i8"), ("prng", "<i2")])
# Bare sieve records are scored (Step 3's features) in batches of this many.
FEATURE_BATCH = 8192
# Survivors listed in each ranking of predictions.json (its head: where the evaluation looks for the
# planted hypothesis). A full list would cost about 100 bytes of memory per survivor and ranking.
RANKING_KEPT = 1000
RANKINGS = {
    "model": "Step 6's ranking: the model's prior and the holdout evidence (the predictions)",
    "baseline": "likelihood baseline: the binomial log-likelihood ratio of every known draw's matches, no model",
    "evidence": "the holdout evidence alone: the same posterior with the chance rate as every survivor's prior",
}
NO_SURVIVOR = "no hypothesis survived"


# -- reading the survivors ---------------------------------------------------------------------
# The feature the likelihood baseline counts training matches with.
TRAIN_RATE = "exact_match_rate"


@dataclass
class Survivors:
    """Survivors in file order, as arrays: identifiers, feature names, the feature columns kept
    (``kept``, all of ``names`` when a model predicts) and the holdout matches."""

    ids: np.ndarray
    prng_types: list
    names: list
    kept: list
    X: np.ndarray
    holdout_matches: np.ndarray
    path: object
    sha256: str
    # Recovered generator states (sieve.search: state) by row; the other rows are seeded.
    states: dict = field(default_factory=dict)

    def __len__(self):
        return int(self.ids.shape[0])

    def record(self, i):
        row = self.ids[i]
        rec = {"seed": int(row["seed"]), "prng_type": self.prng_types[int(row["prng"])],
               "skip": int(row["skip"]), "burn": int(row["burn"])}
        if int(i) in self.states:
            rec["state"] = self.states[int(i)]
        return rec

    def states_of(self, rows):
        """The states of ``rows`` (None for a seeded row), or None when none of them has one."""
        if not self.states:
            return None
        states = [self.states.get(int(i)) for i in rows]
        return states if any(st is not None for st in states) else None

    def column(self, name):
        if name not in self.kept:
            raise InputError(self.path, f"field 'features.{name}'", "is missing: Step 6 needs it (Step 3 writes it)")
        return self.X[:, self.kept.index(name)]


class _Growing:
    """An array that doubles its capacity as rows are appended."""

    def __init__(self, dtype, width=None):
        self.shape = (1024,) if width is None else (1024, width)
        self.data = np.empty(self.shape, dtype=dtype)
        self.n = 0

    def append(self, value):
        if self.n == self.data.shape[0]:
            grown = np.empty((2 * self.n,) + self.data.shape[1:], dtype=self.data.dtype)
            grown[: self.n] = self.data
            self.data = grown
        self.data[self.n] = value
        self.n += 1

    def array(self):
        return self.data[: self.n].copy()


def _feature_row(path, index, rec, names, kept):
    feats = rec["features"]
    if not isinstance(feats, dict):
        raise InputError(path, f"record {index} field 'features'", "is not an object")
    if feats.keys() != names.keys():
        raise InputError(path, f"record {index} field 'features'", "has different feature names than record 0")
    values = [feats[n] for n in names]
    if not all(type(v) in (float, int) for v in values):  # numpy would read "1.5" or true as numbers
        bad = next(n for n, v in zip(names, values) if type(v) not in (float, int))
        raise InputError(path, f"record {index} field 'features'", f"'{bad}' is {feats[bad]!r}, not a number")
    if not all(map(math.isfinite, values)):
        raise InputError(path, f"record {index} field 'features'", "contains a non-finite number")
    return [feats[n] for n in kept]


def read_survivors(path, train=None, mod=None, residue_mods=None, keep_all=True):
    """Survivors of a file with or without Step 3 features, in one streaming pass (validated).

    Every record's features are checked; only the columns Step 6 needs are kept: all of them
    with ``keep_all`` (a model predicts from them), else the training match rate. Records
    without ``features`` (a bare sieve file) are scored with the Step 3 code from ``train`` in
    batches, so the schema matches the model's. ``holdout_matches`` is an array when every
    record has one, else None. A hypothesis listed twice is refused: it would vote twice.
    """
    ids, prng_codes, states = _Growing(IDS_DTYPE), {}, {}
    rows, holdout, bare = None, _Growing(np.int64), []
    names, kept, with_features, has_holdout = None, [], None, True
    with ArrayReader(path, "survivors") as reader:
        for index, rec in reader:
            chunks.check_survivor(path, index, rec, need_sieve=False)
            if with_features is None:
                with_features = "features" in rec
                if with_features:
                    if not isinstance(rec["features"], dict) or not rec["features"]:
                        raise InputError(path, "record 0 field 'features'", "is not an object of numbers")
                    names = dict.fromkeys(sorted(rec["features"]))
                    kept = list(names) if keep_all else [n for n in (TRAIN_RATE,) if n in names]
                    rows = _Growing(np.float32, len(kept))
            if ("features" in rec) != with_features:
                raise InputError(path, f"record {index} field 'features'", "present in some records and missing in others")
            code = prng_codes.setdefault(rec["prng_type"], len(prng_codes))
            ids.append((rec["seed"], rec["skip"], rec["burn"], code))
            if "state" in rec:
                states[index] = rec["state"]
            if with_features:
                rows.append(_feature_row(path, index, rec, names, kept))
            else:
                bare.append({k: rec.get(k, 0.0) for k in (*chunks.SURVIVOR_FIELDS, *chunks.SIEVE_FIELDS)}
                            | ({"state": rec["state"]} if "state" in rec else {}))
            value = rec.get("holdout_matches")
            if has_holdout and (type(value) is not int or value < 0):
                has_holdout = False
            if has_holdout:
                holdout.append(value)
        reader.drain()
        sha = reader.sha256
    ids = ids.array()
    _refuse_duplicates(path, ids, list(prng_codes))
    if with_features:
        X, names = rows.array(), list(names)
        if not np.isfinite(X).all():
            bad = int(np.argwhere(~np.isfinite(X))[0][0])
            raise InputError(path, f"record {bad} field 'features'", "holds a value too large for a float32 (|x| > 3.4e38)")
    elif bare:
        if train is None:
            raise InputError(path, "field 'features'", "missing: bare sieve records need the training draws to be scored")
        names, X = _score_bare(bare, train, mod, residue_mods)
        kept, has_holdout = list(names), False
    else:
        names, X, has_holdout = [], np.empty((0, 0), dtype=np.float32), False
    return Survivors(ids=ids, prng_types=list(prng_codes), names=names, kept=kept, X=X,
                     holdout_matches=holdout.array() if has_holdout else None, path=path, sha256=sha, states=states)


def _refuse_duplicates(path, ids, prng_types):
    if ids.shape[0] < 2:
        return
    order = np.argsort(ids, order=("prng", "seed", "skip", "burn"), kind="stable")
    sorted_ids = ids[order]
    same = sorted_ids[1:] == sorted_ids[:-1]
    if same.any():
        j = int(np.argmax(same))
        index = int(max(order[j], order[j + 1]))
        row = ids[index]
        key = (prng_types[int(row["prng"])], int(row["seed"]), int(row["skip"]), int(row["burn"]))
        raise InputError(path, f"record {index}", f"duplicate hypothesis {key}")


def _score_bare(records, train, mod, residue_mods):
    """Step 3 features of bare sieve records, in batches; names in the lexicographic schema order."""
    names = features.feature_names(mod, residue_mods)
    order = np.argsort(names)
    X = np.empty((len(records), len(names)), dtype=np.float32)
    for lo in range(0, len(records), FEATURE_BATCH):
        _, block, _, _ = features.compute(records[lo:lo + FEATURE_BATCH], train, [], mod, residue_mods)
        X[lo:lo + FEATURE_BATCH] = block[:, order]
    return [names[j] for j in order], X


def extra_matches(survivors, start, draws, mod):
    """Each survivor's exact matches on ``draws`` (history positions ``start`` onwards)."""
    out = np.zeros(len(survivors), dtype=np.int64)
    if not len(draws) or not len(survivors):
        return out
    positions = np.arange(start, start + len(draws))
    actual = np.asarray(draws, dtype=np.int64)
    for code, prng in enumerate(survivors.prng_types):
        rows = np.flatnonzero(survivors.ids["prng"] == code)
        for lo in range(0, rows.size, FEATURE_BATCH):
            part = rows[lo:lo + FEATURE_BATCH]
            ids = survivors.ids[part]
            pred = hypothesis_draws(prng, ids["seed"], positions, ids["skip"], ids["burn"], mod,
                                    states=survivors.states_of(part))
            out[part] = (pred == actual).sum(axis=1)
    return out


# -- the rankings ------------------------------------------------------------------------------
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


def _order(score):
    """Indices by score, highest first; ties in file order."""
    return np.lexsort((np.arange(score.shape[0]), -score))


def continue_hypotheses(survivors, rows, start, horizon, mod):
    """Next ``horizon`` draws of the survivors ``rows``, starting at history position ``start``."""
    rows = np.asarray(rows, dtype=np.int64)
    out = np.zeros((rows.size, horizon), dtype=np.int64)
    positions = np.arange(start, start + horizon)
    codes = survivors.ids["prng"][rows]
    for code, prng in enumerate(survivors.prng_types):
        pick = np.flatnonzero(codes == code)
        if pick.size:
            ids = survivors.ids[rows[pick]]
            out[pick] = hypothesis_draws(prng, ids["seed"], positions, ids["skip"], ids["burn"], mod,
                                         states=survivors.states_of(rows[pick]))
    return out


def pool_vote(quality, next_draws, pool_sizes, pool_weights, mod):
    """Combined votes per number for one step from the ranked voters (best first).

    ``quality`` and ``next_draws`` are the voters' in ranking order; pool j is the first
    ``pool_sizes[j]`` of them. Returns (numbers by vote, votes, P(x) of the voted numbers,
    P of any other number, voters per number).
    """
    votes = defaultdict(float)
    voter_weight = defaultdict(float)
    voters = defaultdict(int)
    total = 0.0
    for size, weight in zip(pool_sizes, pool_weights):
        q = quality[:size]
        if not q.size:
            continue
        total += weight
        w = q / q.sum() if q.sum() > 0 else np.full(q.size, 1.0 / q.size)
        for i, wi in enumerate(w.tolist()):
            votes[int(next_draws[i])] += weight * wi
            voter_weight[i] += weight * wi
    for i in voter_weight:
        voters[int(next_draws[i])] += 1
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


def _evidence(survivors, n_holdout, extra):
    """(matches, draws) of the holdout evidence: Step 3's holdout matches plus the extra known draws."""
    hold = survivors.holdout_matches
    n_extra = len(extra["draws"]) if extra else 0
    if hold is None and not n_extra:
        return None, 0
    matches = (hold if hold is not None else 0) + (extra["matches"] if n_extra else 0)
    return np.asarray(matches, dtype=np.int64), (n_holdout if hold is not None else 0) + n_extra


def predict(survivors, prior, prior_method, *, n_train, n_holdout, n_known, mod, params, meta, extra=None, low=0):
    """The prediction document (without agent_metadata) for the survivors and a prior per survivor.

    ``prior`` is the model's predicted quality per survivor (None: no model, the chance rate).
    ``n_holdout`` draws are the evidence behind the survivors' ``holdout_matches``; ``extra``
    ({"draws", "matches"}) adds known draws after the holdout. Hypotheses continue from history
    position ``n_known``.
    """
    horizon, k, strength = params["horizon"], params["k"], params["prior_strength"]
    n = len(survivors)
    chance = np.full(n, 1.0 / mod)
    q = np.clip(chance if prior is None else np.asarray(prior, dtype=np.float64), 0.0, 1.0)
    hold, n_evidence = _evidence(survivors, n_holdout, extra)
    train_matches = np.rint(survivors.column("exact_match_rate") * n_train).astype(np.int64)
    known_matches = train_matches + (hold if hold is not None else 0)
    n_all = n_train + n_evidence
    llr = likelihood_ratio(known_matches, n_all, mod)
    quality = {
        "model": posterior(q, hold, n_evidence, strength),
        "baseline": (strength / mod + known_matches) / (strength + n_all),
        "evidence": posterior(chance, hold, n_evidence, strength),
    }
    if hold is None and prior is None:
        # Nothing but the training matches is known: rank by them (the likelihood baseline).
        quality["model"] = quality["evidence"] = quality["baseline"]
    orders = {"model": _order(quality["model"]), "baseline": _order(llr), "evidence": _order(quality["evidence"])}
    sizes = [params["pool"][p] for p in POOLS]
    weights = [params["pool"][f"{p}_weight"] for p in POOLS]
    top_n = params["top_survivors"]
    rows = np.unique(np.concatenate([orders[r][: max(sizes)] for r in orders] + [orders["model"][:top_n]]))
    slot = {int(r): i for i, r in enumerate(rows.tolist())}
    nxt = continue_hypotheses(survivors, rows, n_known, horizon, mod) + low  # the program's own values
    steps = []
    for h in range(horizon):
        step = {"step": h + 1, "position": n_known + h}
        for name, order in orders.items():
            top = order[: max(sizes)]
            draws = nxt[[slot[int(i)] for i in top], h]
            ranked, votes, prob, other, voters = pool_vote(quality[name][top], draws, sizes, weights, mod)
            if name == "model":
                step.update(predictions=ranked[:k], probability_other_numbers=other,
                            pool=[{"number": x, "weight": votes[x], "probability": prob[x], "voters": voters[x]}
                                  for x in ranked])
            else:
                step.update({f"{name}_predictions": ranked[:k], f"{name}_probability_other_numbers": other,
                             f"{name}_pool": [{"number": x, "probability": prob[x]} for x in ranked]})
        steps.append(step)
    first = steps[0]
    raw = [entry["weight"] for entry in first["pool"][: len(first["predictions"])]]
    conf = [entry["probability"] for entry in first["pool"][: len(first["predictions"])]]
    top = []
    for i in orders["model"][:top_n].tolist():
        top.append({**survivors.record(i), "predicted_quality": float(q[i]),
                    "posterior_quality": float(quality["model"][i]),
                    "holdout_matches": int(hold[i]) if hold is not None else None,
                    "likelihood_ratio": float(llr[i]), "next_draws": nxt[slot[i]].tolist()})
    basis = ranking_basis(prior_method, n_evidence, meta)
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
            "rankings": RANKINGS,
            "kept": min(n, RANKING_KEPT),
            "posterior_order": orders["model"][:RANKING_KEPT].tolist(),
            "baseline_order": orders["baseline"][:RANKING_KEPT].tolist(),
            "evidence_order": orders["evidence"][:RANKING_KEPT].tolist(),
        },
        "metadata": {
            "method": "posterior_pool_vote",
            "ranking_basis": basis,
            "pool_sizes": dict(zip(POOLS, sizes)),
            "pool_weights": dict(zip(POOLS, weights)),
            "k": k,
            "horizon": horizon,
            "prior_strength": strength,
            "prior_method": prior_method,
            "confidence": "model-based, not calibrated: the evaluation compares the hits it expects with the hits seen",
            "mod": mod,
            "low": low,
            "n_survivors": n,
            "n_known_draws": n_known,
            "n_train": n_train,
            "n_holdout": n_holdout,
            "n_evidence_draws": n_evidence,
            "holdout_evidence": hold is not None,
            "model_type": meta.get("model_type"),
            "feature_schema_hash": meta["feature_schema"]["feature_schema_hash"],
            "signal_quality": meta.get("signal_quality"),
            "score_stats": _stats(q),
            "posterior_stats": _stats(quality["model"]),
        },
    }


def ranking_basis(prior_method, n_evidence, meta):
    """One line saying what the ranking rests on."""
    if prior_method == "chance":
        why = meta.get("no_model_reason") or (meta.get("signal_quality") or {}).get("reason") or "no model"
        if not n_evidence:
            return f"the training matches alone (no model: {why}; and no holdout evidence)"
        return f"the holdout evidence alone, over {n_evidence} draws (no model was trained: {why})"
    prior = "the model's out-of-sample prior" if prior_method == "out_of_sample" else "the model's own prediction"
    if not n_evidence:
        return f"{prior} alone: there is no holdout evidence"
    return f"{prior} and the holdout evidence over {n_evidence} draws"


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


def read_priors(path, survivors):
    """Out-of-sample priors (select_model's out_of_sample_priors.json) for these survivors, or None."""
    doc = read_json(path, "out-of-sample priors")
    if not isinstance(doc, dict) or "status" not in doc:
        raise InputError(path, "field 'status'", "missing: not an out_of_sample_priors file")
    if doc["status"] != "ok":
        return None
    if doc.get("survivors_sha256") != survivors.sha256 or doc.get("n") != len(survivors):
        raise InputError(path, "field 'survivors_sha256'", f"the priors were made for another survivors file than "
                         f"{survivors.path} ({len(survivors)} records)")
    prior = np.asarray(doc.get("prior"), dtype=np.float64)
    if prior.shape != (len(survivors),) or not np.isfinite(prior).all():
        raise InputError(path, "field 'prior'", f"expected {len(survivors)} finite numbers")
    return prior


# -- the history the features and the label were computed over --------------------------------------
def split_history(draws, meta, side, train_draws=None):
    """(train, holdout, extra) of a whole known history for the model of sidecar ``meta``.

    The training part is as long as the one the model's features were computed over (the
    sidecar's ``feature_schema.train_draws``, or ``train_draws``), the holdout as long as the one
    behind the survivors' holdout matches (``y_label_source.n_holdout``); draws after them are
    extra evidence. Without a recorded length, ``train_draws`` must be given.
    """
    recorded = (meta.get("feature_schema") or {}).get("train_draws")
    if recorded is not None and train_draws is not None and int(train_draws) != recorded:
        raise InputError(side, "field 'feature_schema.train_draws'",
                         f"the model's features were computed over {recorded} training draws, not {train_draws} "
                         "(--train-draws)")
    n_train = recorded if recorded is not None else train_draws
    if n_train is None:
        raise InputError(side, "field 'feature_schema.train_draws'",
                         "is not recorded: give --train-draws, the number of leading draws the survivors' features "
                         "were computed over")
    n_holdout = (meta.get("y_label_source") or {}).get("n_holdout") or 0
    if len(draws) < n_train + n_holdout:
        raise InputError(side, "field 'feature_schema.train_draws'",
                         f"the history has {len(draws)} draws, fewer than the {n_train} training and {n_holdout} "
                         "holdout draws the model and the survivors' labels were computed over")
    return list(draws[:n_train]), list(draws[n_train:n_train + n_holdout]), list(draws[n_train + n_holdout:])


def check_history(meta, side, train, holdout, survivors):
    """Refuse a history whose lengths differ from the ones the features and the labels were computed over."""
    recorded = (meta.get("feature_schema") or {}).get("train_draws")
    if recorded is not None and recorded != len(train):
        raise InputError(side, "field 'feature_schema.train_draws'",
                         f"the model's features were computed over {recorded} training draws, the history given has "
                         f"{len(train)}: features over another history length are other features (rerun Step 3 on "
                         "the same split, or retrain)")
    n_holdout = (meta.get("y_label_source") or {}).get("n_holdout")
    if survivors.holdout_matches is not None and holdout is not None and n_holdout is not None \
            and n_holdout != len(holdout):
        raise InputError(side, "field 'y_label_source.n_holdout'",
                         f"the survivors' holdout_matches count matches over {n_holdout} holdout draws, the history "
                         f"given has {len(holdout)}")


def run(models_dir, survivors_path, train, holdout, mod, params, residue_mods, output, inputs, priors_path=None,
        extra=(), low=0):
    """Load the sidecar (and, without ``priors_path``, its model), predict, write ``output``.

    Returns 0, or EXIT_SKIPPED (3) when there is no survivor to rank. ``holdout`` may be None
    (no holdout evidence: the ranking rests on the prior alone, and the log says so). With
    ``priors_path`` (select_model's out_of_sample_priors.json for this survivors file) the
    prior of each survivor is the prediction of a model that never saw its label, and the
    model file is checked against the sidecar's sha256 without loading its backend; without it,
    the loaded model predicts, which is in-sample for survivors it was trained on. A sidecar
    without a model gives the chance rate as every prior. ``extra`` are known draws after the
    holdout, counted as evidence. ``train``, ``holdout`` and ``extra`` are draws less ``low``
    (read_history_part); the predicted numbers are the program's own values, in [low, low + mod).
    """
    from models.feature_schema import check_model_columns, model_inputs
    from models.model_factory import check_artifact, load_model_from_sidecar, read_sidecar, sidecar_path
    from seedsift.provenance import agent_metadata, parent_run_id_of

    side = sidecar_path(models_dir)
    meta = read_sidecar(side)
    parent = parent_run_id_of(meta)
    has_model = meta.get("checkpoint_path") is not None
    model_predicts = has_model and not priors_path
    survivors = read_survivors(survivors_path, train, mod, residue_mods, keep_all=model_predicts)
    if not len(survivors):
        doc = skipped(f"{NO_SURVIVOR}: {survivors_path} holds no survivors, so there is nothing to rank", meta, 0)
    else:
        check_history(meta, side, train, holdout, survivors)
        try:
            check_model_columns(survivors.names, meta)
        except ValueError as exc:  # M.6 schema mismatch: one line naming the sidecar and the field
            raise InputError(side, "field 'feature_schema.feature_schema_hash'", str(exc)) from None
        prior, method = None, "chance"
        if priors_path and has_model:
            check_artifact(side, meta)
            prior, method = read_priors(priors_path, survivors), "out_of_sample"
            if prior is None:
                raise InputError(priors_path, "field 'status'", "holds no priors while the sidecar names a model")
        elif model_predicts:
            model, meta = load_model_from_sidecar(side, meta=meta)
            prior, method = model.predict(model_inputs(survivors.names, survivors.X, meta)[1]), "model"
        use_holdout = holdout is not None and survivors.holdout_matches is not None
        if not use_holdout:
            survivors.holdout_matches = None
        n_holdout = len(holdout) if holdout is not None else 0
        n_known = len(train) + n_holdout + len(extra)
        more = {"draws": list(extra), "matches": extra_matches(survivors, len(train) + n_holdout, extra, mod)} \
            if len(extra) else None
        doc = predict(survivors, prior, method, n_train=len(train), n_holdout=n_holdout if use_holdout else 0,
                      n_known=n_known, mod=mod, params=params, meta=meta, extra=more, low=low)
        if not doc["metadata"]["holdout_evidence"] and not doc["metadata"]["n_evidence_draws"]:
            log.warning("ranking by %s", doc["metadata"]["ranking_basis"])
        else:
            log.info("ranking by %s", doc["metadata"]["ranking_basis"])
    doc["metadata"]["survivors_file"] = str(survivors_path)
    doc["metadata"]["survivors_sha256"] = survivors.sha256
    conf = float(np.mean(doc["confidence_scores"])) if doc["confidence_scores"] else 0.0
    doc["agent_metadata"] = agent_metadata(
        "prediction", inputs=[side, survivors_path, priors_path, *inputs], outputs=[output], parent_run_id=parent,
        params=params, success_criteria_met=doc["status"] == "OK", confidence=conf,
    )
    write_json(output, doc)
    return 0 if doc["status"] == "OK" else EXIT_SKIPPED


def survivor_index(path, match):
    """Index of the first record of a survivors file for which ``match(record)`` holds, or None (streamed)."""
    with ArrayReader(path, "survivors") as reader:
        for index, rec in reader:
            if match(rec):
                return index
    return None
