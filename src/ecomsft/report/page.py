"""What every report section uses: the page style, tables and embedded plots."""

from __future__ import annotations

import base64
import io

import numpy as np

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ddd;padding:.3em .6em;text-align:right}
th{background:#f5f5f5}td.text{text-align:left;max-width:600px}.grid{display:flex;flex-wrap:wrap;gap:1em}
.headline{font-size:1.1em;background:#f7f9fc;border:1px solid #dde5f0;padding:.8em 1em;border-radius:6px}
img{max-width:100%;border:1px solid #eee}
"""


def html_text(template: str, *values, **named) -> str:
    """The one escape rule of every report: ``template`` is ecomsft's own HTML, and every value put
    into it (a run's name, a model's, any figure read back from metrics.json) is escaped, format
    specs and all (MarkupSafe's formatter), so that no value a run folder holds becomes markup."""
    from markupsafe import Markup

    return str(Markup(template).format(*values, **named))


def png_img(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return f'<img alt="chart" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def plot_names(names: list[str]) -> list[str]:
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
    head = "".join(html_text("<th>{}</th>", h) for h in header)
    body = []
    for row in rows:
        cells = []
        for i, value in enumerate(row):
            shown = f"{value:.4f}" if isinstance(value, float) else value
            cells.append(html_text('<td class="text">{}</td>' if i in text_columns else "<td>{}</td>", shown))
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def learning_curves(log: list[dict]) -> str:
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


def metric_bars(blocks: dict[str, dict], names: list[str]) -> str:
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
