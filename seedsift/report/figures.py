"""The report's figures as PNG files (matplotlib's Agg canvas, no display, no pyplot state).

One function per figure; each takes parsed JSON documents of the pipeline and a path, draws,
and writes the PNG atomically (rendered in memory, then a temp file beside the target and a
rename). Whatever a figure compares against chance draws that reference in red and says so
in its legend. A document that says no model or no prediction was made gives a figure that
states why, so the report always has every figure.
"""

import io
import math

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from seedsift.jsonio import atomic_write_bytes

DPI = 110
TOP_FEATURES = 20
TOP_NUMBERS = 20
CHOSEN = "#1f77b4"
OTHER = "#9aa5b1"
CHANCE = "#d62728"
OBSERVED = "#2ca02c"
MARKERS = ["o", "s", "^", "D", "v", "P"]
METHOD_NAMES = {"permutation": "permutation importance", "total_gain": "total gain"}


def _save(fig, path):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    atomic_write_bytes(path, buffer.getvalue())


def _notice(path, title, text):
    """A figure that only says why there is nothing to draw."""
    fig = Figure(figsize=(8, 3), layout="constrained")
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_title(title, fontsize=13, loc="left")
    ax.text(0.0, 0.6, _wrap(text, 90), fontsize=11, va="top", transform=ax.transAxes)
    _save(fig, path)


def _wrap(text, width):
    words, lines, line = str(text).split(), [], ""
    for w in words:
        if line and len(line) + 1 + len(w) > width:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    return "\n".join(lines + [line])


def _fmt(x):
    if x is None:
        return "n/a"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if x == 0 or abs(x) >= 1e-3:
        return f"{x:.3g}"
    return f"{x:.2e}"


# -- training ------------------------------------------------------------------------------------
def feature_importance(importance, path, top=TOP_FEATURES):
    """Left: the chosen type's top ``top`` features by its own measure. Right: every type's
    permutation shares of the same features (one measure, the same shuffled rows), so the
    types can be compared."""
    title = "Feature importance"
    if importance.get("status") != "ok":
        return _notice(path, title, f"No model was trained: {importance.get('reason')}")
    chosen = importance["chosen"]
    per_type = importance["per_type"]
    entry = per_type[chosen]
    shares = entry["importance"]
    names = _features_shown(importance, top)
    n_all = len(shares)
    if not names:
        return _notice(path, title, "Every feature has a zero share for every model type: the models' predictions "
                       "do not depend on the features (for example a constant label or too few test rows).")
    fig = Figure(figsize=(12, 0.3 * len(names) + 2.6), layout="constrained")
    left, right = fig.subplots(1, 2, sharey=True)
    y = np.arange(len(names))[::-1]
    left.barh(y, [shares[f] for f in names], color=CHOSEN, height=0.7)
    left.set_yticks(y, names, fontsize=9)
    left.set_xlim(0, max(0.05, *(shares[f] for f in names)) * 1.1)
    method = METHOD_NAMES.get(entry["method"], entry["method"])
    left.set_xlabel(f"share of {chosen}'s {method}\n(sums to 1 over all {n_all} features)")
    left.set_title(f"Chosen model ({chosen}), its own measure: {method}", loc="left", fontsize=10)
    left.grid(axis="x", alpha=0.3)

    drift = {frozenset((p["a"], p["b"])): p["mean_abs_difference"] for p in importance["drift"]["pairs"]}
    perm_max = 0.05
    for marker, t in zip(MARKERS, [chosen] + [t for t in per_type if t != chosen]):
        values = [per_type[t]["permutation"]["importance"].get(f, 0.0) for f in names]
        perm_max = max(perm_max, *values)
        if t == chosen:
            right.scatter(values, y, marker=marker, s=40, color=CHOSEN, zorder=4, label=f"{t} (chosen)")
        else:
            d = drift.get(frozenset((chosen, t)))
            right.scatter(values, y, marker=marker, s=34, zorder=3, facecolors="none", edgecolors="black",
                          linewidths=0.9, label=f"{t} (mean |difference| to {chosen}: {_fmt(d)})")
    right.set_xlim(-0.01 * perm_max, perm_max * 1.1)
    perm = importance.get("permutation") or {}
    right.set_xlabel("share of the MSE increase when the feature is shuffled\n(sums to 1 per type)")
    right.set_title(f"Every type, one measure: permutation on {_count(perm.get('n_rows'), 'row')} of the "
                    f"{perm.get('part')} part", loc="left", fontsize=10)
    right.grid(axis="both", alpha=0.3)
    right.legend(loc="lower right", fontsize=8, framealpha=0.9)
    zero = sum(1 for f in shares if not any(e["importance"].get(f) for e in per_type.values()))
    hidden = f"; {zero} features no type uses are not shown" if zero else ""
    fig.suptitle(f"Feature importance: top {len(names)} of {n_all} features{hidden}", fontsize=11)
    _save(fig, path)


def _features_shown(importance, top):
    """The chosen type's non-zero features by share, then (if fewer than ``top``) the features
    other types rank highest; features no type uses are left out."""
    per_type = importance["per_type"]
    shares = per_type[importance["chosen"]]["importance"]
    names = [f for f in sorted(shares, key=lambda f: -shares[f]) if shares[f] > 0][:top]
    best_other = {f: max(e["importance"].get(f, 0.0) for e in per_type.values()) for f in shares}
    for f in sorted(best_other, key=lambda f: -best_other[f]):
        if len(names) >= top or best_other[f] <= 0:
            break
        if f not in names:
            names.append(f)
    return names


def _count(n, word):
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def model_comparison(comparison, path):
    """Left: mean validation MSE per type with the spread over folds; right: test MSE per type
    against the predict-the-mean baseline."""
    title = "Model comparison"
    if comparison.get("status") != "ok":
        return _notice(path, title, f"No model was trained: {comparison.get('reason')}")
    chosen = comparison["chosen"]
    types = [row["model"] for row in comparison["rankings"]]
    per = comparison["per_type"]
    colors = [CHOSEN if t == chosen else OTHER for t in types]
    x = np.arange(len(types))
    labels = [f"{t}\n(chosen)" if t == chosen else t for t in types]
    fig = Figure(figsize=(11, 4.6), layout="constrained")
    left, right = fig.subplots(1, 2)

    means = [per[t]["cv"]["mean_val_mse"] for t in types]
    stds = [per[t]["cv"]["std_val_mse"] or 0.0 for t in types]
    left.bar(x, means, yerr=stds, color=colors, capsize=6, width=0.6, label="mean over folds (bar), ±1 std (line)")
    for i, t in enumerate(types):
        folds = per[t]["cv"].get("fold_val_mse") or []
        left.scatter(np.full(len(folds), x[i]) + np.linspace(-0.12, 0.12, len(folds)), folds, color="black", s=14,
                     zorder=3, label="one validation fold" if i == 0 else None)
    base_cv = [per[t]["cv"]["mean_baseline_val_mse"] for t in types if per[t]["cv"].get("mean_baseline_val_mse")]
    if base_cv:
        left.axhline(float(np.mean(base_cv)), color=CHANCE, linestyle="--",
                     label="baseline: predict the training folds' mean")
    left.set_xticks(x, labels)
    left.set_ylabel("validation MSE (lower is better)")
    chooses = "chooses the model by the positive AUC" if (comparison.get("selection") or {}).get("enabled") \
        else "reported only: too few positives to choose"
    left.set_title(f"Cross-validation on the train part ({chooses})", loc="left", fontsize=10)
    _legend_below(left)
    folds_max = [max(per[t]["cv"].get("fold_val_mse") or [0]) for t in types]
    left.set_ylim(0, _top_of(means, stds, base_cv + folds_max))

    test = [per[t]["test"]["mse"] for t in types]
    baseline = per[chosen]["test"]["baseline_mse"]
    right.bar(x, test, color=colors, width=0.6, label="model's test MSE")
    right.axhline(baseline, color=CHANCE, linestyle="--", label="baseline: predict the train part's mean")
    for i, t in enumerate(types):
        r2 = per[t]["test"]["r2"]
        right.annotate(f"R² {_fmt(r2)}", (x[i], test[i]), textcoords="offset points", xytext=(0, 3),
                       ha="center", fontsize=9)
    right.set_xticks(x, labels)
    right.set_ylabel("test MSE (lower is better)")
    right.set_title(f"Test part: {_count(per[chosen]['test']['n_test'], 'survivor')} no choice has seen",
                    loc="left", fontsize=10)
    _legend_below(right)
    right.set_ylim(0, _top_of(test, [0] * len(test), [baseline]))
    for ax in (left, right):
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Model comparison (the chosen type in blue; the summary says how it was chosen);\n"
                 "a model helps only where its bar is clearly below the red baseline", fontsize=11)
    _save(fig, path)


def _top_of(values, errors, lines):
    highest = max([v + e for v, e in zip(values, errors)] + list(lines) + [1e-12])
    return highest * 1.15


def _legend_below(ax):
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=2, frameon=False)


def predicted_vs_actual(test_predictions, comparison, path):
    """The chosen model's predictions against the label on the test part, with y = x and the
    predict-the-mean baseline."""
    title = "Predicted vs actual holdout quality"
    if test_predictions.get("status") != "ok":
        return _notice(path, title, f"No model was trained: {test_predictions.get('reason')}")
    chosen = test_predictions["chosen"]
    actual = np.asarray(test_predictions["actual"], dtype=np.float64)
    predicted = np.asarray(test_predictions["predicted"][chosen], dtype=np.float64)
    test = comparison["per_type"][chosen]["test"] if comparison.get("status") == "ok" else {}
    fig = Figure(figsize=(7.5, 6.2), layout="constrained")
    ax = fig.add_subplot()
    baseline = test_predictions["baseline_prediction"]
    # Labels are fractions of a few holdout draws: many rows share a value, so spread them
    # sideways by a fraction of the gap between label values.
    values = np.unique(actual)
    gap = float(np.diff(values).min()) if values.size > 1 else 0.01
    jitter = np.random.default_rng(0).uniform(-0.2 * gap, 0.2 * gap, actual.size)
    ax.scatter(actual + jitter, predicted, s=14, alpha=0.5, color=CHOSEN, edgecolors="none",
               label=f"{_count(test_predictions['n_rows'], 'test survivor')}, {chosen}'s prediction")
    hi = max(1e-3, float(actual.max(initial=0)), float(predicted.max(initial=0)), baseline) * 1.08
    lo = min(0.0, float(predicted.min(initial=0)))
    ax.plot([lo, hi], [lo, hi], color="black", linewidth=1, label="perfect prediction (y = x)")
    ax.axhline(baseline, color=CHANCE, linestyle="--", label=f"baseline: predict the train part's mean ({_fmt(baseline)})")
    x_lo = min(lo, float((actual + jitter).min(initial=0)))
    ax.set_xlim(x_lo - 0.02 * (hi - x_lo), hi)
    ax.set_ylim(lo - 0.02 * (hi - lo), hi)
    ax.set_xlabel(f"actual {test_predictions['label']} (fraction of holdout draws the hypothesis reproduces)")
    ax.set_ylabel("predicted by the chosen model")
    sampled = "" if test_predictions["n_rows"] == test_predictions["n_test"] else \
        f", a sample of {test_predictions['n_rows']} of {test_predictions['n_test']}"
    stats = ""
    if test:
        stats = (f"\ntest MSE {_fmt(test['mse'])} vs baseline {_fmt(test['baseline_mse'])}, R² {_fmt(test['r2'])}; "
                 f"{_count(test['positives_in_test'], 'test survivor')} with quality ≥ 0.5")
    ax.set_title(f"Predicted vs actual holdout quality on the test part{sampled}{stats}", loc="left", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=9, framealpha=0.9)
    _save(fig, path)


# -- sieve ---------------------------------------------------------------------------------------
def forward_matches(counts, path):
    """Per family: survivors by forward-window matches (bars) against the number uniform random
    draws would give (red markers), on a log scale."""
    families = counts["families"]
    title = "Forward-window matches of the sieve survivors"
    if not families:
        return _notice(path, title, "No family was sieved.")
    n = len(families)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(3.7 * cols + 0.5, 3.8 * rows + 0.9), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, (prng, fam) in zip(axes, sorted(families.items())):
        ks = [r["matches"] for r in fam["rows"]]
        observed = np.array([r["observed"] for r in fam["rows"]], dtype=np.float64)
        expected = np.array([r["expected"] for r in fam["rows"]], dtype=np.float64)
        floor = max(1e-8, min(0.3, float(expected[expected > 0].min(initial=1.0)) / 3))
        ax.bar(ks, np.where(observed > 0, observed, np.nan), color=OBSERVED, width=0.6, label="survivors found (count in bold)")
        ax.scatter(ks, np.maximum(expected, floor), marker="_", s=900, linewidths=2.5, color=CHANCE, zorder=3,
                   label="expected from uniform random draws")
        for k, o, e in zip(ks, observed, expected):
            top = max(o, e, floor)
            ax.annotate(f"chance {_fmt(e)}", (k, top), textcoords="offset points", xytext=(0, 5), ha="center",
                        fontsize=7.5, color=CHANCE)
            ax.annotate(f"{int(o):,}", (k, top), textcoords="offset points", xytext=(0, 14), ha="center",
                        fontsize=8.5, fontweight="bold")
        ax.set_yscale("log")
        ax.set_ylim(floor / 2, max(observed.max(initial=1), expected.max(initial=1)) * 60)
        ax.set_xticks(ks)
        ax.set_xlim(ks[0] - 0.75, ks[-1] + 0.75)
        ax.set_xlabel(f"matches in the forward window of {counts['window']} draws")
        ax.set_ylabel("survivors (log scale)")
        what = "recovered states" if fam.get("search") == "state" else f"{fam['seeds_tested']:,} seeds"
        ax.set_title(f"{prng}: {what} x {counts['n_skips']} skips", loc="left", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    for ax in axes[n:]:
        ax.set_axis_off()
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2, fontsize=9)
    fig.suptitle(f"{title} (a survivor needs {counts['required_matches']} of {counts['window']})\n"
                 "bars far above their red mark are more than uniform random draws explain", fontsize=11)
    _save(fig, path)


# -- prediction ----------------------------------------------------------------------------------
def prediction_pool(predictions, path, top=TOP_NUMBERS):
    """Left: the pooled vote for the next draw (vote share and predictive probability of its
    top numbers, chance 1/mod); right: per step, the probability the model gives its own top k,
    against the k/mod of a uniform guess."""
    title = "Prediction pool"
    if predictions.get("status") != "OK" or not predictions.get("steps"):
        return _notice(path, title, f"No prediction was made: {predictions.get('reason')}")
    meta = predictions["metadata"]
    mod, k = meta["mod"], meta["k"]
    first = predictions["steps"][0]
    pool = first["pool"][:top]
    picked = set(first["predictions"])
    fig = Figure(figsize=(11.5, 4.8), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=[1.4, 1])
    x = np.arange(len(pool))
    left.bar(x, [e["weight"] for e in pool], width=0.65,
             color=[CHOSEN if e["number"] in picked else OTHER for e in pool],
             label=f"vote share in the pooled vote (blue: the predicted top {k})")
    left.scatter(x, [e["probability"] for e in pool], color="black", s=18, zorder=3, label="predictive probability")
    left.axhline(1.0 / mod, color=CHANCE, linestyle="--", label=f"chance: 1/{mod} per number")
    left.set_yscale("log")
    left.set_xticks(x, [str(e["number"]) for e in pool], rotation=60, fontsize=8)
    left.set_xlabel("number (ranked by vote share)")
    left.set_ylabel("share / probability (log scale)")
    left.set_title(f"Next draw (history position {first['position']}): top {len(pool)} of {len(first['pool'])} "
                   "numbers with votes", loc="left", fontsize=10)
    left.legend(fontsize=8, loc="upper right")
    low = min([1.0 / mod] + [e["weight"] for e in pool if e["weight"] > 0] + [e["probability"] for e in pool])
    left.set_ylim(low / 3, 3)

    steps = [s["step"] for s in predictions["steps"]]
    mass = [_top_k_probability(s) for s in predictions["steps"]]
    right.plot(steps, mass, marker="o", color=CHOSEN, label=f"P(draw is in the predicted top {k})")
    right.axhline(k / mod, color=CHANCE, linestyle="--", label=f"chance: {k}/{mod}")
    right.set_ylim(0, 1.05)
    right.set_xlabel("steps ahead")
    right.xaxis.set_major_locator(MaxNLocator(integer=True))
    right.set_ylabel("probability")
    right.set_title("The model's own confidence over the horizon", loc="left", fontsize=10)
    right.legend(fontsize=8, loc="upper right")
    right.grid(alpha=0.3)
    weights = meta.get("pool_weights") or {}
    sizes = meta.get("pool_sizes") or {}
    pools = ", ".join(f"{p} {sizes.get(p)} survivors x {weights[p]}" for p in weights)
    fig.suptitle(f"Prediction pool: {meta.get('model_type')} prior; pools {pools}\n"
                 "the model's confidence is a claim: the evaluation checks it against the test draws", fontsize=11)
    _save(fig, path)


def _top_k_probability(step):
    probability = {e["number"]: e["probability"] for e in step["pool"]}
    return float(sum(probability.get(x, step["probability_other_numbers"]) for x in step["predictions"]))
