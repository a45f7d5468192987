"""``report.html``: what a person reads first about a run, self-contained (plots embedded as PNG).

Built from the run folder alone (metrics.json, predictions.csv, training_log.json), so
``ecomsft report RUN`` re-creates it at any time.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd

from .evaluation.classification import apply_temperature
from .models.vocab import describe_extension
from .run_folder import write_text_atomic
from .schema import RunMetrics

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ddd;padding:.3em .6em;text-align:right}
th{background:#f5f5f5}td.text{text-align:left;max-width:600px}.grid{display:flex;flex-wrap:wrap;gap:1em}
.headline{font-size:1.1em;background:#f7f9fc;border:1px solid #dde5f0;padding:.8em 1em;border-radius:6px}
img{max-width:100%;border:1px solid #eee}
"""


def png_img(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return f'<img alt="chart" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def _plot_names(names: list[str]) -> list[str]:
    """Label names as the plots show them: as they are when the font can draw them, else c0, c1, ..."""
    from matplotlib import font_manager

    if all(name.isascii() for name in names):
        return names
    cjk = [f.name for f in font_manager.fontManager.ttflist if any(k in f.name for k in ("CJK", "WenQuanYi", "SimHei", "Hei", "Ming"))]
    if cjk:
        import matplotlib

        matplotlib.rcParams["font.sans-serif"] = [cjk[0], *matplotlib.rcParams["font.sans-serif"]]
        return names
    return [f"c{i}" for i in range(len(names))]


def html_table(rows: list[list], header: list[str], text_columns: tuple[int, ...] = ()) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for i, value in enumerate(row):
            shown = f"{value:.4f}" if isinstance(value, float) else str(value)
            cls = ' class="text"' if i in text_columns else ""
            cells.append(f"<td{cls}>{html.escape(shown)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _learning_curves(log: list[dict]) -> str:
    import matplotlib.pyplot as plt

    train = [(e["step"], e["loss"]) for e in log if "loss" in e and "step" in e]
    evals = [e for e in log if "eval_loss" in e]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    if train:
        axes[0].plot(*zip(*train), label="training loss")
    if evals:
        axes[0].plot([e["step"] for e in evals], [e["eval_loss"] for e in evals], "o-", label="validation loss")
        for key in ("eval_f1_macro", "eval_accuracy", "eval_f1_micro", "eval_ndcg@5", "eval_ndcg@10", "eval_mrr",
                    "eval_mean_token_accuracy"):
            if key in evals[0]:
                axes[1].plot([e["step"] for e in evals], [e[key] for e in evals], "o-", label=key[5:])
        if axes[1].get_lines():
            axes[1].legend()
    axes[0].set_xlabel("step")
    axes[0].legend()
    axes[1].set_xlabel("step")
    axes[1].set_title("validation metrics")
    return png_img(fig)


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
    shown = _plot_names(names)
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
    if calibration:
        text = (f"<p>Expected calibration error on the test split: {calibration['test_ece']:.4f} as trained, "
                f"{calibration['test_ece_calibrated']:.4f} after temperature scaling (T = {calibration['temperature']:.3f}, "
                "fitted on the validation split; <code>ecomsft predict --calibrated</code> applies it).</p>")
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
        rows = [[bucket, n, dash(model), dash(tfidf)]
                for bucket, n, model, tfidf in zip(table["buckets"], table["rows"], table["model"], table["tfidf_lr"])]
        return html_table(rows, ["length", "rows", "model", "tfidf-lr"], (0,))
    lengths = predictions["text"].str.len()
    buckets = pd.qcut(lengths, q=min(5, lengths.nunique()), duplicates="drop")
    by_length = pd.DataFrame({"bucket": buckets, "correct": correct}).groupby("bucket", observed=True)["correct"].agg(["mean", "size"])
    return html_table([[str(b), float(r["mean"]), int(r["size"])] for b, r in by_length.iterrows()], ["length", "accuracy", "rows"], (0,))


def _headline(metrics: dict) -> str:
    test = metrics.get("test") or {}
    base = metrics.get("baseline_tfidf_lr") or {}
    multi = metrics["task"] == "multi_label_classification"
    keys = ["subset_accuracy", "f1_micro", "f1_macro", "hamming_loss"] if multi else ["accuracy", "precision_macro", "recall_macro", "f1_macro"]
    rows = [[k, test.get(k, float("nan")), base.get(k, float("nan")) if base else "—"] for k in keys]
    sizes = metrics["data"]["sizes"]
    model = metrics["model"]
    timings = metrics["timings"]
    vocab = ""
    if model.get("added_tokens"):
        vocab = f" Vocabulary: {html.escape(describe_extension(model))}."
    return (
        f'<div class="headline"><b>{html.escape(metrics["task"])}</b> of {len(metrics["labels"])} labels with '
        f'<b>{html.escape(model["name"])}</b> ({model["parameters"] / 1e6:.1f}M parameters). '
        f'Data: {sizes.get("train", 0)} train, {sizes.get("valid", 0)} validation, {sizes.get("test", 0)} test rows. '
        f'Training: {timings["train_seconds"] / 60:.1f} min ({metrics["training"]["steps"]} steps).{vocab}</div>'
        + html_table(rows, ["test metric", "fine-tuned", "tfidf-lr baseline"], (0,))
    )


def _extraction_sections(run: Path, metrics: RunMetrics) -> list[str]:
    """Entity F1 per type with support beside the CRF, the most frequent boundary errors and type
    confusions, and the titles with the most wrong spans."""
    test, crf = metrics.test or {}, (metrics.baselines or {}).get("crf") or {}
    sizes, timings = metrics.data.get("sizes", {}), metrics.timings
    rows = [[key, test.get(key, float("nan")), crf.get(key, float("nan"))]
            for key in ("f1_micro", "precision_micro", "recall_micro", "f1_macro", "token_accuracy")]
    per_type = [[name, v["precision"], v["recall"], v["f1"], ((crf.get("per_type") or {}).get(name) or {}).get("f1", float("nan")),
                 v["support"]] for name, v in (test.get("per_type") or {}).items()]
    errors = test.get("errors") or {}
    sections = [
        f'<div class="headline"><b>extraction</b> of {len(metrics.labels or [])} entity types with '
        f'<b>{html.escape(metrics.model.name)}</b>. Data: {sizes.get("train", 0)} train, {sizes.get("valid", 0)} validation, '
        f'{sizes.get("test", 0)} test titles. Training: {timings.train_seconds / 60:.1f} min ({metrics.training.steps} steps). '
        'Entities count when type and both boundaries match exactly.</div>',
        html_table(rows, ["test metric", "fine-tuned", "CRF baseline"], (0,)),
        "<h2>Per entity type</h2>" + html_table(per_type, ["type", "precision", "recall", "F1", "CRF F1", "support"], (0,)),
        "<h2>Most frequent boundary errors</h2>" + html_table(
            [[e["type"], e["error"], e["count"]] for e in errors.get("boundary_errors", [])], ["type", "error", "count"], (0, 1)),
        "<h2>Type confusions</h2>" + html_table(
            [[e["gold"], e["predicted"], e["count"]] for e in errors.get("type_confusions", [])], ["gold", "predicted as", "count"], (0, 1)),
    ]
    predictions = run / "predictions.csv"
    if predictions.is_file():
        frame = pd.read_csv(predictions, keep_default_na=False)

        def shown(value: str) -> set:
            return {(s["start"], s["end"], s["label"], s["text"]) for s in json.loads(value)}

        worst = []
        for text, gold, guess in zip(frame["text"], frame["gold"], frame["predicted"]):
            g, p = shown(gold), shown(guess)
            if g != p:
                worst.append((len(g ^ p), text, "; ".join(f"{t} {lab}" for _, _, lab, t in sorted(g)),
                              "; ".join(f"{t} {lab}" for _, _, lab, t in sorted(p))))
        worst.sort(key=lambda row: -row[0])
        sections.append("<h2>Titles with the most wrong spans</h2>" + html_table(
            [list(row) for row in worst[:15]], ["wrong spans", "title", "gold", "predicted"], (1, 2, 3)))
    return sections


def _generation_sections(run: Path, metrics: RunMetrics) -> list[str]:
    """Generation metrics beside the most frequent answer, then examples worst first: prompt,
    reference, generation, score."""
    test, base = metrics.test or {}, (metrics.baselines or {}).get("most_frequent_answer") or {}
    sizes, timings, extra = metrics.data.get("sizes", {}), metrics.timings, metrics.training.model_extra or {}
    keys = [k for k in ("accuracy", "f1_macro", "unparseable", "valid_json", "field_f1", "exact_match", "rouge_l", "chrf",
                        "stopped_by_eos", "loss", "perplexity") if k in test]
    rows = [[key, test.get(key, float("nan")), base.get(key, float("nan")) if key not in ("loss", "perplexity", "stopped_by_eos")
             else float("nan")] for key in keys]
    cut = extra.get("prompts_cut") or {}
    sections = [
        f'<div class="headline"><b>generation</b> ({html.escape(str(metrics.data.get("completion_kind")))} answers, '
        f'{html.escape(str(metrics.data.get("format")))} data) with <b>{html.escape(metrics.model.name)}</b>. Data: '
        f'{sizes.get("train", 0)} train, {sizes.get("valid", 0)} validation, {sizes.get("test", 0)} test rows '
        f'({test.get("rows", 0)} test prompts generated); prompts cut to fit: {sum(cut.values()) if cut else 0}. '
        f'Training: {timings.train_seconds / 60:.1f} min ({metrics.training.steps} steps); chat template: '
        f'{html.escape(str(extra.get("chat_template")))}.</div>',
        html_table(rows, ["test metric", "fine-tuned", "most frequent answer"], (0,)),
    ]
    predictions = run / "predictions.csv"
    if predictions.is_file():
        frame = pd.read_csv(predictions, keep_default_na=False).head(20)
        sections.append("<h2>Examples, worst first</h2>" + html_table(
            [[r.prompt, r.reference, r.generation, r.score] for r in frame.itertuples()],
            ["prompt", "reference", "generation", "score"], (0, 1, 2)))
    return sections


def _other_headline(metrics: RunMetrics) -> str:
    model, timings = metrics.model, metrics.timings
    figures = [[key, value] for key, value in (metrics.model_extra or {}).items() if isinstance(value, (int, float))]
    figures += [[f"validation {key}", value] for key, value in (metrics.validation or {}).items() if isinstance(value, (int, float))]
    vocab = f" Vocabulary: {html.escape(describe_extension(model.model_dump()))}." if model.added_tokens else ""
    return (f'<div class="headline"><b>{html.escape(metrics.task)}</b> of <b>{html.escape(model.name)}</b>. '
            f'Training: {timings.train_seconds / 60:.1f} min ({metrics.training.steps} steps).{vocab}</div>'
            + html_table(figures, ["figure", "value"], (0,)))


def _grading(run: Path):
    from .models.heads import Grading

    model = run / "model"
    if (model / "ecomsft.json").is_file():
        values = json.loads((model / "ecomsft.json").read_text(encoding="utf-8")).get("grading")
    else:
        values = json.loads((model / "config.json").read_text(encoding="utf-8")).get("ecomsft_relevance", {}).get("grading")
    return Grading.from_dict(values) if values else None


def _metric_bars(blocks: dict[str, dict], names: list[str]) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(names) * max(1, len(blocks)) / 2), 3.4))
    width = 0.8 / len(blocks)
    for i, (label, values) in enumerate(blocks.items()):
        ax.bar(np.arange(len(names)) + i * width, [values.get(n, np.nan) for n in names], width, label=label)
    ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names)
    low = np.nanmin([v.get(n, np.nan) for v in blocks.values() for n in names])
    ax.set_ylim(max(0.0, low - 0.1), 1.0)
    ax.legend(fontsize=8)
    return png_img(fig)


def _ranking_sections(run: Path, metrics: dict) -> list[str]:
    """Headline, metrics beside the baselines, NDCG@k curves, per-query spread, worst queries."""
    import matplotlib.pyplot as plt

    from .evaluation.ranking import ranking_report

    task, ks = metrics["task"], metrics["ks"]
    data, model, timings = metrics["data"], metrics["model"], metrics["timings"]
    head = (f'<div class="headline"><b>{task}</b> ({"cross-encoder" if task == "relevance" else "bi-encoder"}) with '
            f'<b>{html.escape(str(model["name"]))}</b> ({model["parameters"] / 1e6:.1f}M parameters); '
            f'{html.escape(metrics["grading"])}. Data: '
            + ", ".join(f'{name} {data["sizes"][name]} rows / {data["queries"][name]} queries' for name in data["sizes"])
            + f' (split by query: no query in two parts). Training: {timings["train_seconds"] / 60:.1f} min '
            f'({metrics["training"]["steps"]} steps).</div>')
    sections = [head]
    blocks = [("Re-ranking each test query's candidates", metrics.get("test") if task == "relevance" else metrics.get("test_reranking"),
               metrics.get("baselines") if task == "relevance" else metrics.get("baselines_reranking"))]
    if task == "retrieval":
        blocks.insert(0, (f"Retrieval from {data.get('catalog_products')} products", metrics.get("test"), metrics.get("baselines")))
    for title, test, baselines in blocks:
        if not test:
            continue
        blend = {"blend with zero-shot": metrics["test_blend"]} if metrics.get("test_blend") and test is metrics.get("test") else {}
        columns = {"fine-tuned": test, **blend, **{k.replace("_", " "): v for k, v in (baselines or {}).items() if v}}
        names = [k for k in test if isinstance(test[k], float)]
        rows = [[n, *(c.get(n, float("nan")) for c in columns.values())] for n in names]
        shown = [n for n in names if n.startswith(("ndcg@", "mrr", "map", "recall@"))]
        sections.append(f"<h2>{html.escape(title)}</h2>" + html_table(rows, ["test metric", *columns], (0,))
                        + _metric_bars(columns, shown))
    predictions_file, grading = run / "predictions.csv", _grading(run)
    if not predictions_file.is_file() or grading is None:
        return sections
    predictions = pd.read_csv(predictions_file, keep_default_na=False, dtype={"query": str, "product": str})
    values = grading.values(predictions["gold"].astype(float) if not grading.named else predictions["gold"].astype(str))
    gains, relevant = grading.gain(values), grading.relevant(values)
    curve_ks = sorted(set([1, 3, 5, 10, *ks]))
    scorers = {"fine-tuned": "score", **{c[6:].replace("_", " "): c for c in predictions.columns if c.startswith("score_")}}
    curves, per_query = {}, {}
    for label, column in scorers.items():
        summary, table = ranking_report(predictions["query"], gains, relevant, predictions[column].astype(float), curve_ks)
        curves[label] = [summary[f"ndcg@{k}"] for k in curve_ks]
        per_query[label] = table
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    for label, values_at_k in curves.items():
        axes[0].plot(curve_ks, values_at_k, "o-", label=label)
    axes[0].set_xlabel("k")
    axes[0].set_title("NDCG@k, mean over test queries")
    axes[0].legend(fontsize=8)
    key = f"ndcg@{ks[-1]}"
    for label, table in per_query.items():
        if key in table:
            axes[1].hist(table[key].dropna(), bins=20, range=(0, 1), histtype="step", label=label)
    axes[1].set_title(f"{key} per query")
    axes[1].legend(fontsize=8)
    sections.append("<h2>NDCG by cut-off and per query</h2>" + png_img(fig))
    mine = per_query["fine-tuned"]
    if key in mine:
        worst = mine.dropna(subset=[key]).nsmallest(10, key)
        rows = []
        for query, ndcg in zip(worst["query"], worst[key]):
            group = predictions[predictions["query"] == query]
            top = group.loc[group["score"].astype(float).idxmax()]
            best = group.loc[group["gold"].astype(str).map(lambda g: grading.values([g if grading.named else float(g)])[0]).idxmax()]
            rows.append([query, ndcg, len(group), f'{top["product"]} ({top["gold"]})', f'{best["product"]} ({best["gold"]})'])
        sections.append(f"<h2>Worst-ranked test queries ({key})</h2>"
                        + html_table(rows, ["query", key, "candidates", "ranked first (grade)", "best graded (grade)"], (0, 3, 4)))
    return sections


def write_report(run: str | Path, name: str | None = None) -> Path:
    """Render ``RUN/report.html`` from the run folder (titled ``name``, default its folder name)."""
    import matplotlib

    matplotlib.use("Agg")
    run = Path(run)
    typed = RunMetrics.read(run)
    metrics = typed.as_dict()
    name = name or run.name
    ranking = typed.ranking
    if ranking:
        head = _ranking_sections(run, metrics)
    elif typed.task == "extraction":
        head = _extraction_sections(run, typed)
    elif typed.task == "generation":
        head = _generation_sections(run, typed)
    elif typed.labels is None:  # a task without classes (pretraining): its own fields, as they are
        head = [_other_headline(typed)]
    else:
        head = [_headline(metrics)]
    sections = [f"<h1>ecomsft run: {html.escape(name)}</h1>", *head]
    log_file = run / "training_log.json"
    if log_file.is_file():
        sections.append("<h2>Learning curves</h2>" + _learning_curves(json.loads(log_file.read_text(encoding="utf-8"))))
    predictions_file = run / "predictions.csv"
    if ranking or typed.task in ("extraction", "generation"):
        pass
    elif predictions_file.is_file() and metrics["task"] == "classification" and metrics.get("test"):
        predictions = pd.read_csv(predictions_file, dtype={"gold": str, "predicted": str}, keep_default_na=False)
        sections += _single_label_sections(run, metrics, predictions)
    elif metrics.get("test"):
        per_class = metrics["test"].get("per_class", {})
        rows = [[n, v["precision"], v["recall"], v["f1"], v["support"]] for n, v in per_class.items()]
        sections.append("<h2>Per label</h2>" + html_table(rows, ["label", "precision", "recall", "F1", "support"], (0,)))
    page = f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>ecomsft: {html.escape(name)}</title><style>{CSS}</style></head><body>{"".join(sections)}</body></html>'
    target = run / "report.html"
    write_text_atomic(target, page)
    return target
