"""Steps 4-5 in one process (the seed's CLI): the pipeline's files, written by the same functions."""

import logging
from pathlib import Path

from models.feature_schema import DEFAULT_LABEL
from seedsift.jsonio import read_json, write_json
from seedsift.training.folds import run_fold, summarize_trial
from seedsift.training.plan import default_training_config, make_plan
from seedsift.training.select import artifact_name, save_chosen_model, select_and_finalise, write_model_sidecar
from seedsift.training.table import write_training_table

log = logging.getLogger(__name__)


# -- everything in one process (the seed's CLI) --------------------------------------------------
def trial_paths(work_dir, plan):
    """{(model_type, trial): (trial file, [fold files])} with the pipeline's path grammar."""
    work_dir = Path(work_dir)
    out = {}
    for model_type in plan["model_types"]:
        for t in range(plan["trials"]):
            folds = [work_dir / model_type / f"trial_{t}" / f"fold_{k}.json" for k in range(plan["k_folds"])]
            out[(model_type, t)] = (work_dir / model_type / f"trial_{t}.json", folds)
    return out


def run_all(survivors_path, out_dir, work_dir, config, n_jobs=1, device="auto", provenance=None, scoring_summary=None):
    """Table, plan, every fold and trial, selection, model file and sidecar: the pipeline's files, in one process.

    ``scoring_summary`` (Step 3's summary content) gives the history the features and labels were
    computed over, recorded in the table and the sidecar.
    """
    work_dir, out_dir = Path(work_dir), Path(out_dir)
    cfg = dict(default_training_config())
    cfg.update(config or {})
    table_dir = work_dir / "table"
    write_training_table(survivors_path, table_dir, cfg.get("label", DEFAULT_LABEL), scoring_summary=scoring_summary)
    plan = make_plan(table_dir, cfg)
    write_json(work_dir / "reinforcement_engine_config.json", plan)
    summaries = []
    for (model_type, t), (trial_file, fold_files) in trial_paths(work_dir, plan).items():
        folds = []
        for k, fold_file in enumerate(fold_files):
            result = run_fold(table_dir, plan, model_type, t, k, n_jobs=n_jobs, device=device)
            write_json(fold_file, result)
            folds.append(result)
        summary = summarize_trial(folds)
        write_json(trial_file, summary)
        summaries.append(summary)
        log.info("%s trial %d: %s", model_type, t, summary["status"])
    result = select_and_finalise(table_dir, plan, summaries, out_dir, n_jobs=n_jobs, device=device)
    name = artifact_name(result["selection"])
    if name is not None:
        save_chosen_model(table_dir, plan, result["selection"], out_dir / name, n_jobs=n_jobs, device=device)
    write_model_sidecar(table_dir, plan, result["selection"], out_dir, provenance=provenance)
    return result


def read_trial_summaries(paths):
    """Trial summary files as dicts."""
    return [read_json(p, "trial summary") for p in paths]


