"""The exact check after the sieve: which survivors reproduce every known draw, and what they predict.

A survivor passed two short windows of the training draws. Here each one is checked against all
known draws (train and holdout): its matches ``m`` of ``n`` are compared with chance, the
expected number of hypotheses at least that good among all tested if the draws had nothing to
do with them, ``E = hypotheses tested * P[Bin(n, q) >= m]`` (q the call's match probability).
A survivor is *recovered* when E is below RECOVERED_BELOW. Its continuation gives the next draws;
where the history has test draws, the check also says how many of them it reproduces (draws no
step before has read).
"""

import math

import numpy as np

from seedsift.jsonio import iter_records
from seedsift.prng import runtimes
from seedsift.prng.hypothesis import hypothesis_draws
from seedsift.prng.state import lcg
from seedsift.sieve.seeds import as_time
from seedsift.sieve.state import log_hypotheses
from seedsift.stats import binom_logsf

FORMAT = "seedsift.recovered/1"
# A hypothesis counts as recovered when fewer than this many equally good ones are expected by chance.
RECOVERED_BELOW = 0.01
# Draws shown after the last known draw when the history has no test draws.
NEXT_DRAWS = 10
# Survivors checked at most (the best by window matches): an exact search leaves a handful.
MAX_CHECKED = 100_000


def _groups(records):
    by = {}
    for i, r in enumerate(records):
        by.setdefault(r["prng_type"], []).append(i)
    return by


def check(records, known, test, mod, log_tested):
    """Matches of every record over the ``known`` draws (offsets) and its continuation.

    ``log_tested`` maps a call name to the natural log of the hypotheses it tested: (seeds tested)
    x (skips), or for a state search (skips) x 2^(state bits). Returns one row per record: matches,
    chance figure E, recovered, next draws (offsets) and test matches.
    """
    n, horizon = len(known), max(len(test), NEXT_DRAWS)
    known = np.asarray(known, dtype=np.int64)
    rows = [None] * len(records)
    for prng, idx in _groups(records).items():
        pick = [records[i] for i in idx]
        draws = hypothesis_draws(prng, [r["seed"] for r in pick], np.arange(n + horizon),
                                 [r["skip"] for r in pick], [r["burn"] for r in pick], mod,
                                 states=[r.get("state") for r in pick])
        matches = (draws[:, :n] == known).sum(axis=1)
        q = runtimes.match_probability(prng, mod)
        tested = log_tested.get(prng, -math.inf)
        for j, i in enumerate(idx):
            m = int(matches[j])
            log_e = tested + (binom_logsf(m, n, q) if m > n * q else 0.0)
            expected = math.exp(min(log_e, 700.0)) if log_e > -700.0 else 0.0
            nxt = draws[j, n:].tolist()
            rows[i] = {
                "matches": m, "n_known": n, "match_rate": m / n if n else 0.0, "expected_false": expected,
                "log10_expected_false": log_e / math.log(10) if log_e > -math.inf else None,
                "recovered": expected < RECOVERED_BELOW, "next_draws": nxt,
                "test_matches": int(sum(a == b for a, b in zip(nxt, test))) if test else None,
            }
    return rows


def recover(survivors_path, sieve_summary, known, test, params):
    """The recovered.json document: the survivors that reproduce the known draws, best first."""
    sv, mod, low = params["sieve"], params["mod"], params.get("low", 0)
    n_skips = sv["skip_max"] - sv["skip_min"] + 1
    families = sieve_summary["families"]
    by_state = sv.get("search") == "state"
    log_tested = {name: log_hypotheses(fam, n_skips) for name, fam in families.items()}
    records = [rec for _, rec in iter_records(survivors_path)]
    records.sort(key=lambda r: (-(r["forward_matches"] + r["reverse_matches"]), r["prng_type"], r["seed"], r["skip"]))
    checked = records[:MAX_CHECKED]
    rows = check(checked, known, test, mod, log_tested)
    unit = sv["seed_time"]["unit"] if sv["seed_time"]["start"] is not None else None
    found = []
    for rec, row in sorted(zip(checked, rows), key=lambda rr: (-rr[1]["matches"], rr[1]["expected_false"],
                                                                 rr[0]["prng_type"], rr[0]["seed"])):
        if not row["recovered"]:
            continue
        entry = {"prng_type": rec["prng_type"], "seed": rec["seed"], "skip": rec["skip"], "burn": rec["burn"],
                 **row, "next_draws": [low + v for v in row["next_draws"]]}
        if "state" in rec:
            entry["state"] = rec["state"]
        elif unit:
            entry["seed_time"] = as_time(rec["seed"], unit)
        found.append(entry)
    return {
        "format": FORMAT,
        "mod": mod,
        "low": low,
        "n_known": len(known),
        "n_test": len(test),
        "survivors_checked": len(checked),
        "survivors": len(records),
        "search": "state" if by_state else "seeds",
        "hypotheses_tested": {name: fam["seeds_tested"] * n_skips for name, fam in families.items()
                              if fam.get("search") != "state"},
        "states_tested": {name: f"{n_skips} skip(s) x 2^{fam['state_bits']} states" for name, fam in families.items()
                          if fam.get("search") == "state"},
        "recovered_below": RECOVERED_BELOW,
        "seed_time_unit": unit,
        "recovered": found,
        "verdict": (f"{len(found)} hypothes{'is' if len(found) == 1 else 'es'} reproduce the known draws "
                    f"beyond chance" if found else _nothing(by_state)),
    }


def _nothing(by_state):
    if by_state:
        return ("no recovered state reproduces the known draws beyond chance: the call or the skip range is "
                "another, the history has gaps, or the draws are not from a searched generator")
    return ("no hypothesis reproduces the known draws beyond chance: the seed is not in the searched "
            "range, the call or the skip range is another, or the draws are not from a searched generator")


def describe_state(prng, state):
    """A recovered state in words (for java.util.Random also the seed whose new Random(seed) starts there)."""
    words = state["words"]
    if state["generator"] == "java_lcg48":
        s = words[0]
        text = f"48-bit state 0x{s:012x}"
        if prng == "java.util.Random.nextInt":
            text += f" (new Random({s ^ lcg.MULT}) makes the same draws)"
        return text
    if len(words) > 4:
        return f"{len(words)}-word {state['generator']} state (x_0 = 0x{words[0]:08x}, x_1 = 0x{words[1]:08x}, ...)"
    return f"{state['generator']} state (" + ", ".join(f"0x{w:08x}" for w in words) + ")"


def render(doc):
    """The text `make recover` prints."""
    lines = [f"Recovery: {doc['survivors_checked']:,} sieve survivors checked against all {doc['n_known']} known draws "
             f"(a hypothesis is recovered when fewer than {doc['recovered_below']:g} as good are expected by chance)."]
    for r in doc["recovered"]:
        when = f" = {r['seed_time']}" if r.get("seed_time") else ""
        test = (f"; reproduces {r['test_matches']} of {doc['n_test']} unseen test draws"
                if r["test_matches"] is not None else "")
        what = (f"state candidate {r['seed']}: {describe_state(r['prng_type'], r['state'])}," if "state" in r
                else f"seed {r['seed']}{when}")
        chance = (f"{r['expected_false']:.3g}" if r["expected_false"] > 0 or r.get("log10_expected_false") is None
                  else f"1e{r['log10_expected_false']:.0f}")
        lines.append(f"  {r['prng_type']} {what} skip {r['skip']}: {r['matches']}/{r['n_known']} "
                     f"known draws (chance: {chance} such hypotheses expected){test}")
        label = "next draws after the known ones" if doc["n_test"] == 0 else "its draws from the first test draw on"
        lines.append(f"    {label}: {r['next_draws']}")
    lines.append(f"Verdict: {doc['verdict']}.")
    return "\n".join(lines)
