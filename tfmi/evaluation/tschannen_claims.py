r"""What Tschannen et al. (2020) state, and whether runs of this project agree.

The paper states few final numbers (``PAPER``: the pixel baselines, supervised
accuracy, the step where L_t reaches 0, the true MI of App. E); its claims are
orderings between configs (bilinear critic more accurate than the MLP critic, ConvNet
more accurate than MLP at the same target t, I_NWJ highest with the MLP critic, the
non-i.i.d. estimate above the true MI, ...). ``results_table`` gives one row per config
(runs grouped over seeds by ``group_runs``), ``paper_statement`` and ``row_check`` what
the paper states for that config alone and whether the row agrees, ``claims`` the
comparisons between rows, and ``table_markdown`` both as markdown
(tools/plot_tschannen.py --table). ``FIGURES`` and ``panels_for`` say which experiments
and panels make up each figure.
"""

import json
import math

import numpy as np

from tfmi import workdir as workdir_lib
from tfmi.evaluation.checkpoints import read_eval_curve
from tfmi.evaluation.seed_curves import (
    finite,
    final_values,
    first_values,
    logged_percentiles,
    pooled_percentiles,
    seed_values,
    summary,
)
from tfmi.evaluation.seed_claims import CLOSE_TOLERANCE, paired_verdict

# What the paper states (Tschannen et al. 2020).
PAPER = {
    "pixel_mnist": 0.85,  # Sec. 3 "Setup": linear classifier on x_top, "about 85%"
    "pixel_mnist_noisy": 0.84,  # Sec. 3.1: "drops to about 84% due to the added noise"
    "pixel_cifar10": 0.24,  # App. G: "about 24%"
    "supervised_mnist": 0.94,  # Sec. 3.3: MLP and ConvNet trained end to end, "about 94%"
    "target_reached_step": 7000,  # Sec. 3.3: L_t ~ 0 "after 7k iterations"
    "noniid_true_mi": -0.5 * math.log(1 - 0.4**2 / 2**2),  # App. E: 0.0204 nats
    "runs": 20,  # "averaged over 20 runs"
}

FIGURES = {
    "1": {"experiments": ("mnist_invertible", "mnist_adversarial"), "title": "Fig. 1: invertible encoders (RealNVP)"},
    "2": {"experiments": ("mnist_noninvertible",), "title": "Fig. 2, 5: residual MLP encoders, coupled noise"},
    "3": {"experiments": ("mnist_critic_capacity",), "title": "Fig. 3, 6: critic capacity (MLP encoders)"},
    "4": {"experiments": ("mnist_encoder_arch",), "title": "Fig. 4a, b, 7: encoder architecture at a target I_EST = t"},
    "noniid": {"experiments": ("noniid_gaussian",), "title": "Fig. 4c: InfoNCE / NWJ under non-i.i.d. sampling"},
    "8": {"experiments": ("cifar10_halves_critic",), "title": "Fig. 8: critic capacity on CIFAR-10"},
    "9": {"experiments": ("cifar10_halves_encoder",), "title": "Fig. 9: encoder architecture on CIFAR-10"},
}
ALIASES = {"5": "2", "6": "3", "7": "4", "4c": "noniid"}

BOUND_LABELS = {"infonce": "I_NCE", "nwj": "I_NWJ", "dv": "I_DV", "js": "I_JS", "kpair": "K-pair", "triplet": "triplet"}
CRITIC_LABELS = {"bilinear": "bilinear", "separable": "separable", "concat": "MLP (concat)",
                 "inner_product": "inner product"}
ENCODER_LABELS = {"mlp": "MLP", "convnet": "ConvNet", "realnvp": "RealNVP", "residual_mlp": "residual MLP"}


def describe(config):
    """The fields of a config that tell the paper's settings apart (everything but the seed)."""
    model, data = config.get("model") or {}, config.get("data") or {}
    encoder = model.get("encoder_x") or model.get("encoder") or {}
    return {
        "experiment": config.get("experiment"),
        "dataset": data.get("name"),
        "bound": (model.get("bound") or {}).get("name"),
        "critic": (model.get("critic") or {}).get("name"),
        "encoder": encoder.get("name"),
        "target_mi": model.get("target_mi"),
        "noise_std": data.get("noise_std"),
        "iid": data.get("iid"),
        "batch_size": config.get("batch_size"),
        "learning_rate": (config.get("optimizer") or {}).get("learning_rate"),
    }


def load_run(workdir):
    """One workdir: its config, description, eval_curve records and metrics.jsonl records."""
    run = workdir_lib.Workdir(workdir)
    config = run.read_config()
    curve = read_eval_curve(run.eval_curve_path)
    return {
        "workdir": workdir,
        "config": config,
        "desc": describe(config),
        "seed": config.get("seed"),
        "records": (curve or {}).get("records", []),
        "pixel": ((curve or {}).get("pixel_baseline") or {}).get("accuracy"),
        "metrics": run.read_metrics(),
    }


def group_runs(runs):
    """Runs that differ only in the seed, grouped: a list of (description, [runs])."""
    groups = {}
    for run in runs:
        key = json.dumps(run["desc"], sort_keys=True)
        groups.setdefault(key, (run["desc"], []))[1].append(run)
    return [groups[key] for key in sorted(groups, key=lambda k: sort_key(groups[k][0]))]


def sort_key(desc):
    order = lambda table, value: list(table).index(value) if value in table else len(table)  # noqa: E731
    return (
        desc["experiment"] or "",
        order(BOUND_LABELS, desc["bound"]),
        order(CRITIC_LABELS, desc["critic"]),
        order(ENCODER_LABELS, desc["encoder"]),
        desc["target_mi"] or 0.0,
        bool(desc["iid"]),
    )


def label(desc, without=()):
    """A legend label for a config; ``without`` leaves out the fields a panel fixes."""
    experiment = desc["experiment"] or ""
    parts = []
    if experiment == "mnist_adversarial":
        return "adversarial (no MI estimator)"
    if "bound" not in without and desc["bound"]:
        parts.append(BOUND_LABELS.get(desc["bound"], desc["bound"]))
    if experiment.endswith("encoder_arch") or experiment.endswith("_encoder"):
        parts.append(ENCODER_LABELS.get(desc["encoder"], desc["encoder"]))
        if desc["target_mi"] is not None:
            parts.append(f"t={desc['target_mi']:g}")
    elif experiment.endswith("critic_capacity") or experiment.endswith("_critic"):
        parts.append(f"{CRITIC_LABELS.get(desc['critic'], desc['critic'])} critic")
    elif experiment == "mnist_invertible" and desc["critic"] != "bilinear":
        parts.append(f"{CRITIC_LABELS.get(desc['critic'], desc['critic'])} critic")
    elif experiment == "noniid_gaussian":
        parts.append("i.i.d." if desc["iid"] else "non-i.i.d.")
    return ", ".join(parts) or experiment


def pixel_reference(desc):
    """(the paper's pixel-baseline accuracy, its wording) for a config's data."""
    if desc["dataset"] == "cifar10_halves":
        return PAPER["pixel_cifar10"], "paper: pixels ~24%"
    if desc["noise_std"]:
        return PAPER["pixel_mnist_noisy"], "paper: noisy pixels ~84%"
    return PAPER["pixel_mnist"], "paper: pixels ~85%"


def panels_for(figure, groups):
    """The panels of a figure: dicts of title, metric, ylabel, which groups, references."""
    has = lambda **kw: [g for g in groups if all(g[0].get(k) == v for k, v in kw.items())]  # noqa: E731
    bounds = [b for b in BOUND_LABELS if has(bound=b)]
    panels = []
    if figure == "1":
        inv = [g for g in groups if g[0]["experiment"] == "mnist_invertible"]
        if inv:
            panels.append(dict(title="(a) test accuracy", metric="test_accuracy", groups=inv, kind="accuracy"))
            panels.append(dict(title="(b) testing I_EST", metric="mi", groups=inv, kind="mi"))
        adv = [g for g in groups if g[0]["experiment"] == "mnist_adversarial"]
        if adv:
            panels.append(dict(title="(c) adversarially trained g_1", metric="test_accuracy", groups=adv,
                               kind="accuracy", x="encoder_iterations"))
    elif figure == "2":
        panels.append(dict(title="(a) test accuracy", metric="test_accuracy", groups=groups, kind="accuracy"))
        panels.append(dict(title="(b) testing I_EST", metric="mi", groups=groups, kind="mi"))
        for bound in bounds:
            name = {"infonce": "(c)", "nwj": "Fig. 5"}.get(bound, "")
            panels.append(dict(title=f"{name} log condition number, {BOUND_LABELS[bound]}".strip(),
                               groups=has(bound=bound), kind="jacobian"))
    elif figure in ("3", "8"):
        for bound in bounds:
            panels.append(dict(title=f"test accuracy, {BOUND_LABELS[bound]}", metric="test_accuracy",
                               groups=has(bound=bound), kind="accuracy", without=("bound",)))
        for bound in sorted(bounds, key=lambda b: b != "nwj"):
            name = {"nwj": "Fig. 3" if figure == "3" else "Fig. 8", "infonce": "Fig. 6" if figure == "3" else "Fig. 8"}
            panels.append(dict(title=f"testing {BOUND_LABELS[bound]} ({name.get(bound, '')})", metric="mi",
                               groups=has(bound=bound), kind="mi", without=("bound",)))
    elif figure in ("4", "9"):
        for bound in bounds:
            panels.append(dict(title=f"test accuracy, {BOUND_LABELS[bound]}", metric="test_accuracy",
                               groups=has(bound=bound), kind="accuracy", without=("bound",)))
        for bound in bounds:
            name = "Fig. 7" if figure == "4" else "Fig. 9"
            panels.append(dict(title=f"testing loss |I_EST - t|, {BOUND_LABELS[bound]} ({name})", metric="loss",
                               groups=has(bound=bound), kind="loss", without=("bound",)))
    elif figure == "noniid":
        for bound in bounds:
            panels.append(dict(title=f"{BOUND_LABELS[bound]} estimate", metric="train/mi", source="metrics",
                               groups=has(bound=bound), kind="noniid", without=("bound",)))
    return [p for p in panels if p["groups"]]


def fmt(stat, percent=False, spread="minmax"):
    """A table cell of a (mean, low, high) summary: "mean [low, high]" or "mean +- std"."""
    if stat is None:
        return "-"
    scale, unit = (100.0, "%") if percent else (1.0, "")
    mean, low, high = (scale * v for v in stat)
    digits = 1 if percent else 3
    if spread == "std":
        return f"{mean:.{digits}f}{unit} +- {(high - mean):.{digits}f}"
    return f"{mean:.{digits}f}{unit} [{low:.{digits}f}, {high:.{digits}f}]"


def paper_statement(desc):
    """(what the paper states for this config, its reference accuracy or MI or None)."""
    experiment, critic, bound = desc["experiment"], desc["critic"], desc["bound"]
    pixel, _ = pixel_reference(desc)
    if experiment == "mnist_invertible":
        text = "accuracy rises above the ~85% pixel baseline; testing I_EST rises"
        if bound == "infonce":
            text += "; I_NCE <= log 128 = 4.85"
        return text, pixel
    if experiment == "mnist_adversarial":
        return "accuracy falls significantly below the ~85% pixel baseline (MI stays maximal)", pixel
    if experiment == "mnist_noninvertible":
        return "accuracy rises above the ~84% noisy pixel baseline; I_EST rises; log condition numbers rise", pixel
    if experiment in ("mnist_critic_capacity", "cifar10_halves_critic"):
        base = f"~{100 * pixel:.0f}%"
        text = {
            "concat": f"barely beats the {base} pixel baseline; highest I_NWJ",
            "separable": f"clearly beats the {base} pixel baseline",
            "bilinear": f"clearly beats the {base} pixel baseline, best accuracy; lowest I_NWJ",
        }.get(critic, "-")
        if bound == "infonce":
            text += "; I_NCE close to log 128 = 4.85"
        return text, pixel
    if experiment in ("mnist_encoder_arch", "cifar10_halves_encoder"):
        text = "L_t ~ 0 (I_EST = t) after 7k iterations" if desc["dataset"] == "mnist_halves" else "L_t ~ 0 (I_EST = t)"
        text += "; ConvNet beats MLP at the same t" if desc["encoder"] == "convnet" else "; below ConvNet at the same t"
        return text, desc["target_mi"]
    if experiment == "noniid_gaussian":
        if desc["iid"]:
            return "estimate below the true MI (a lower bound)", PAPER["noniid_true_mi"]
        return "estimate ABOVE the true MI", PAPER["noniid_true_mi"]
    return "-", None


def row_check(desc, runs, stats):
    """Whether our final numbers agree with what the paper states for this config alone."""
    experiment = desc["experiment"]
    accuracy = stats.get("test_accuracy")
    ours_pixel = [run["pixel"] for run in runs if finite(run["pixel"])]
    pixel = float(np.mean(ours_pixel)) if ours_pixel else pixel_reference(desc)[0]
    if experiment == "noniid_gaussian":
        mi = stats.get("train/mi")
        if mi is None:
            return None
        return mi[0] < PAPER["noniid_true_mi"] if desc["iid"] else mi[0] > PAPER["noniid_true_mi"]
    if accuracy is None:
        return None
    if experiment in ("mnist_invertible", "mnist_noninvertible"):
        first = first_values(runs, "mi")
        rose = stats.get("mi") is not None and first and stats["mi"][0] > float(np.mean(first))
        return bool(accuracy[0] > pixel and rose)
    if experiment == "mnist_adversarial":
        return bool(accuracy[0] < pixel)
    if experiment in ("mnist_critic_capacity", "cifar10_halves_critic"):
        if desc["critic"] in ("bilinear", "separable"):
            return bool(accuracy[0] > pixel)
        return None  # "barely beats": judged against the other critics in the claims
    if experiment in ("mnist_encoder_arch", "cifar10_halves_encoder"):
        loss = stats.get("loss")
        return None if loss is None else bool(loss[0] < 0.1)
    return None


def median_condition(runs):
    """(first, last) median log condition number of g_1's Jacobian over training, or None.

    The paper's percentiles are 0, 20, ..., 100: the median is read as the mean of the
    40th and 60th, pooled over runs from eval_curve.json when it holds them, else the
    mean over runs of the percentiles each run logged."""
    pooled = pooled_percentiles(runs)
    if pooled:
        return None if len(pooled["steps"]) < 2 else (
            0.5 * (pooled["percentiles"][40][0] + pooled["percentiles"][60][0]),
            0.5 * (pooled["percentiles"][40][-1] + pooled["percentiles"][60][-1]),
        )
    logged = logged_percentiles(runs, "minmax")
    if not logged or 40 not in logged or 60 not in logged or len(logged[40]["mean"]) < 2:
        return None
    return (
        0.5 * (logged[40]["mean"][0] + logged[60]["mean"][0]),
        0.5 * (logged[40]["mean"][-1] + logged[60]["mean"][-1]),
    )


def results_table(figure, groups, spread, last):
    """Rows {config, seeds, step, test/train accuracy, I_EST, loss, pixels, paper, agrees}."""
    rows = []
    for desc, runs in groups:
        stats, step = {}, None
        metrics = (("train/mi",) if desc["experiment"] == "noniid_gaussian"
                   else ("test_accuracy", "train_accuracy", "mi", "loss"))
        per_seed = {}
        for metric in metrics:
            at, values = final_values(runs, metric, last if metric.startswith("train/") else None)
            if values:
                stats[metric] = summary(values, spread)
                step = at if step is None else min(step, at)
                per_seed[metric] = seed_values(runs, metric, last if metric.startswith("train/") else None)
        pixels = [run["pixel"] for run in runs if finite(run["pixel"])]
        first = first_values(runs, "test_accuracy")
        median = median_condition(runs)
        text, reference = paper_statement(desc)
        rows.append({
            "config": label(desc),
            "experiment": desc["experiment"],
            "desc": desc,
            "seeds": len(runs),
            "final_step": step,
            "test_accuracy": stats.get("test_accuracy"),
            "first_accuracy": float(np.mean(first)) if first else None,
            "train_accuracy": stats.get("train_accuracy"),
            "mi": stats.get("mi") or stats.get("train/mi"),
            "loss": stats.get("loss") if desc["target_mi"] is not None else None,
            "pixel_baseline": float(np.mean(pixels)) if pixels else None,
            "log_condition_median": median,
            "paper": text,
            "paper_reference": reference,
            "agrees": row_check(desc, runs, stats),
            "per_seed": per_seed,
            "workdirs": [run["workdir"] for run in runs],
        })
    return rows


def _claim(text, ours, holds):
    return {"claim": text, "ours": ours, "holds": holds}


def _rows_with(rows, **desc):
    """The rows whose config description has the values ``desc``."""
    return [row for row in rows if all(row["desc"].get(key) == value for key, value in desc.items())]


def _mean(stat):
    return None if stat is None else stat[0]


def _paired(first, second, metric):
    """The verdict of "first > second" on ``metric`` over their seeds (``paired_verdict``)."""
    return paired_verdict(first["per_seed"][metric], second["per_seed"][metric])[0]


def _critic_claims(figure, rows):
    """Sec. 3.2 (Figs. 3, 6, 8): critic capacity against accuracy and the bounds' values."""
    found, nwj_figure = [], "Fig. 3" if figure == "3" else "Fig. 8"
    for bound in ("infonce", "nwj"):
        row_of = {row["desc"]["critic"]: row for row in _rows_with(rows, bound=bound)}
        acc = {critic: _mean(row["test_accuracy"]) for critic, row in row_of.items()}
        mi = {critic: _mean(row["mi"]) for critic, row in row_of.items()}
        name = BOUND_LABELS[bound]
        for better in ("bilinear", "separable"):
            if acc.get(better) is not None and acc.get("concat") is not None:
                found.append(_claim(f"{name}: {better} critic more accurate than the MLP (concat) critic (Sec. 3.2)",
                                    f"{100 * acc[better]:.1f}% vs {100 * acc['concat']:.1f}%",
                                    _paired(row_of[better], row_of["concat"], "test_accuracy")))
        if acc.get("bilinear") is not None and acc.get("separable") is not None:
            found.append(_claim(f"{name}: bilinear critic more accurate than separable (Sec. 3.2)",
                                f"{100 * acc['bilinear']:.1f}% vs {100 * acc['separable']:.1f}%",
                                _paired(row_of["bilinear"], row_of["separable"], "test_accuracy")))
        if bound == "nwj":
            for lower in ("bilinear", "separable"):
                if mi.get(lower) is not None and mi.get("concat") is not None:
                    found.append(_claim(
                        f"I_NWJ: MLP (concat) critic reaches a higher testing I_NWJ than {lower} ({nwj_figure})",
                        f"{mi['concat']:.2f} vs {mi[lower]:.2f} nats", _paired(row_of["concat"], row_of[lower], "mi")))
        if bound == "infonce":
            found += _ceiling_claims(_rows_with(rows, bound="infonce"))
    return found


def _ceiling_claims(rows):
    """I_NCE close to its ceiling log(batch size), within ``CLOSE_TOLERANCE`` nats (our reading of 'close')."""
    found = []
    for row in rows:
        batch = row["desc"]["batch_size"]
        if _mean(row["mi"]) is not None and batch:
            ceiling = math.log(batch)
            found.append(_claim(f"{row['config']}: testing I_NCE close to log {batch} = {ceiling:.2f} "
                                f"(within {CLOSE_TOLERANCE:g} nats, our reading of 'close')",
                                f"{_mean(row['mi']):.2f} nats", _mean(row["mi"]) > ceiling - CLOSE_TOLERANCE))
    return found


def _encoder_claims(rows):
    """Sec. 3.3 (Figs. 4, 9): at the same target bound, the ConvNet more accurate than the MLP."""
    found = []
    for bound in ("infonce", "nwj"):
        targets = {row["desc"]["target_mi"] for row in _rows_with(rows, bound=bound)} - {None}
        for t in sorted(targets):
            row_of = {row["desc"]["encoder"]: row for row in _rows_with(rows, bound=bound, target_mi=t)}
            acc = {encoder: _mean(row["test_accuracy"]) for encoder, row in row_of.items()}
            if acc.get("convnet") is not None and acc.get("mlp") is not None:
                found.append(_claim(
                    f"{BOUND_LABELS[bound]}, t={t:g}: ConvNet more accurate than MLP at the same bound (Sec. 3.3)",
                    f"{100 * acc['convnet']:.1f}% vs {100 * acc['mlp']:.1f}%",
                    _paired(row_of["convnet"], row_of["mlp"], "test_accuracy")))
    return found


def _training_claims(rows):
    """Sec. 3.1 (Figs. 1, 2): accuracy rises while MI is maximised; falls under the adversary."""
    found = []
    for row in rows:
        first = row["first_accuracy"]
        if first is None or row["test_accuracy"] is None:
            continue
        last = _mean(row["test_accuracy"])
        ours = f"{100 * first:.1f}% -> {100 * last:.1f}%"
        if row["desc"]["experiment"] == "mnist_adversarial":
            found.append(_claim(f"{row['config']}: test accuracy falls during training, below the pixels' "
                                "(Sec. 3.1, Fig. 1c)", ours, last < first))
        else:
            found.append(_claim(f"{row['config']}: test accuracy improves during training (Sec. 3.1)", ours,
                                last > first))
    return found


def _conditioning_claims(rows):
    """Figs. 2c, 5: the median log condition number of g_1's Jacobian rises."""
    return [_claim(f"{row['config']}: g_1 becomes ill-conditioned, the median log condition number rises "
                   "(Fig. 2c, 5)", f"{median[0]:.2f} -> {median[1]:.2f}", median[1] > median[0])
            for row in rows if (median := row["log_condition_median"]) is not None]


def _noniid_claims(rows):
    """Sec. 4, App. E: non-i.i.d. batches push the estimate above the true MI, i.i.d. ones do not."""
    found = []
    for row in rows:
        if row["mi"] is not None:
            above = _mean(row["mi"]) > PAPER["noniid_true_mi"]
            want = not row["desc"]["iid"]
            found.append(_claim(f"{row['config']}: estimate {'above' if want else 'below'} the true MI "
                                f"{PAPER['noniid_true_mi']:.4f} (Sec. 4, App. E)", f"{_mean(row['mi']):.4f} nats",
                                above == want))
    return found


def claims(figure, rows):
    """The paper's comparisons between configs, checked on our final numbers: "A > B"
    between two configs by ``seed_claims.paired_verdict`` on their per-seed values ("holds",
    "contradicted" or "not shown at n seeds"), a config against a stated value by its mean
    (True or False)."""
    found = []
    if figure in ("3", "8"):
        found += _critic_claims(figure, rows)
    if figure in ("4", "9"):
        found += _encoder_claims(rows)
    if figure in ("1", "2"):
        found += _training_claims(rows)
    if figure == "2":
        found += _conditioning_claims(rows)
    if figure == "noniid":
        found += _noniid_claims(rows)
    return found


def table_markdown(rows, found, spread):
    header = ["config", "seeds", "final step", "test accuracy", "train accuracy", "I_EST (nats)",
              "loss L_t", "pixels (ours)", "paper states", "agrees"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [
            row["config"], str(row["seeds"]), str(row["final_step"] if row["final_step"] is not None else "-"),
            fmt(row["test_accuracy"], True, spread), fmt(row["train_accuracy"], True, spread),
            fmt(row["mi"], False, spread), fmt(row["loss"], False, spread),
            f"{100 * row['pixel_baseline']:.1f}%" if row["pixel_baseline"] is not None else "-",
            row["paper"], {True: "yes", False: "NO", None: "-"}[row["agrees"]],
        ]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    what = "[min, max]" if spread == "minmax" else "+- sample std"
    lines.append("")
    lines.append(f"Values: mean over seeds {what} at the last step every seed reached (I_EST from "
                 "eval_curve.json on test batches; for runs without image halves the mean of the last "
                 f"--last estimates logged in metrics.jsonl); the paper averages {PAPER['runs']} runs "
                 "and states no final numbers beyond those quoted.")
    if found:
        lines += ["", "| paper's claim | ours | holds |", "|---|---|---|"]
        for claim in found:
            holds = claim["holds"] if isinstance(claim["holds"], str) else ("yes" if claim["holds"] else "NO")
            lines.append(f"| {claim['claim']} | {claim['ours']} | {holds} |")
    return "\n".join(lines)
