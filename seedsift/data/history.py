"""Step 1 outputs: the normalised history, its train/holdout/test parts and the truth record."""

from pathlib import Path

from seedsift.data import synthetic
from seedsift.data.draws import Split, load_history
from seedsift.jsonio import write_json
from seedsift.provenance import agent_metadata


def build(draws_source, params):
    """(draws, truth) for a config: a synthetic history or a validated file."""
    mod = params["mod"]
    if draws_source == "synthetic":
        syn = params["synthetic"]
        return synthetic.generate(
            syn["prng"], syn["seed"], syn["skip"], syn["burn"], syn["n_draws"], mod, syn["noise"], syn["noise_seed"],
            low=params.get("low", 0),
        )
    draws = load_history(draws_source, mod, params.get("sessions") or (), low=params.get("low", 0))
    return draws, {"synthetic": False, "source": str(draws_source)}


def prepare(draws_source, params, outdir):
    """Write draws.json, the three parts, truth.json and the step summary into ``outdir``."""
    outdir = Path(outdir)
    draws, truth = build(draws_source, params)
    split = Split.of(len(draws), params["split"]["holdout_fraction"], params["split"]["test_draws"])
    train, holdout, test = split.parts(draws)
    write_json(outdir / "truth.json", truth)
    write_json(outdir / "train_history.json", train, indent=None)
    write_json(outdir / "holdout_history.json", holdout, indent=None)
    write_json(outdir / "test_history.json", test, indent=None)
    write_json(outdir / "draws.json", draws, indent=None)
    names = ("draws.json", "train_history.json", "holdout_history.json", "test_history.json", "truth.json")
    summary_path = outdir / "draw_history_summary.json"
    write_json(summary_path, {
        "source": str(draws_source),
        "synthetic": draws_source == "synthetic",
        "mod": params["mod"],
        "low": params.get("low", 0),
        "n_draws": len(draws),
        "n_train": split.n_train,
        "n_holdout": split.n_holdout,
        "n_test": split.n_test,
        "agent_metadata": agent_metadata(
            "data",
            inputs=[] if draws_source == "synthetic" else [draws_source],
            outputs=[outdir / n for n in names] + [summary_path],
            parent_run_id=None,
            params=params,
            measured={"min_train_draws": split.n_train, "min_holdout_draws": split.n_holdout},
        ),
    })
    return split
