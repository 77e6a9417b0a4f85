"""Step 1 outputs: the normalised history, its train/holdout/test parts and the truth record."""

from pathlib import Path

from seedsift import synthetic
from seedsift.draws import Split, load_history
from seedsift.jsonio import write_json

def build(draws_source, params):
    """(draws, truth) for a config: a synthetic history or a validated file."""
    mod = params["mod"]
    if draws_source == "synthetic":
        syn = params["synthetic"]
        return synthetic.generate(
            syn["prng"], syn["seed"], syn["skip"], syn["burn"], syn["n_draws"], mod, syn["noise"], syn["noise_seed"]
        )
    draws = load_history(draws_source, mod, params.get("sessions") or ())
    return draws, {"synthetic": False, "source": str(draws_source)}


def prepare(draws_source, params, outdir):
    """Write draws.json, the three parts and truth.json into ``outdir``; returns the split."""
    outdir = Path(outdir)
    draws, truth = build(draws_source, params)
    split = Split.of(len(draws), params["split"]["holdout_fraction"], params["split"]["test_draws"])
    train, holdout, test = split.parts(draws)
    write_json(outdir / "truth.json", truth)
    write_json(outdir / "train_history.json", train, indent=None)
    write_json(outdir / "holdout_history.json", holdout, indent=None)
    write_json(outdir / "test_history.json", test, indent=None)
    write_json(outdir / "draws.json", draws, indent=None)
    write_json(outdir / "draw_history_summary.json", {
        "source": str(draws_source),
        "synthetic": draws_source == "synthetic",
        "mod": params["mod"],
        "n_draws": len(draws),
        "n_train": split.n_train,
        "n_holdout": split.n_holdout,
        "n_test": split.n_test,
    })
    return split
