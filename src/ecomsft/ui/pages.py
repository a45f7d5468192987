"""The interface's HTML: one page frame, tables, and the little JavaScript the training page needs
(written here, inline: no asset is fetched from outside and there is no build step)."""

from __future__ import annotations

from html import escape

from .text import say

STYLE = """body{font-family:system-ui,sans-serif;margin:2rem;max-width:72rem;color:#222}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}.error{color:#b00020;font-weight:bold}nav a{margin-right:1rem}
textarea{width:100%;min-height:5rem}button,.button{padding:.4rem 1rem}input[type=text],select{min-width:14rem}
pre{background:#f6f6f6;padding:.6rem;max-height:20rem;overflow:auto;white-space:pre-wrap}
code.cmd{display:block;background:#f6f6f6;padding:.6rem;word-break:break-all}details{margin:1rem 0}
.muted{color:#666}svg{border:1px solid #ddd;background:#fff}"""


def page(lang: str, title: str, body: str) -> str:
    other = "en" if lang == "zh" else "zh"
    nav = (f'<nav><a href="/">{say(lang, "runs")}</a><a href="/new">{say(lang, "new_run")}</a>'
           f'<a href="?lang={other}">{"English" if lang == "zh" else "中文"}</a></nav>')
    return (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>ecomsft: {escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width"><style>{STYLE}</style></head>'
            f"<body>{nav}<h1>{escape(title)}</h1>{body}</body></html>")


def figure(value) -> str:
    return "—" if not isinstance(value, (int, float)) or value != value else f"{value:.4f}"


def table(header: list[str], rows: list[list[str]]) -> str:
    """Cells are HTML already (escape what comes from outside before)."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table>{f'<tr>{head}</tr>' if any(header) else ''}{body}</table>"


def error(message: str) -> str:
    return f'<p class="error" role="alert">{escape(message)}</p>' if message else ""


def answer_html(answer) -> str:
    """A run's answer to one text as a table: a label with its probabilities, or rows of items."""
    if isinstance(answer, dict) and "probabilities" in answer:
        label = "|".join(answer["label"]) if isinstance(answer["label"], list) else answer["label"]
        rows = [[escape(str(k)), f"{v:.3f}"] for k, v in answer["probabilities"].items()]
        return f'<p><b id="answer-label">{escape(str(label))}</b></p>' + table(["", ""], rows)
    items = answer if isinstance(answer, list) else [answer]
    if not items:
        return "<p>—</p>"
    keys = [k for k in items[0] if not isinstance(items[0][k], (list, dict))]
    return table([escape(k) for k in keys], [[escape(str(item.get(k, ""))) for k in keys] for item in items])


# The training page: server-sent events from /jobs/ID/events redraw the status, the bar, the loss and
# validation curves (SVG) and the log; a page opened on a running job reloads once it has ended.
JOB_SCRIPT = """
const box = document.getElementById('job'), id = box.dataset.id, initial = box.dataset.status;
function line(points, w, h) {
  if (points.length < 1) return '';
  const xs = points.map(p => p[0]), ys = points.map(p => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1), y0 = Math.min(...ys), y1 = Math.max(...ys, y0 + 1e-9);
  return points.map(p => `${(10 + (p[0] - x0) / (x1 - x0) * (w - 20)).toFixed(1)},${(h - 10 - (p[1] - y0) / (y1 - y0) * (h - 20)).toFixed(1)}`).join(' ');
}
function draw(s) {
  document.getElementById('status').textContent = s.status_text;
  document.getElementById('message').textContent = s.message || '';
  const bar = document.getElementById('bar');
  bar.max = s.max_steps || 1; bar.value = s.step || 0;
  document.getElementById('steps').textContent = s.max_steps ? `${s.step} / ${s.max_steps}` : '';
  document.getElementById('loss').setAttribute('points', line(s.loss, 600, 200));
  document.getElementById('metric').setAttribute('points', line(s.metric, 600, 200));
  document.getElementById('metric-name').textContent = s.metric_name || '';
  document.getElementById('log').textContent = s.log.join('\\n');
  if (s.run) { const a = document.getElementById('run-link'); a.href = s.run; a.hidden = false; }
  if (s.done) { source.close(); if (!['finished', 'failed', 'stopped'].includes(initial)) location.reload(); }
}
const source = new EventSource(`/jobs/${id}/events`);
source.onmessage = e => draw(JSON.parse(e.data));
"""

# The new-run form: the equivalent command, rebuilt as the form changes.
FORM_SCRIPT = """
const form = document.getElementById('train-form'), out = document.getElementById('command');
function quote(v) { return /^[\\w@%+=:,./-]+$/.test(v) ? v : "'" + v.replace(/'/g, "'\\"'\\"'") + "'"; }
function rebuild() {
  const f = new FormData(form), args = ['ecomsft', 'train', '--data', form.dataset.data, '--task', f.get('task')];
  for (const [name, flag] of [['text_column', '--text-column'], ['text_pair_column', '--text-pair-column'], ['label_column', '--label-column']])
    if (f.get(name)) args.push(flag, f.get(name));
  args.push('--model', f.get('model') || 'auto', '--output', form.dataset.root + '/' + (f.get('name') || ''));
  if (f.get('minutes')) args.push('--max-seconds', String(Math.round(parseFloat(f.get('minutes')) * 60)));
  for (const input of form.querySelectorAll('[data-default]'))
    if (input.value.trim() !== input.dataset.default) args.push('--set', `${input.name.slice(4)}=${input.value.trim()}`);
  out.textContent = args.map(quote).join(' ');
}
form.addEventListener('input', rebuild); rebuild();
document.getElementById('task').addEventListener('change', e => { location.search = '?task=' + e.target.value; });
"""
