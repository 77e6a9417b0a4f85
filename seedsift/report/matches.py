"""The report step: forward-match counts of the sieve survivors against chance, and the figures.

    count_forward_matches  forward_survivors.json + sieve_summary.json -> forward_matches.json
    draw_figures           the steps' JSON documents -> the PNG files of seedsift.report.figures

Chance expectation of the forward-match counts: the sieve summary's
``expected_by_forward_matches`` of each family, seeds x (P[some skip has >= k forward matches] -
P[some skip has >= k + 1]) under uniform random draws (seedsift.sieve.search, counted with the
skips' shared calls by seedsift.sieve.chance). A survivor record keeps one skip per seed (the
best), so its forward count is the best skip's. The rows sum over k >= required to the summary's
expected_false_forward. A state-search family tests no seeds: its rows expect none.
"""

import logging
from collections import Counter

from seedsift.errors import InputError
from seedsift.jsonio import iter_records, read_json, write_json
from seedsift.report import figures

log = logging.getLogger(__name__)

FORWARD_MATCHES_FORMAT = "seedsift.forward_matches/1"
MANIFEST = "report"


def count_forward_matches(survivors_path, sieve_summary):
    """Survivors per (family, forward matches) next to the chance expectation (a dict)."""
    window, mod = sieve_summary["window"], sieve_summary["mod"]
    lo, hi = sieve_summary["skip_range"]
    n_skips = hi - lo + 1
    counts = Counter()
    for index, rec in iter_records(survivors_path):
        try:
            counts[(rec["prng_type"], int(rec["forward_matches"]))] += 1
        except (KeyError, TypeError, ValueError):
            raise InputError(survivors_path, f"record {index}", "needs prng_type and an integer forward_matches") from None
    families = {}
    for prng, fam in sieve_summary["families"].items():
        required = fam["required_matches"]
        chance = {int(k): e for k, e in fam.get("expected_by_forward_matches", [])}
        rows = [{"matches": k, "observed": counts.pop((prng, k), 0), "expected": chance.get(k, 0.0)}
                for k in range(required, window + 1)]
        families[prng] = {"seeds_tested": fam["seeds_tested"], "search": fam.get("search", "seeds"),
                          "required_matches": required, "rows": rows,
                          "observed_total": sum(r["observed"] for r in rows),
                          "expected_total": fam["expected_false_forward"]}
    if counts:
        (prng, k), _ = next(iter(counts.items()))
        raise InputError(survivors_path, f"family {prng}", f"{k} forward matches is outside the sieve summary's "
                         f"families {sorted(sieve_summary['families'])} and window 1..{window}")
    required = min((f["required_matches"] for f in families.values()), default=None)
    return {"format": FORWARD_MATCHES_FORMAT, "window": window, "mod": mod, "n_skips": n_skips,
            "required_matches": required, "families": families,
            "chance": "seeds x P[the best skip has exactly k of window matches] under uniform random draws, "
                      "the skips' shared calls counted jointly"}


# Figure name -> (plotting function, the input documents it takes, in order).
FIGURES = {
    "feature_importance": (figures.feature_importance, ("importance",)),
    "model_comparison": (figures.model_comparison, ("comparison",)),
    "forward_matches": (figures.forward_matches, ("forward_matches",)),
    "predicted_vs_actual": (figures.predicted_vs_actual, ("test_predictions", "comparison")),
    "prediction_pool": (figures.prediction_pool, ("predictions",)),
}


def draw_figures(inputs, outputs):
    """Draw every figure of ``outputs`` ({figure: png path}) from ``inputs`` ({document: json path})."""
    unknown = sorted(set(outputs) - set(FIGURES))
    if unknown:
        raise InputError("figures", unknown[0], f"unknown figure; known: {sorted(FIGURES)}")
    docs = {}
    for name, path in outputs.items():
        draw, needs = FIGURES[name]
        for need in needs:
            if need not in docs:
                if inputs.get(need) is None:
                    raise InputError("figures", name, f"needs the {need} document")
                docs[need] = read_json(inputs[need], need)
        draw(*(docs[n] for n in needs), path)
        log.info("wrote %s", path)


def write_forward_matches(survivors_path, summary_path, output, lineage):
    """count_forward_matches on files; writes ``output`` with ``lineage`` as agent_metadata."""
    summary = read_json(summary_path, "sieve summary")
    doc = count_forward_matches(survivors_path, summary)
    doc["agent_metadata"] = dict(lineage, outputs=[str(output)])
    write_json(output, doc)
    return doc
