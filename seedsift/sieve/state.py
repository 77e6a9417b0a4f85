"""Step 2 with ``sieve.search: state``: the generator state at the first training draw, per call.

For each skip in [skip_min, skip_max] the call's state method (seedsift.prng.state) recovers the
states that reproduce every training draw. Each verified state becomes a survivor record like the
seed sieve's, with a ``state`` field in place of a seed (``seed`` is the candidate's number, 0 for
a unique state, and ``burn`` is 0: the state is the one at history draw 0), so Steps 3-7 score,
rank, predict and evaluate it like any other hypothesis. The holdout and test draws are not read
here: they check the state downstream.
"""

import logging
import math

from seedsift.data.draws import read_history_part
from seedsift.jsonio import write_json
from seedsift.prng import state as prng_state
from seedsift.provenance import agent_metadata, parent_run_id_from
from seedsift.sieve import search
from seedsift.sieve.shards import min_train_draws, spec_of

log = logging.getLogger(__name__)

FORMAT = "seedsift.state/1"


def state_record(spec, st, skip, index):
    """A survivor record for state ``st`` under ``skip``: the sieve's window fields, measured."""
    train = spec.train
    fwd, rev = spec.forward_positions.tolist(), spec.reverse_positions.tolist()
    calls = sorted({p * (skip + 1) for p in fwd + rev})
    at = dict(zip(calls, prng_state.state_draws(spec.prng, st, spec.mod, calls)))
    f = sum(at[p * (skip + 1)] == train[p] for p in fwd)
    r = sum(at[p * (skip + 1)] == train[p] for p in rev)
    need = spec.required
    return search.survivor_record(spec, index, skip, 0, f, r, f >= need and r >= need) | {"state": st}


def expected_false(state_bits, n_skips, n_draws, q):
    """States expected to reproduce ``n_draws`` uniform random draws: skips x 2^bits x q^n (0.0 below 1e-300)."""
    log_e = math.log(n_skips) + state_bits * math.log(2) + n_draws * math.log(q)
    return math.exp(min(log_e, 700.0)) if log_e > -690 else 0.0


def recover_all(spec):
    """The state search of one call over every skip of ``spec`` (a SieveSpec): (runs, records)."""
    runs, records, short = [], [], []
    for skip in spec.skips.tolist():
        try:
            rec = prng_state.recover(spec.prng, spec.train, spec.mod, skip)
        except prng_state.StateError as err:
            if err.needed is None:
                raise
            # This skip needs more draws than the training part has; the others may not.
            short.append(err)
            log.info("skip %d: %s", skip, err)
            runs.append({"skip": skip, "outcome": "short", "states_consistent": None, "states_verified": 0,
                         "draws_used": 0, "statement": str(err), "elapsed_s": 0.0, "detail": {"needed": err.needed}})
            continue
        log.info("skip %d: %s (%.2f s)", skip, rec.statement, rec.elapsed_s)
        runs.append({
            "skip": skip, "outcome": rec.outcome, "states_consistent": rec.consistent,
            "states_verified": len(rec.states), "draws_used": rec.draws_used, "statement": rec.statement,
            "elapsed_s": rec.elapsed_s, "detail": rec.detail,
        })
        records += [state_record(spec, st, skip, i) for i, st in enumerate(rec.states)]
    if len(short) == len(runs):
        raise min(short, key=lambda e: e.needed)
    return runs, records


def run_state(train_path, prng, params, output, parent=None):
    """Recover call ``prng``'s state for every skip and write its state file; returns the document."""
    sv, mod = params["sieve"], params["mod"]
    train = read_history_part(train_path, mod, *min_train_draws(params), low=params.get("low", 0))
    spec = spec_of(prng, train, params)
    method = prng_state.method_check(prng, mod, len(train), spec.skips.tolist())
    log.info("%s: %s; skips %d..%d", prng, method.need_sentence(len(train)), spec.skip_min, spec.skip_max)
    runs, records = recover_all(spec)
    elapsed = sum(r["elapsed_s"] for r in runs)
    n_bid = sum(r["bidirectional"] for r in records)
    exp = expected_false(method.state_bits, len(runs), len(train), spec.match_probability)
    doc = {
        "format": FORMAT,
        "search": "state",
        "prng_type": prng,
        "mod": mod,
        "method": {"name": method.name, "generator": method.generator, "state_bits": method.state_bits,
                   "reads": method.reads, "draws_needed": method.needed},
        "draws_given": len(train),
        "skip_range": [sv["skip_min"], sv["skip_max"]],
        "runs": runs,
        "required_matches": spec.required,
        "stats": {
            "seeds_tested": 0, "stage1_candidates": 0, "forward_survivors": len(records),
            "bidirectional_survivors": n_bid, "elapsed_s": elapsed, "seeds_per_s": None,
        },
        "expected_false": exp,
        "agent_metadata": agent_metadata(
            "sieve", inputs=[train_path, parent], outputs=[output],
            parent_run_id=parent_run_id_from(parent) if parent else None, params={"prng": prng, **params},
        ),
        "survivors": records,
    }
    doc["family"] = family_entry(doc)  # what the sieve summary lists for this call
    write_json(output, doc, indent=None)
    return doc


def family_entry(doc):
    """The sieve summary's entry for a state document (a seed family's counts, and the statements)."""
    st = doc["stats"]
    return {
        "search": "state",
        "method": doc["method"]["name"],
        "generator": doc["method"]["generator"],
        "state_bits": doc["method"]["state_bits"],
        "reads": doc["method"]["reads"],
        "draws_needed": doc["method"]["draws_needed"],
        "draws_given": doc["draws_given"],
        "runs": [{k: r[k] for k in ("skip", "outcome", "states_consistent", "states_verified", "statement")}
                 for r in doc["runs"]],
        "seeds_tested": 0,
        "stage1_candidates": 0,
        "forward_survivors": st["forward_survivors"],
        "bidirectional_survivors": st["bidirectional_survivors"],
        "elapsed_s": st["elapsed_s"],
        "shards": 1,
        "seeds_per_s": None,
        "required_matches": doc["required_matches"],
        "expected_false_forward": doc["expected_false"],
        "expected_false_bidirectional": doc["expected_false"],
    }


def log_hypotheses(fam, n_skips):
    """Natural log of the hypotheses a family tested: seeds x skips, or skips x 2^state_bits states."""
    if fam.get("search") == "state":
        return math.log(n_skips) + fam["state_bits"] * math.log(2)
    count = fam["seeds_tested"] * n_skips
    return math.log(count) if count > 0 else -math.inf


def render_lines(summary):
    """The summary's lines for a state search: per call, what it had against what it needs, and what it found."""
    lines = [f"State recovery (sieve.search: state): skips {summary['skip_range'][0]}..{summary['skip_range'][1]}, "
             f"{summary['n_train']} training draws, mod {summary['mod']}."]
    for prng, fam in sorted(summary["families"].items()):
        found = fam["bidirectional_survivors"]
        lines.append(f"  {prng}: {fam['method']} over the {fam['state_bits']:,}-bit state; needs >= "
                     f"{fam['draws_needed']:,} consecutive draws, the training part has {fam['draws_given']:,}; "
                     f"{found} state{'s' if found != 1 else ''} found (chance: {fam['expected_false_bidirectional']:.2g} "
                     f"expected from uniform random draws).")
        for run in fam.get("runs", []):
            lines.append(f"    skip {run['skip']}: {run['outcome']} - {run['statement']}")
    return lines
