"""Step 3 files: partition survivors into chunks, score a chunk, k-way merge the scored chunks.

Every function streams: partitioning and merging hold one record per chunk at a time, and a
chunk job holds only its own chunk. Outputs are written atomically and verified.
"""

import heapq
import json
import logging
import time

import numpy as np

from seedsift.errors import InputError
from seedsift.jsonio import JsonArrayWriter, iter_records, write_json, write_json_array
from seedsift.prng import runtimes
from seedsift.prng import state as prng_state
from seedsift.scoring import features

log = logging.getLogger(__name__)

SURVIVOR_FIELDS = {"seed": int, "prng_type": str, "skip": int, "burn": int}
SIEVE_FIELDS = ("forward_match_rate", "reverse_match_rate")
BATCH = 8192


def iter_record_lines(path, what="scored chunk"):
    """(index, record, line) of a record-per-line JSON array written by JsonArrayWriter.

    Faster than a streaming parser for the files the pipeline writes itself; a file that is not
    in that layout, truncated or invalid raises InputError naming the line.
    """
    with open(path, encoding="utf-8") as fh:
        head = fh.readline()
        if head.strip() != "[":
            raise InputError(path, "line 1", f"expected '[' opening a {what} written one record per line")
        index = 0
        closed = False
        for number, line in enumerate(fh, start=2):
            text = line.rstrip("\n")
            if text == "]":
                closed = True
                continue
            if closed and text.strip():
                raise InputError(path, f"line {number}", "text after the closing ']'")
            body = text[:-1] if text.endswith(",") else text
            try:
                record = json.loads(body)
            except json.JSONDecodeError as exc:
                raise InputError(path, f"line {number}", f"invalid or truncated JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise InputError(path, f"line {number}", "expected one JSON object per line")
            yield index, record, body
            index += 1
        if not closed:
            raise InputError(path, "end of file", f"the {what} is truncated (no closing ']')")


def check_survivor(path, index, rec, need_sieve=True):
    """Validate one survivor record's identifying fields (and the sieve's window rates)."""
    if not isinstance(rec, dict):
        raise InputError(path, f"record {index}", f"expected an object, got {type(rec).__name__}")
    for field, kind in SURVIVOR_FIELDS.items():
        if field not in rec:
            raise InputError(path, f"record {index} field '{field}'", "missing")
        value = rec[field]
        if isinstance(value, bool) or not isinstance(value, kind):
            raise InputError(path, f"record {index} field '{field}'", f"value {value!r} is not {kind.__name__}")
        if kind is int and value < 0:
            raise InputError(path, f"record {index} field '{field}'", f"value {value} is negative")
    if rec["prng_type"] not in runtimes.RUNTIMES and rec["prng_type"] not in runtimes.families.FAMILIES:
        raise InputError(path, f"record {index} field 'prng_type'",
                         f"value {rec['prng_type']!r} is not one of {runtimes.names()}")
    limit = runtimes.seed_limit(rec["prng_type"])
    if rec["seed"] >= limit:
        raise InputError(path, f"record {index} field 'seed'",
                         f"value {rec['seed']} is outside the seed space [0, {limit}) of {rec['prng_type']}")
    if "state" in rec:
        problem = prng_state.check_state(rec["prng_type"], rec["state"])
        if problem:
            raise InputError(path, f"record {index} field 'state'", problem)
    if need_sieve:
        for field in SIEVE_FIELDS:
            value = rec.get(field)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise InputError(path, f"record {index} field '{field}'", f"value {value!r} is not a rate in [0, 1]")


def partition(survivors_path, chunk_paths):
    """Deal the survivors round-robin into len(chunk_paths) chunk files (empty chunks are valid).

    One streaming pass; nothing is written unless the whole file is valid. Duplicate
    hypotheses (same prng_type, seed, skip, burn) are refused: they would be scored twice.
    """
    writers = [JsonArrayWriter(p) for p in chunk_paths]
    seen = set()
    try:
        for index, rec in iter_records(survivors_path):
            check_survivor(survivors_path, index, rec)
            key = (rec["prng_type"], rec["seed"], rec["skip"], rec["burn"])
            if key in seen:
                raise InputError(survivors_path, f"record {index}", f"duplicate hypothesis {key}")
            seen.add(key)
            writers[index % len(writers)].write(rec)
        for w in writers:
            w.commit()
    except BaseException:
        for w in writers:
            w.abort()
        raise
    return [w.count for w in writers]


def sort_key(rec):
    """Aggregate order: score descending, ties by prng_type then seed (then skip, burn)."""
    return (-rec["score"], rec["prng_type"], rec["seed"], rec["skip"], rec["burn"])


def score_records(records, train, holdout, mod, residue_mods):
    """Scored records for survivor dicts (features from train, label from holdout).

    A record holds what was computed, never where or when: equal survivors give equal bytes.
    """
    out = []
    n_hold = len(holdout)
    for lo in range(0, len(records), BATCH):
        batch = records[lo:lo + BATCH]
        names, X, score, hold = features.compute(batch, train, holdout, mod, residue_mods)
        X = np.round(X, 6)
        for rec, row, s, h in zip(batch, X.tolist(), score.tolist(), hold.tolist()):
            out.append({
                "seed": rec["seed"],
                "prng_type": rec["prng_type"],
                "skip": rec["skip"],
                "burn": rec["burn"],
                "score": round(s, 6),
                "features": dict(zip(names, row)),
                "holdout_quality": h / n_hold if n_hold else 0.0,
                "holdout_matches": h,
                **({"state": rec["state"]} if "state" in rec else {}),
            })
    return out


def score_chunk(chunk_path, train, holdout, mod, residue_mods, out_path):
    """Score one chunk file, sorted for the merge, and verify the written file."""
    t0 = time.monotonic()
    records = []
    for index, rec in iter_records(chunk_path):
        check_survivor(chunk_path, index, rec)
        records.append(rec)
    scored = score_records(records, train, holdout, mod, residue_mods)
    scored.sort(key=sort_key)
    write_json_array(out_path, scored)
    written = sum(1 for _ in iter_record_lines(out_path))
    if written != len(records):
        raise InputError(out_path, "", f"wrote {written} records for {len(records)} survivors")
    elapsed = time.monotonic() - t0
    log.info("scored %d survivors in %.2f s (%.0f survivors/s)", len(records), elapsed,
             len(records) / elapsed if elapsed > 0 else 0.0)
    return len(records)


def merge(scored_paths, out_path):
    """k-way merge of sorted scored chunks into the aggregate; returns (count, stats).

    Records are copied as their original text (parsed once for the sort key and checks).
    """
    stats = {"count": 0, "holdout_quality_max": None, "top": [], "names": None}

    def stream(path):
        prev = None
        for index, rec, line in iter_record_lines(path):
            key = sort_key(rec)
            if prev is not None and key < prev:
                raise InputError(path, f"record {index}", "scored chunk is not sorted by score")
            prev = key
            yield key, rec, line

    writer = JsonArrayWriter(out_path)
    names = None
    try:
        for _, rec, line in heapq.merge(*(stream(p) for p in scored_paths), key=lambda krl: krl[0]):
            keys = tuple(rec["features"])
            if names is None:
                names = keys
            elif keys != names and sorted(keys) != sorted(names):
                raise InputError(out_path, f"record {stats['count']}", "feature names differ between chunks")
            if len(stats["top"]) < 10:
                stats["top"].append({k: rec[k] for k in ("seed", "prng_type", "skip", "score",
                                                         "holdout_quality", "holdout_matches")})
            q = rec["holdout_quality"]
            stats["holdout_quality_max"] = q if stats["holdout_quality_max"] is None else max(
                q, stats["holdout_quality_max"])
            writer.write_raw(line)
            stats["count"] += 1
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    stats["names"] = sorted(names) if names else None
    return stats["count"], stats


def write_summary(path, stats, n_holdout, mod, global_feats, meta=None, n_train=None, feature_names=None):
    """results/scoring/scoring_summary.json: counts, the top survivors and the chance level.

    ``feature_names`` (the names Step 3 computes for this run) stand in for the records' when
    there is no survivor, so that later steps still know the schema; ``n_train`` is the number
    of training draws every feature was computed over.
    """
    names = stats["names"] or sorted(feature_names or [])
    write_json(path, {
        "scored_survivors": stats["count"],
        "feature_count": len(names),
        "feature_names": names,
        "n_train": n_train,
        "n_holdout": n_holdout,
        "chance_holdout_quality": 1.0 / mod,
        "holdout_quality_max": stats["holdout_quality_max"],
        "top_by_score": stats["top"],
        "global_features": global_feats,
        "agent_metadata": meta,
    })
