"""The web interface's routes (FastAPI): pages rendered as plain HTML, each figure and message from
the Python API (``api.runs``, ``api.predict``, the run's metrics.json and report.html).

A run is named in URLs by its path relative to the root folder; a name that leaves the root, or
that is not a finished run, is answered with a page saying so (404), never read. Every failure the
API reports in one line (``EcomsftError``) is shown as that line in the page (400). Binding another
interface than loopback needs an API key, sent as ``Authorization: Bearer KEY`` or the ``key`` query
parameter once (then kept in a cookie)."""

from __future__ import annotations

import secrets
from html import escape
from pathlib import Path

from fastapi import FastAPI, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import EcomsftError
from ..inference.http import LOOPBACK
from ..metrics_file import RunMetrics, list_runs
from ..run_folder import is_finished_run
from .text import language, say

STYLE = """body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem;color:#222}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}
th{background:#f4f4f4}.error{color:#b00020;font-weight:bold}nav a{margin-right:1rem}
textarea{width:100%;min-height:5rem}button{padding:.4rem 1rem}"""


def _page(request: Request, title: str, body: str, status: int = 200) -> HTMLResponse:
    lang = language(request)
    nav = (f'<nav><a href="/">{say(lang, "runs")}</a>'
           f'<a href="?lang={"en" if lang == "zh" else "zh"}">{"English" if lang == "zh" else "中文"}</a></nav>')
    html = (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>ecomsft: {escape(title)}</title>'
            f"<style>{STYLE}</style></head><body>{nav}<h1>{escape(title)}</h1>{body}</body></html>")
    response = HTMLResponse(html, status_code=status)
    if request.query_params.get("lang") in ("zh", "en"):
        response.set_cookie("lang", request.query_params["lang"], samesite="strict")
    return response


def _figure(value) -> str:
    return "—" if value is None or value != value else f"{value:.4f}"


def create_ui(root: str | Path, api_key: str | None = None) -> FastAPI:
    """The interface over the runs under ``root``; ``api_key``: every request must carry it."""
    root = Path(root).resolve()
    app = FastAPI(title="ecomsft ui", docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def key_check(request: Request, call_next):
        if api_key is None:
            return await call_next(request)
        given = (request.headers.get("authorization", "").removeprefix("Bearer ").strip()
                 or request.query_params.get("key") or request.cookies.get("ecomsft_key") or "")
        if not secrets.compare_digest(given.encode(), api_key.encode()):
            return JSONResponse({"error": "missing or wrong API key"}, status_code=401)
        response = await call_next(request)
        if request.query_params.get("key"):
            response.set_cookie("ecomsft_key", api_key, httponly=True, samesite="strict")
        return response

    def run_folder(name: str) -> Path:
        folder = (root / name).resolve()
        if folder != root and root not in folder.parents or not is_finished_run(folder):
            raise LookupError(name)
        return folder

    @app.exception_handler(LookupError)
    async def no_such_run(request: Request, err: LookupError):
        lang = language(request)
        return _page(request, say(lang, "no_run"), f'<p class="error">{escape(say(lang, "no_run_text", name=str(err)))}</p>', 404)

    @app.exception_handler(StarletteHTTPException)
    async def not_a_page(request: Request, err: StarletteHTTPException):
        lang = language(request)
        return _page(request, say(lang, "refused"), f'<p class="error">{escape(say(lang, "no_page", path=request.url.path))}</p>',
                     err.status_code)

    @app.exception_handler(EcomsftError)
    async def refused(request: Request, err: EcomsftError):
        lang = language(request)
        return _page(request, say(lang, "refused"), f'<p class="error">{escape(str(err))}</p>', 400)

    @app.get("/", response_class=HTMLResponse)
    async def runs(request: Request):
        lang = language(request)
        found = list_runs(root)
        if not found:
            return _page(request, say(lang, "runs"), f"<p>{escape(say(lang, 'no_runs', root=str(root)))}</p>")
        rows = []
        for run in found:
            name = Path(run["run"]).resolve().relative_to(root).as_posix()
            main = run["accuracy"] if run["accuracy"] is not None else run["ndcg@10"]
            rows.append(f'<tr><td><a href="/runs/{escape(name)}">{escape(name)}</a></td><td>{escape(run["finished"])}</td>'
                        f"<td>{escape(str(run['task']))}</td><td>{escape(str(run['model']))}</td>"
                        f"<td>{_figure(main)}</td><td>{_figure(run['baseline_accuracy'])}</td></tr>")
        header = "".join(f"<th>{say(lang, key)}</th>" for key in ("run", "finished", "task", "model", "main_metric", "baseline"))
        return _page(request, say(lang, "runs"), f"<table><tr>{header}</tr>{''.join(rows)}</table>")

    @app.get("/runs/{name:path}/report")
    async def report(name: str):
        page = run_folder(name) / "report.html"
        if not page.is_file():
            raise LookupError(f"{name}/report.html")
        return FileResponse(page, media_type="text/html")

    @app.get("/runs/{name:path}", response_class=HTMLResponse)
    async def run_page(request: Request, name: str):
        return _run_page(request, name, run_folder(name))

    @app.post("/runs/{name:path}/try", response_class=HTMLResponse)
    async def try_run(request: Request, name: str, text: str = Form("")):
        from .. import api

        folder = run_folder(name)
        lang = language(request)
        if not text.strip():
            return _run_page(request, name, folder, error=say(lang, "empty_text"), status=400)
        answers = api.predict(folder, [text])[0]
        return _run_page(request, name, folder, text=text, answer=answers)

    def _run_page(request: Request, name: str, folder: Path, text: str = "", answer=None, error: str = "",
                  status: int = 200) -> HTMLResponse:
        lang = language(request)
        metrics = RunMetrics.read(folder)
        test = metrics.test or {}
        base = metrics.baseline_tfidf_lr or next(iter((metrics.baselines or {}).values()), None) or {}
        figures = [k for k, v in test.items() if isinstance(v, float)][:10]
        rows = "".join(f"<tr><td>{escape(k)}</td><td>{_figure(test.get(k))}</td>"
                       f"<td>{_figure(base.get(k) if isinstance(base.get(k), float) else None)}</td></tr>" for k in figures)
        body = [f"<p>{escape(say(lang, 'run_line', task=metrics.task, model=metrics.model.name))}</p>",
                f"<table><tr><th>{say(lang, 'metric')}</th><th>{say(lang, 'fine_tuned')}</th>"
                f"<th>{say(lang, 'baseline')}</th></tr>{rows}</table>"]
        if (folder / "report.html").is_file():
            body.append(f'<p><a href="/runs/{escape(name)}/report">{say(lang, "open_report")}</a></p>')
        body.append(f'<h2>{say(lang, "try")}</h2><form method="post" action="/runs/{escape(name)}/try">'
                    f'<textarea name="text">{escape(text)}</textarea><p><button type="submit">{say(lang, "answer")}</button></p></form>')
        if error:
            body.append(f'<p class="error">{escape(error)}</p>')
        if answer is not None:
            body.append(f"<h2>{say(lang, 'answer')}</h2>{_answer_html(answer)}")
        return _page(request, name, "".join(body), status)

    return app


def _answer_html(answer) -> str:
    """A run's answer to one text as a table: a label with its probabilities, or rows of spans."""
    if isinstance(answer, dict) and "probabilities" in answer:
        label = "|".join(answer["label"]) if isinstance(answer["label"], list) else answer["label"]
        rows = "".join(f"<tr><td>{escape(str(k))}</td><td>{v:.3f}</td></tr>" for k, v in answer["probabilities"].items())
        return f"<p><b>{escape(str(label))}</b></p><table>{rows}</table>"
    items = answer if isinstance(answer, list) else [answer]
    if not items:
        return "<p>—</p>"
    keys = [k for k in items[0] if not isinstance(items[0][k], (list, dict))]
    head = "".join(f"<th>{escape(k)}</th>" for k in keys)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(item.get(k, '')))}</td>" for k in keys) + "</tr>" for item in items)
    return f"<table><tr>{head}</tr>{body}</table>"



def run_ui(root: str | Path, *, host: str = "127.0.0.1", port: int = 8765, api_key: str | None = None) -> None:
    """Serve the interface until stopped; another interface than loopback only with ``api_key``."""
    import uvicorn

    if host not in LOOPBACK and not api_key:
        raise EcomsftError(f"binding {host} needs an API key (--api-key-file or ECOMSFT_API_KEY): the interface "
                           "trains and reads every run under its root")
    if not Path(root).is_dir():
        raise EcomsftError("not a folder", where=str(root))
    uvicorn.run(create_ui(root, api_key), host=host, port=port, http="ecomsft.inference.protocol:GuardedH11Protocol")
