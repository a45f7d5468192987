"""``ecomsft compare``: several candidate models on the same split and budget, one leaderboard.

Each candidate is an ordinary run (its own run folder under the comparison folder) built from the
same configuration with only the model changed, so the split, seed and budget are the same for all.
``tfidf-lr`` is the classical baseline, always worth a row: it shows what a transformer buys.
"""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path

import pandas as pd

from . import run_folder
from .config import RunConfig, build_config, flatten_config
from .data.labels import LabelSet
from .errors import EcomsftError, Interrupted
from .evaluation.baselines import fit_tfidf_lr, score_tfidf_lr
from .files import atomic_writer, write_bytes_atomic, write_text_atomic
from .readers.classification.reader import Predictor
from .report.page import CSS, html_table, html_text, png_img
from .runner import run
from .tasks import get_task
from .tasks.classification.frame_splits import read_splits

log = logging.getLogger("ecomsft")

BASELINE = "tfidf-lr"
COLUMNS = ["candidate", "status", "accuracy", "f1_macro", "blend_accuracy", "blend_f1_macro", "blend_weight",
           "train_seconds", "infer_samples_per_second", "parameters", "size_mb", "run"]
CHART_METRICS = [("accuracy", "test accuracy"), ("f1_macro", "test macro-F1"),
                 ("train_seconds", "training seconds"), ("infer_samples_per_second", "inference samples/s")]


def _folder_name(candidate: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", candidate.strip("/")).strip("_") or "model"


def _size_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20


def _run_transformer(cfg: RunConfig, candidate: str, folder: Path) -> dict:
    # With its own tfidf-lr (the baseline of its run), so that the blend chosen on validation is a column too.
    values = {"model.name": candidate, "output": str(folder), "overwrite": True}
    run_cfg = build_config(None, {**flatten_config(cfg.model_dump()), **values})
    result = run(run_cfg)
    test = result.metrics["test"]
    blend = result.metrics.get("blend") or {}
    mixed = blend.get("test") or {}
    texts = pd.read_csv(result.run_dir / "predictions.csv", keep_default_na=False)["text"].tolist()
    predictor = Predictor(result.run_dir, batch_size=64)
    started = time.perf_counter()
    predictor.predict_proba(texts)
    infer = len(texts) / max(time.perf_counter() - started, 1e-9)
    return {"accuracy": test.get("accuracy", test.get("subset_accuracy")), "f1_macro": test.get("f1_macro"),
            "blend_accuracy": mixed.get("accuracy", mixed.get("subset_accuracy")), "blend_f1_macro": mixed.get("f1_macro"),
            "blend_weight": blend.get("weight") if blend.get("used") else None,
            "train_seconds": result.metrics["timings"]["train_seconds"], "infer_samples_per_second": infer,
            "parameters": result.metrics["model"]["parameters"], "size_mb": _size_mb(result.run_dir / "model"),
            "run": str(result.run_dir)}


def _run_baseline(cfg: RunConfig, splits: dict, folder: Path) -> dict:
    labels = LabelSet.from_labels(splits["train"]["label"], cfg.task.multi_label)
    model, seconds = fit_tfidf_lr(splits["train"]["text"], labels.encode(splits["train"]["label"].tolist()), len(labels),
                                  cfg.task.multi_label, cfg.training.seed)
    metrics, _ = score_tfidf_lr(model, splits["test"]["text"],
                                labels.encode(splits["test"]["label"].tolist(), cfg.data.test or cfg.data.train),
                                cfg.task.threshold or 0.5)
    metrics["train_seconds"] = seconds
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder)  # data, never a pickle (models/lexical.py)
    write_text_atomic(folder / "metrics.json", json.dumps({"test": metrics, "labels": labels.names}, indent=2))
    run_folder.mark(folder, "baseline", ["lexical.json", "lexical.safetensors", "metrics.json"])
    return {"accuracy": metrics.get("accuracy", metrics.get("subset_accuracy")), "f1_macro": metrics.get("f1_macro"),
            "train_seconds": seconds, "infer_samples_per_second": metrics["infer_samples_per_second"],
            "parameters": int(model.coef.size + model.intercept.size), "size_mb": _size_mb(folder), "run": str(folder)}


def compare(cfg: RunConfig, candidates: list[str], output: str | Path, overwrite: bool = False) -> pd.DataFrame:
    """Train and evaluate each candidate; write leaderboard.csv, leaderboard.png and report.html.
    Raises when every candidate failed, and on an interruption (after writing what was finished)."""
    if not get_task(cfg.task.type).comparable:
        raise EcomsftError(f"compare ranks classifiers; for task '{cfg.task.type}', train each model with "
                           f"--task {cfg.task.type} and compare their test figures with: ecomsft runs")
    names = [c.strip() for c in candidates if c.strip()]
    if not names:
        raise EcomsftError("no candidates: pass --models A,B,...")
    seen = [n for i, n in enumerate(names) if n in names[:i]]
    if seen:
        raise EcomsftError(f"candidate '{seen[0]}' is given twice; each candidate needs its own name")
    folders = [_folder_name(n) for n in names]
    if len(set(folders)) != len(folders):
        raise EcomsftError("two candidates map to the same folder name; rename one of them")
    output = run_folder.output_path(output)
    run_folder.check_replaceable(output, overwrite)
    # The data is checked once, before any candidate: a bad file is an error, not a row per model.
    splits, _ = read_splits(cfg)
    output.mkdir(parents=True, exist_ok=True)
    with run_folder.locked(output):  # a second compare into the same folder is refused while this one runs
        run_folder.remove_own(output, keep=run_folder.LOCK)  # an earlier comparison of ours (--overwrite): its files
        run_folder.mark(output, "comparison", files=[])
        return _compare(cfg, names, folders, splits, output)


def _compare(cfg: RunConfig, names: list[str], folders: list[str], splits, output: Path) -> pd.DataFrame:
    rows = []
    try:
        for name, folder in zip(names, folders):
            log.info("compare: %s", name)
            row = {"candidate": name, "status": "ok"}
            rows.append(row)
            try:
                row.update(_run_baseline(cfg, splits, output / folder) if name == BASELINE
                           else _run_transformer(cfg, name, output / folder))
            except (Interrupted, KeyboardInterrupt):
                row["status"] = "interrupted"
                raise
            except EcomsftError as err:  # an unreachable model, a max_length above its limit, ...
                row["status"] = f"failed: {err}"
            except (MemoryError, RuntimeError) as err:  # out of memory on the device or the host
                row["status"] = f"failed: {type(err).__name__}: {str(err)[:200]}"
            log.info("compare: %s -> %s", name, row["status"] if row["status"] != "ok" else f"accuracy {row['accuracy']:.4f}")
    except (Interrupted, KeyboardInterrupt):
        done = sum(row["status"] == "ok" for row in rows)
        _write_board(rows, output)
        raise Interrupted(f"interrupted at candidate '{rows[-1]['candidate'] if rows else names[0]}'; the {done} "
                          f"finished are in {output / 'leaderboard.csv'}; compare has no --resume: run it again with "
                          "--overwrite (or list only the candidates left, with another --output)") from None
    board = _write_board(rows, output)
    if not (board["status"] == "ok").any():
        raise EcomsftError(f"every candidate failed (first: {board['candidate'][0]}: {board['status'][0]}); "
                           f"see {output / 'leaderboard.csv'}")
    return board


def _write_board(rows: list[dict], output: Path) -> pd.DataFrame:
    board = pd.DataFrame(rows).reindex(columns=COLUMNS)
    # Ranked by what each candidate delivers: its blend where its run chose one, else the model alone.
    delivered = board["blend_accuracy"].astype(float).fillna(board["accuracy"].astype(float))
    board = board.iloc[delivered.sort_values(ascending=False, na_position="last").index].reset_index(drop=True)
    write_bytes_atomic(output / "leaderboard.csv", board.to_csv(index=False).encode("utf-8"))
    written = ["leaderboard.csv"]
    write_comparison_report(board, output)
    written += [name for name in ("report.html", "leaderboard.png") if (output / name).is_file()]
    run_folder.mark(output, "comparison", written)
    return board


def _chart(board: pd.DataFrame, path: Path) -> str:
    """One panel per metric across the candidates, saved as PNG; returns it as an <img> for HTML."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = board[board["status"] == "ok"]
    fig, axes = plt.subplots(1, len(CHART_METRICS), figsize=(4.2 * len(CHART_METRICS), 0.45 * len(ok) + 1.6))
    colors = ["#999999" if c == BASELINE else "#4c72b0" for c in ok["candidate"]]
    for ax, (key, title) in zip(axes, CHART_METRICS):
        values = ok[key].astype(float).to_numpy()
        ax.barh(ok["candidate"], values, color=colors)
        ax.invert_yaxis()
        ax.set_title(title)
        for y, value in enumerate(values):
            ax.text(value, y, f" {value:.3f}" if value < 10 else f" {value:,.0f}", va="center", fontsize=8)
        if ax is not axes[0]:
            ax.set_yticks([])
    with atomic_writer(path) as handle:
        fig.savefig(handle, format="png", dpi=110, bbox_inches="tight")
    return png_img(fig)


def write_comparison_report(board: pd.DataFrame, output: Path) -> Path:
    chart = _chart(board, output / "leaderboard.png") if (board["status"] == "ok").any() else ""
    rows = [[r.candidate, r.status, *(float(v) if pd.notna(v) else "—" for v in (
                r.accuracy, r.f1_macro, r.blend_accuracy, r.blend_f1_macro, r.blend_weight, r.train_seconds,
                r.infer_samples_per_second)),
             int(r.parameters) if pd.notna(r.parameters) else "—", float(r.size_mb) if pd.notna(r.size_mb) else "—"]
            for r in board.itertuples()]
    table = html_table(rows, ["candidate", "status", "accuracy", "macro-F1", "blend accuracy", "blend macro-F1",
                              "blend weight", "train s", "infer samples/s", "parameters", "size MB"], (0, 1))
    page = (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>ecomsft comparison</title><style>{CSS}</style></head>"
            + html_text("<body><h1>ecomsft comparison: {}</h1>", output.name)
            + f"{table}<h2>Per metric</h2>{chart}</body></html>")
    target = output / "report.html"
    write_text_atomic(target, page)
    return target
