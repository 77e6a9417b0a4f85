"""File side of the sieve: one shard job, and the aggregation into the survivor files."""

import logging

from seedsift.data.draws import read_history_part
from seedsift.errors import InputError
from seedsift.jsonio import read_json, write_json, write_json_array
from seedsift.prng.gpu import device
from seedsift.provenance import agent_metadata, parent_run_id_from
from seedsift.sieve import search
from seedsift.stats import poisson_sf

log = logging.getLogger(__name__)

# Fields of search.sieve_range's stats that measure the run, not the result.
TIMING_FIELDS = ("elapsed_s", "seeds_per_s")
RECORD_FIELDS = (
    "seed", "prng_type", "skip", "burn", "window_start", "window", "forward_matches",
    "reverse_matches", "forward_match_rate", "reverse_match_rate", "bidirectional",
)


def min_train_draws(params):
    """Training draws the sieve windows need: the forward and reverse windows must not overlap."""
    sv = params["sieve"]
    return sv["window_start"] + 2 * sv["window"], "(window_start + 2 * window)"


def spec_of(prng, train, params):
    """SieveSpec of a family from the validated config."""
    sv = params["sieve"]
    return search.SieveSpec(
        prng=prng, train=tuple(train), mod=params["mod"], skip_min=sv["skip_min"], skip_max=sv["skip_max"],
        burn=sv["burn"], window_start=sv["window_start"], window=sv["window"], threshold=sv["threshold"],
    )


def run_shard(train_path, prng, shard, params, output, parent=None):
    """Sieve shard ``shard`` of family ``prng`` and write its JSON file.

    ``parent`` is the draw-history summary whose run_id this shard descends from.
    """
    sv = params["sieve"]
    train = read_history_part(train_path, params["mod"], *min_train_draws(params), low=params.get("low", 0))
    spec = spec_of(prng, train, params)
    lo, hi = search.shard_bounds(sv["seed_start"], sv["seed_end"], sv["shards"], shard)
    log.info("%s shard %d: seeds [%d, %d), skips %d..%d, window %d needs %d matches",
             prng, shard, lo, hi, spec.skip_min, spec.skip_max, spec.window, spec.required)
    backend = device.select(sv.get("device", "auto"))
    where = backend.info() if backend is not None else device.cpu_info()
    # The full description (GPU name, library versions, threads) is a fact of this machine: it goes
    # to the log; the shard file keeps what was computed with, so equal inputs give equal files.
    log.info("%s shard %d runs on %s (%s)", prng, shard, where["label"],
             ", ".join(f"{k} {v}" for k, v in where.items() if k != "label"))
    records, stats = search.sieve_range(spec, lo, hi, label=f"{prng} shard {shard}: ", backend=backend)
    # How fast the shard ran is a fact of this run: it goes to the log (and the rule's benchmark
    # file), not into the shard file.
    timing = {key: stats.pop(key) for key in TIMING_FIELDS if key in stats}
    log.info("%s shard %d: %d seeds in %.2f s (%s seeds/s)", prng, shard, stats["seeds_tested"],
             timing.get("elapsed_s") or 0.0, f"{timing['seeds_per_s']:,.0f}" if timing.get("seeds_per_s") else "-")
    where = {k: where[k] for k in ("device", "backend", "label")}
    write_json(output, {
        "prng_type": prng,
        "shard": shard,
        "seed_start": lo,
        "seed_end": hi,
        "required_matches": spec.required,
        "stats": stats,
        "device": where,
        "agent_metadata": agent_metadata(
            "sieve", inputs=[train_path, parent], outputs=[output],
            parent_run_id=parent_run_id_from(parent) if parent else None,
            params={"prng": prng, "shard": shard, **params},
        ),
        "survivors": records,
    }, indent=None)
    return stats


def _read_shard(path):
    data = read_json(path, "sieve shard")
    state = data.get("search") == "state"  # a state file (sieve.search: state) in place of the shards
    for key in ("prng_type", "stats", "survivors") + (("family",) if state else ("seed_start", "seed_end")):
        if key not in data:
            raise InputError(path, f"field '{key}'", "missing: the shard file is incomplete")
    return data


def aggregate(shard_paths, train_path, params, forward_out, bidirectional_out, summary_out, parent=None):
    """Merge shard files into the forward / bidirectional survivor files and the summary.

    The survivor files are plain record arrays; their agent_metadata lives in the summary.
    """
    train = read_history_part(train_path, params["mod"], *min_train_draws(params), low=params.get("low", 0))
    families, survivors = {}, []
    for path in shard_paths:
        data = _read_shard(path)
        if data.get("search") == "state":
            families[data["prng_type"]] = data["family"]
            survivors.extend(data["survivors"])
            continue
        fam = families.setdefault(data["prng_type"], {
            "seeds_tested": 0, "stage1_candidates": 0, "forward_survivors": 0,
            "bidirectional_survivors": 0, "shards": 0, "devices": {},
        })
        for key in ("seeds_tested", "stage1_candidates", "forward_survivors", "bidirectional_survivors"):
            fam[key] += data["stats"][key]
        fam["shards"] += 1
        # Shards per device and backend, e.g. {"gpu/cuda": 3, "cpu/numba": 1}.
        label = data.get("device", {}).get("label", "unknown")
        fam["devices"][label] = fam["devices"].get(label, 0) + 1
        survivors.extend(data["survivors"])
    survivors.sort(key=lambda r: (r["prng_type"], r["seed"]))
    n_fwd = write_json_array(forward_out, survivors)
    n_bid = write_json_array(bidirectional_out, (r for r in survivors if r["bidirectional"]))
    for prng, fam in families.items():
        if fam.get("search") == "state":
            continue  # its chance figure is the state file's
        spec = spec_of(prng, train, params)
        seeds = fam["seeds_tested"]
        forward, bidirectional = spec.pass_chance(False), spec.pass_chance(True)
        fam["expected_false_forward"] = seeds * forward.high
        fam["expected_false_bidirectional"] = seeds * bidirectional.high
        # Exact, or the Bonferroni bounds whose upper end is the figure (seedsift.sieve.chance).
        fam["expected_false_exact"] = forward.exact and bidirectional.exact
        fam["expected_false_range"] = {"forward": [seeds * forward.low, seeds * forward.high],
                                       "bidirectional": [seeds * bidirectional.low, seeds * bidirectional.high]}
        fam["expected_by_forward_matches"] = [[k, e] for k, e in spec.expected_by_forward_matches(seeds, forward)]
        fam["required_matches"] = spec.required
    sv = params["sieve"]
    summary = {
        "search": sv.get("search", "seeds"),
        "n_train": len(train),
        "mod": params["mod"],
        "window": sv["window"],
        "window_start": sv["window_start"],
        "threshold": sv["threshold"],
        "skip_range": [sv["skip_min"], sv["skip_max"]],
        "seed_range": [sv["seed_start"], sv["seed_end"]],
        "forward_survivors": n_fwd,
        "bidirectional_survivors": n_bid,
        "expected_false_forward": sum(f["expected_false_forward"] for f in families.values()),
        "expected_false_bidirectional": sum(f["expected_false_bidirectional"] for f in families.values()),
        "families": families,
        "no_survivors": n_fwd == 0,
    }
    expected = summary["expected_false_bidirectional"]
    summary["chance_note"] = (
        f"{n_bid} bidirectional survivors against {expected:.3g} expected from uniform random draws: "
        + ("more than chance alone explains" if poisson_sf(n_bid, expected) < 1e-3 else
           "consistent with chance; the survivors themselves are not evidence of a PRNG")
    )
    bounded = sorted(p for p, f in families.items() if f.get("expected_false_exact") is False)
    if bounded:
        summary["chance_note"] += (f" (for {', '.join(bounded)} the expected figures are upper bounds: the skips share "
                                   "too many outputs to count exactly; expected_false_range gives both bounds)")
    summary["agent_metadata"] = agent_metadata(
        "sieve", inputs=[train_path, parent, *shard_paths], outputs=[forward_out, bidirectional_out, summary_out],
        parent_run_id=parent_run_id_from(parent) if parent else None, params=params,
        measured={"min_bidirectional_survivors": n_bid},
        confidence=1.0 - poisson_sf(n_bid, expected),
    )
    write_json(summary_out, summary)
    return summary
