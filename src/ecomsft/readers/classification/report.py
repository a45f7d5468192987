"""The report of a classification run: the headline beside tfidf-lr; for single-label runs the
confusion matrix, per-class bars, ROC and precision-recall, calibration and the errors; for
multi-label runs the per-label table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ...evaluation.classification import apply_temperature
from ...metrics_file import RunMetrics
from ...models.vocab import describe_extension
from ...report.page import html_table, html_text, plot_names, png_img


def head(run: Path, metrics: RunMetrics) -> list[str]:
    return [_headline(metrics.as_dict())]


def delivered_test(metrics: dict) -> dict:
    """The test metrics of what predict delivers (and predictions.csv holds): the blend's where the
    run chose one, else the fine-tuned model's."""
    blend = metrics.get("blend") or {}
    return blend["test"] if blend.get("used") and blend.get("test") else metrics.get("test") or {}


def details(run: Path, metrics: RunMetrics) -> list[str]:
    as_dict = metrics.as_dict()
    as_dict["test"] = delivered_test(as_dict)
    predictions_file = run / "predictions.csv"
    if predictions_file.is_file() and not metrics.multi_label and metrics.test:
        predictions = pd.read_csv(predictions_file, dtype={"gold": str, "predicted": str}, keep_default_na=False)
        return _single_label_sections(run, as_dict, predictions)
    if metrics.test:
        per_class = as_dict["test"].get("per_class", {})
        rows = [[n, v["precision"], v["recall"], v["f1"], v["support"]] for n, v in per_class.items()]
        return ["<h2>Per label</h2>" + html_table(rows, ["label", "precision", "recall", "F1", "support"], (0,))]
    return []


def _confusion(matrix: np.ndarray, names: list[str]) -> str:
    import matplotlib.pyplot as plt

    normalised = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = max(3.5, 0.45 * len(names) + 2)
    fig, axes = plt.subplots(1, 2, figsize=(2 * size + 1, size))
    for ax, data, title, fmt in ((axes[0], matrix, "counts", "{:d}"), (axes[1], normalised, "share of each gold row", "{:.2f}")):
        ax.imshow(data, cmap="Blues")
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
        ax.set_yticks(range(len(names)), names)
        ax.set_xlabel("predicted")
        ax.set_ylabel("gold")
        ax.set_title(title)
        if len(names) <= 12:
            for (i, j), value in np.ndenumerate(data):
                ax.text(j, i, fmt.format(int(value) if fmt == "{:d}" else value), ha="center", va="center", fontsize=8,
                        color="white" if normalised[i, j] > 0.6 else "black")
    return png_img(fig)


def _per_class_bars(per_class: dict, names: list[str], shown: list[str]) -> str:
    import matplotlib.pyplot as plt

    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(5, 0.7 * len(names) + 2), 3.4))
    for k, key in enumerate(("precision", "recall", "f1")):
        ax.bar(x + (k - 1) * 0.27, [per_class[n][key] for n in names], 0.27, label=key)
    ax.set_xticks(x, [f"{s}\n(n={per_class[n]['support']})" for s, n in zip(shown, names)])
    ax.set_ylim(0, 1.05)
    ax.legend(loc="lower right")
    return png_img(fig)


def _roc_pr(gold: np.ndarray, probs: np.ndarray, names: list[str], shown: list[str]) -> str:
    import matplotlib.pyplot as plt
    from sklearn.metrics import auc, precision_recall_curve, roc_curve

    counts = np.bincount(gold, minlength=len(names))
    classes = [1] if len(names) == 2 else list(np.argsort(-counts)[:4])
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for c in classes:
        positive = (gold == c).astype(int)
        if positive.min() == positive.max():
            continue
        fpr, tpr, _ = roc_curve(positive, probs[:, c])
        precision, recall, _ = precision_recall_curve(positive, probs[:, c])
        axes[0].plot(fpr, tpr, label=f"{shown[c]} (AUC {auc(fpr, tpr):.3f})")
        axes[1].plot(recall, precision, label=f"{shown[c]}")
    axes[0].plot([0, 1], [0, 1], ":", color="grey")
    axes[0].set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    axes[1].set(xlabel="recall", ylabel="precision", title="precision-recall")
    axes[0].legend(loc="lower right")
    axes[1].legend(loc="lower left")
    return png_img(fig)


def _reliability(gold: np.ndarray, probs: np.ndarray, temperature: float | None, bins: int = 10) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    variants = [("as trained", probs)]
    if temperature:
        variants.append((f"temperature {temperature:.2f}", apply_temperature(probs, temperature)))
    edges = np.linspace(0, 1, bins + 1)
    for name, p in variants:
        confidence, correct = p.max(axis=1), p.argmax(axis=1) == gold
        which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
        xs = [confidence[which == b].mean() for b in range(bins) if (which == b).any()]
        ys = [correct[which == b].mean() for b in range(bins) if (which == b).any()]
        ax.plot(xs, ys, "o-", label=name)
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(xlabel="confidence", ylabel="accuracy", title="reliability", xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="upper left")
    return png_img(fig)


def _single_label_sections(run: Path, metrics: dict, predictions: pd.DataFrame) -> list[str]:
    names = metrics["labels"]
    shown = plot_names(names)
    test = metrics["test"]
    index = {n: i for i, n in enumerate(names)}
    gold = predictions["gold"].astype(str).map(index).to_numpy()
    probs = predictions[[f"prob_{n}" for n in names]].to_numpy(dtype=float)
    sections = []
    matrix = np.array(test["confusion_matrix"]["matrix"])
    sections.append("<h2>Confusion matrix</h2>" + _confusion(matrix, shown))
    rows = [[n, v["precision"], v["recall"], v["f1"], v["support"]] for n, v in test["per_class"].items()]
    sections.append("<h2>Per class</h2>" + _per_class_bars(test["per_class"], names, shown)
                    + html_table(rows, ["class", "precision", "recall", "F1", "support"], (0,)))
    sections.append("<h2>ROC and precision-recall</h2>" + _roc_pr(gold, probs, names, shown))
    calibration = metrics.get("calibration") or {}
    text = ""
    if (metrics.get("blend") or {}).get("used"):  # predictions.csv holds the blend's probabilities
        calibration = {}
        text = "<p>The blend's probabilities as delivered (the temperature is the fine-tuned model's alone).</p>"
    if calibration:
        text = html_text("<p>Expected calibration error on the test split: {:.4f} as trained, {:.4f} after temperature "
                         "scaling (T = {:.3f}, fitted on the validation split; <code>ecomsft predict --calibrated</code> "
                         "applies it).</p>", calibration["test_ece"], calibration["test_ece_calibrated"],
                         calibration["temperature"])
    sections.append("<h2>Calibration</h2>" + text + _reliability(gold, probs, calibration.get("temperature")))

    predicted = probs.argmax(axis=1)
    wrong = np.flatnonzero(predicted != gold)
    confidence = probs.max(axis=1)
    worst = wrong[np.argsort(-confidence[wrong])][:15]
    rows = [[predictions["text"].iloc[i][:300], names[gold[i]], names[predicted[i]], float(confidence[i])] for i in worst]
    pairs = sorted(((int(matrix[i, j]), names[i], names[j]) for i in range(len(names)) for j in range(len(names)) if i != j and matrix[i, j]), reverse=True)[:8]
    sections.append(
        "<h2>Errors</h2><h3>Most confident wrong predictions</h3>"
        + html_table(rows, ["text", "gold", "predicted", "confidence"], (0,))
        + "<h3>Classes most often confused</h3>" + html_table([[c, g, p] for c, g, p in pairs], ["count", "gold", "predicted as"], (1, 2))
        + "<h3>Accuracy by text length (characters)</h3>" + _by_length(metrics, predictions, predicted == gold)
    )
    return sections


def _by_length(metrics: dict, predictions: pd.DataFrame, correct: np.ndarray) -> str:
    """The model beside tfidf-lr per length bucket (metrics.json ``by_length``), or, for runs
    without the baseline, the model's accuracy per length quintile."""
    table = metrics.get("by_length")
    if table:
        dash = lambda value: "—" if value is None else value  # noqa: E731
        columns = [name for name in ("model", "tfidf_lr", "blend") if name in table]
        rows = [[bucket, n, *(dash(table[name][i]) for name in columns)]
                for i, (bucket, n) in enumerate(zip(table["buckets"], table["rows"]))]
        return html_table(rows, ["length", "rows", *(name.replace("_", "-") for name in columns)], (0,))
    lengths = predictions["text"].str.len()
    buckets = pd.qcut(lengths, q=min(5, lengths.nunique()), duplicates="drop")
    by_length = pd.DataFrame({"bucket": buckets, "correct": correct}).groupby("bucket", observed=True)["correct"].agg(["mean", "size"])
    return html_table([[str(b), float(r["mean"]), int(r["size"])] for b, r in by_length.iterrows()], ["length", "accuracy", "rows"], (0,))


def _headline(metrics: dict) -> str:
    test = metrics.get("test") or {}
    base = metrics.get("baseline_tfidf_lr") or {}
    blend = metrics.get("blend") or {}
    mixed = blend.get("test") if blend.get("used") else None
    multi = metrics["multi_label"]
    keys = ["subset_accuracy", "f1_micro", "f1_macro", "hamming_loss"] if multi else ["accuracy", "precision_macro", "recall_macro", "f1_macro"]
    rows = [[k, test.get(k, float("nan")), base.get(k, float("nan")) if base else "—", *([mixed.get(k, float("nan"))] if mixed else [])]
            for k in keys]
    sizes = metrics["data"]["sizes"]
    model = metrics["model"]
    timings = metrics["timings"]
    vocab = f" Vocabulary: {describe_extension(model)}." if model.get("added_tokens") else ""
    return (
        html_text('<div class="headline"><b>{}</b> of {} labels with <b>{}</b> ({:.1f}M parameters). '
                  'Data: {} train, {} validation, {} test rows. Training: {:.1f} min ({} steps).{}</div>',
                  metrics["task"], len(metrics["labels"]), model["name"], (model["parameters"] or 0) / 1e6,
                  sizes.get("train", 0), sizes.get("valid", 0), sizes.get("test", 0), timings["train_seconds"] / 60,
                  metrics["training"]["steps"], vocab)
        + html_table(rows, ["test metric", "fine-tuned", "tfidf-lr baseline", *(["blend (delivered)"] if mixed else [])], (0,))
        + _blend_note(blend)
    )


def _blend_note(blend: dict) -> str:
    if not blend:
        return ""
    if not blend.get("used"):
        return html_text("<p>Predictions come from the fine-tuned model alone: {}.</p>", blend.get("why", "no blend chosen"))
    return html_text("<p>Predictions (here, <code>predict</code>, <code>serve</code>, <code>evaluate</code>) blend the "
                     "fine-tuned model's probabilities with the run's tfidf-lr: {:.2f} and {:.2f}, the weight chosen on "
                     "the {} validation rows by {} ({:.4f} the model alone, {:.4f} tfidf-lr, {:.4f} blended); the sections "
                     "below describe the blend. <code>--no-blend</code> gives the model alone.</p>",
                     blend["weight"], 1 - blend["weight"], blend["rows"], blend["metric"], blend["model"],
                     blend["tfidf_lr"], blend["blend"])
