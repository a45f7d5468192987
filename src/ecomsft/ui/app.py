"""The web interface's routes (FastAPI): pages rendered as plain HTML from the Python API (``api.runs``,
``api.predict``, ``api.predict_file``, ``api.resolve_config``, ``api.remove_run``) and the run folders;
trainings run as background ``ecomsft train`` processes (``ui/jobs.py``).

A run is named in URLs by its path relative to the root folder; a name that leaves the root, or
that is not a finished run, is answered with a page saying so (404), never read. Every failure the
API reports in one line (``EcomsftError``) is shown as that line in the page (400). Binding another
interface than loopback needs an API key, sent as ``Authorization: Bearer KEY`` or the ``key`` query
parameter once (then kept in a cookie)."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import shutil
import threading
from contextlib import asynccontextmanager
from html import escape
from pathlib import Path
from urllib.parse import urlparse

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import EcomsftError
from ..inference.http import LOOPBACK
from ..inference.protocol import configure
from ..metrics_file import RunMetrics, list_runs
from ..run_folder import check_replaceable, is_finished_run
from ..training.tracking import read_progress
from . import pages
from .jobs import FAILED, FINISHED, RUNNING, STOPPED, UI_FOLDER, WAITING, Job, Jobs
from .text import language, message, say
from .uploads import SCORED, all_uploads, preview, save_upload, upload_path, uploads_folder

DEFAULT_UPLOAD_MB = 500
# What the new-run form asks for itself; every other configuration key is an advanced setting.
FORM_KEYS = {"data.train", "data.text_column", "data.text_pair_column", "data.label_column", "task.type", "model.name",
             "output", "overwrite", "training.max_seconds", "training.progress_bar"}
BUNDLED_MODELS = ("auto", "me5", "minilm", "gemma3-270m")
FILE_KEYS = {"data.valid", "data.test", "data.catalog", "task.labels"}  # settings that name a file: offered the uploads
RUN_NAME = re.compile(r"^[\w-][\w.-]*(/[\w-][\w.-]*)*$")


def create_ui(root: str | Path, api_key: str | None = None, max_upload_mb: int = DEFAULT_UPLOAD_MB,
              watch: bool = True) -> FastAPI:
    """The interface over the runs under ``root``; ``api_key``: every request must carry it;
    ``watch``: a background thread starts queued trainings (else each request does)."""
    root = Path(root).resolve()
    jobs = Jobs(root)
    limit = max_upload_mb << 20

    @asynccontextmanager
    async def lifespan(app):
        stop = threading.Event()
        if watch:
            threading.Thread(target=jobs.watch, args=(stop,), daemon=True, name="ecomsft-ui-jobs").start()
        yield
        stop.set()
        jobs.stop_own()  # a training this server started stops with it, resumable (as on Ctrl-C)

    app = FastAPI(title="ecomsft ui", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)

    def reply(request: Request, title: str, body: str, status: int = 200) -> HTMLResponse:
        response = HTMLResponse(pages.page(language(request), title, body), status_code=status)
        if request.query_params.get("lang") in ("zh", "en"):
            response.set_cookie("lang", request.query_params["lang"], samesite="strict")
        return response

    @app.middleware("http")
    async def same_origin(request: Request, call_next):
        """A form another site posts to this interface (it may remove a run, or train) is refused: a
        browser names the page's origin on every cross-site POST, and it must be this server's."""
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            origin = request.headers.get("origin")
            crossed = request.headers.get("sec-fetch-site") == "cross-site"
            if crossed or (origin and origin != "null" and urlparse(origin).netloc != request.headers.get("host")):
                return JSONResponse({"error": "a request from another site is refused"}, status_code=403)
            if origin == "null":
                return JSONResponse({"error": "a request from an opaque origin is refused"}, status_code=403)
        return await call_next(request)

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
        try:
            folder = (root / name).resolve()
        except (OSError, ValueError):  # a name no file system takes (a NUL byte, a loop of links)
            raise LookupError(name) from None
        if folder != root and root not in folder.parents or not is_finished_run(folder):
            raise LookupError(name)
        return folder

    def relative(folder: str | Path) -> str:
        try:
            return Path(folder).resolve().relative_to(root).as_posix()
        except ValueError:
            return str(folder)

    @app.exception_handler(LookupError)
    async def no_such_thing(request: Request, err: LookupError):
        lang = language(request)
        return reply(request, say(lang, "no_run"), pages.error(say(lang, "no_run_text", name=str(err))), 404)

    @app.exception_handler(StarletteHTTPException)
    async def not_a_page(request: Request, err: StarletteHTTPException):
        lang = language(request)
        return reply(request, say(lang, "refused"), pages.error(say(lang, "no_page", path=request.url.path)), err.status_code)

    @app.exception_handler(EcomsftError)
    async def refused(request: Request, err: EcomsftError):
        return reply(request, say(language(request), "refused"), pages.error(str(err)), 400)

    # -- runs --------------------------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse)
    async def runs(request: Request):
        lang = language(request)
        jobs.tick()
        body = [f'<p><a class="button" href="/new">{say(lang, "new_run")}</a></p>']
        active = [job for job in reversed(jobs.all()) if job.status in (WAITING, RUNNING)]
        recent = [job for job in reversed(jobs.all()) if job.status not in (WAITING, RUNNING)][:5]
        if active or recent:
            body.append(f"<h2>{say(lang, 'trainings')}</h2>" + pages.table(
                [say(lang, "run"), say(lang, "status")],
                [[f'<a href="/jobs/{job.id}">{escape(relative(job.output))}</a>', escape(status_text(lang, job))]
                 for job in active + recent]))
        found = list_runs(root)
        if not found:
            body.append(f"<p>{escape(say(lang, 'no_runs', root=str(root)))}</p>")
            return reply(request, say(lang, "runs"), "".join(body))
        rows = []
        for run in found:
            name = relative(run["run"])
            rows.append([f'<input type="checkbox" name="run" value="{escape(name)}" aria-label="{escape(name)}">',
                         f'<a href="/runs/{escape(name)}">{escape(name)}</a>', escape(run["finished"]),
                         escape(str(run["task"])), escape(str(run["model"])), pages.figure(run["main"]),
                         pages.figure(run["baseline_accuracy"])])
        header = ["", *(say(lang, key) for key in ("run", "finished", "task", "model", "main_metric", "baseline"))]
        body.append(f'<form method="get" action="/compare">{pages.table(header, rows)}'
                    f'<button type="submit">{say(lang, "compare")}</button></form>')
        return reply(request, say(lang, "runs"), "".join(body))

    @app.get("/compare", response_class=HTMLResponse)
    async def compare(request: Request):
        lang = language(request)
        names = request.query_params.getlist("run")
        if len(names) < 2:
            raise EcomsftError(say(lang, "compare_two"))
        board = [(name, RunMetrics.read(run_folder(name))) for name in names]
        keys = [k for k, v in (board[0][1].test or {}).items() if isinstance(v, float)]
        keys = [k for k in keys if all(isinstance((m.test or {}).get(k), float) for _, m in board)][:8]
        rows = []
        for name, metrics in board:
            delivered = metrics.headline()["delivered"]
            timings = metrics.timings
            rows.append([f'<a href="/runs/{escape(name)}">{escape(name)}</a>', escape(metrics.task), escape(metrics.model.name),
                         *(pages.figure((metrics.test or {}).get(k)) for k in keys),
                         pages.figure((metrics.baseline_tfidf_lr or {}).get("accuracy")), pages.figure(delivered),
                         f"{timings.train_seconds:.0f}" if timings else "—"])
        header = [say(lang, "run"), say(lang, "task"), say(lang, "model"), *map(escape, keys), say(lang, "baseline"),
                  say(lang, "blend"), say(lang, "train_seconds")]
        return reply(request, say(lang, "compare"), pages.table(header, rows))

    @app.get("/runs/{name:path}/report")
    async def report(name: str):
        page = run_folder(name) / "report.html"
        if not page.is_file():
            raise LookupError(f"{name}/report.html")
        return FileResponse(page, media_type="text/html")

    @app.get("/runs/{name:path}", response_class=HTMLResponse)
    async def run_page(request: Request, name: str):
        return run_reply(request, name, run_folder(name))

    @app.post("/runs/{name:path}/try", response_class=HTMLResponse)
    async def try_run(request: Request, name: str):
        from .. import api

        folder = run_folder(name)
        lang = language(request)
        text = str((await request.form()).get("text") or "")
        if not text.strip():
            return run_reply(request, name, folder, error=say(lang, "empty_text"), status=400)
        answers = (await run_in_threadpool(api.predict, folder, [text]))[0]
        return run_reply(request, name, folder, text=text, answer=answers)

    @app.post("/runs/{name:path}/score", response_class=HTMLResponse)
    async def score_file(request: Request, name: str):
        from .. import api

        folder = run_folder(name)
        upload = await received_file(request)
        output = upload.parent / f"{SCORED}{upload.stem}.csv"
        rows = await run_in_threadpool(api.predict_file, folder, upload, output)
        lang = language(request)
        link = f"/downloads/{upload.parent.name}/{output.name}"
        return run_reply(request, name, folder, scored=f'<p>{escape(say(lang, "scored", rows=rows))} '
                                                       f'<a id="download" href="{link}" download>{escape(output.name)}</a></p>')

    @app.post("/runs/{name:path}/remove", response_class=HTMLResponse)
    async def remove(request: Request, name: str):
        from .. import api

        await run_in_threadpool(api.remove_run, run_folder(name))
        return RedirectResponse("/", status_code=303)

    @app.get("/downloads/{upload_id}/{file}")
    async def download(upload_id: str, file: str):
        path = uploads_folder(root) / upload_id / file
        if not (upload_id.isalnum() and file.startswith(SCORED) and "/" not in file and path.is_file()
                and not path.is_symlink()):
            raise LookupError(file)
        return FileResponse(path, filename=file)

    def run_reply(request: Request, name: str, folder: Path, text: str = "", answer=None, error: str = "",
                  status: int = 200, scored: str = "") -> HTMLResponse:
        lang = language(request)
        metrics = RunMetrics.read(folder)
        test = metrics.test or {}
        base = metrics.baseline_tfidf_lr or next(iter((metrics.baselines or {}).values()), None) or {}
        figures = [k for k, v in test.items() if isinstance(v, float)][:10]
        rows = [[escape(k), pages.figure(test.get(k)), pages.figure(base.get(k))] for k in figures]
        quoted = escape(name)
        body = [f"<p>{escape(say(lang, 'run_line', task=metrics.task, model=metrics.model.name))}</p>",
                pages.table([say(lang, "metric"), say(lang, "fine_tuned"), say(lang, "baseline")], rows)]
        if (folder / "report.html").is_file():
            body.append(f'<p><a id="report-link" href="/runs/{quoted}/report">{say(lang, "open_report")}</a></p>')
        body.append(f'<h2>{say(lang, "try")}</h2><p class="muted">{say(lang, "try_hint")}</p>'
                    f'<form method="post" action="/runs/{quoted}/try"><textarea name="text" id="try-text">{escape(text)}'
                    f'</textarea><p><button type="submit" id="try-button">{say(lang, "answer")}</button></p></form>')
        body.append(pages.error(error))
        if answer is not None:
            body.append(f"<h2>{say(lang, 'answer')}</h2>{pages.answer_html(answer)}")
        body.append(f'<h2>{say(lang, "score_file")}</h2><form method="post" action="/runs/{quoted}/score" '
                    f'enctype="multipart/form-data"><input type="file" name="file" id="score-file" required> '
                    f'<button type="submit" id="score-button">{say(lang, "score")}</button></form>{scored}')
        body.append(f'<h2>{say(lang, "remove")}</h2><form method="post" action="/runs/{quoted}/remove" '
                    f'onsubmit="return confirm(this.dataset.ask)" data-ask="{escape(say(lang, "remove_ask"))}">'
                    f'<p class="muted">{say(lang, "remove_hint")}</p><button type="submit">{say(lang, "remove")}</button></form>')
        return reply(request, name, "".join(body), status)

    # -- a new run ---------------------------------------------------------------------------------
    async def received_file(request: Request) -> Path:
        """The file of a multipart upload, streamed to a new upload folder; over the limit (by its
        declared length or by what arrives) it is refused and nothing is kept."""
        declared = int(request.headers.get("content-length") or 0)
        lang = language(request)
        if declared > limit + (1 << 16):
            raise EcomsftError(say(lang, "too_big", mb=limit >> 20))
        received = 0

        async def receive():
            nonlocal received
            message = await request.receive()
            received += len(message.get("body", b""))
            if received > limit + (1 << 16):
                raise EcomsftError(say(lang, "too_big", mb=limit >> 20))
            return message

        form = await Request(request.scope, receive).form(max_files=1, max_fields=20)
        upload = form.get("file")
        if upload is None or not getattr(upload, "filename", None):
            raise EcomsftError(say(lang, "no_file"))
        try:
            return await run_in_threadpool(save_upload, root, upload.filename, upload.file, limit)
        finally:
            await upload.close()

    @app.get("/new", response_class=HTMLResponse)
    async def new_run(request: Request):
        lang = language(request)
        body = (f'<p>{say(lang, "upload_hint", mb=limit >> 20)}</p><form method="post" action="/upload" '
                f'enctype="multipart/form-data"><input type="file" name="file" id="upload-file" required> '
                f'<button type="submit" id="upload-button">{say(lang, "upload")}</button></form>')
        return reply(request, say(lang, "new_run"), body)

    @app.post("/upload")
    async def upload(request: Request):
        path = await received_file(request)
        try:
            await run_in_threadpool(preview, path)  # a file that is no table is refused now, and not kept
        except BaseException:
            shutil.rmtree(path.parent, ignore_errors=True)
            raise
        return RedirectResponse(f"/new/{path.parent.name}", status_code=303)

    @app.get("/new/{upload_id}", response_class=HTMLResponse)
    async def mapping(request: Request, upload_id: str):
        return await run_in_threadpool(form_reply, request, upload_id, {}, "", 200)

    @app.post("/new/{upload_id}/train", response_class=HTMLResponse)
    async def train(request: Request, upload_id: str):
        form = {k: str(v) for k, v in (await request.form()).items()}
        try:
            argv, output = await run_in_threadpool(checked_command, upload_id, form)
        except EcomsftError as err:
            return await run_in_threadpool(form_reply, request, upload_id, form, str(err), 400)
        job = jobs.submit(argv, output)
        return RedirectResponse(f"/jobs/{job.id}", status_code=303)

    def defaults_for(path: Path, task: str) -> dict:
        """Every configuration key with its default for ``task``, from the configuration schema (as
        ``ecomsft config show`` prints it)."""
        import yaml

        from .. import api
        from ..config import flatten_config

        return flatten_config(yaml.safe_load(api.show_config(None, {"data.train": str(path), "task.type": task})))

    def shown(value) -> str:
        return "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)

    def form_reply(request: Request, upload_id: str, form: dict, error: str, status: int) -> HTMLResponse:
        from ..tasks import task_names

        lang = language(request)
        path = upload_path(root, upload_id)
        task = form.get("task") or request.query_params.get("task") or "classification"
        if task not in task_names():
            task = "classification"
        seen = preview(path, task)
        guesses = {key: form.get(key, seen.guesses[key]) for key in seen.guesses}

        def select(key: str) -> str:
            options = [f'<option value="">{say(lang, "none")}</option>'] + [
                f'<option value="{escape(c)}"{" selected" if c == guesses[key] else ""}>{escape(c)}</option>' for c in seen.columns]
            return f'<select name="{key}" id="{key}">{"".join(options)}</select>'

        tasks = "".join(f'<option value="{t}"{" selected" if t == task else ""}>{t}</option>' for t in task_names())
        models = "".join(f'<option value="{m}">' for m in BUNDLED_MODELS)
        advanced = []
        for key, default in defaults_for(path, task).items():
            if key in FORM_KEYS:
                continue
            value = form.get(f"set:{key}", shown(default))
            files = ' list="uploads"' if key in FILE_KEYS else ""
            advanced.append([f'<label for="set:{key}">{escape(key)}</label>',
                             f'<input type="text" name="set:{key}" id="set:{key}" value="{escape(value)}"{files} '
                             f'data-default="{escape(shown(default))}">'])
        uploaded = "".join(f'<option value="{escape(str(other))}">{escape(other.name)}</option>'
                           for other in all_uploads(root) if other != path)
        name = form.get("name") or f"{path.stem}-{task}"
        auto = (say(lang, "auto_reason", **seen.auto) if seen.auto else say(lang, "model_hint"))
        body = [pages.error(error),
                f"<p>{escape(say(lang, 'preview_line', file=path.name, rows=seen.total, encoding=seen.encoding or '-'))}</p>",
                pages.table([escape(c) for c in seen.columns], [[escape(v) for v in row] for row in seen.rows]),
                f'<form method="post" action="/new/{upload_id}/train" id="train-form" data-data="{escape(str(path))}" '
                f'data-root="{escape(str(root))}">',
                pages.table(["", ""], [
                    [f'<label for="task">{say(lang, "task")}</label>', f'<select name="task" id="task">{tasks}</select>'],
                    [f'<label for="text_column">{say(lang, "text_column")}</label>', select("text_column")],
                    [f'<label for="text_pair_column">{say(lang, "text_pair_column")}</label>', select("text_pair_column")],
                    [f'<label for="label_column">{say(lang, "label_column")}</label>', select("label_column")],
                    [f'<label for="model">{say(lang, "model")}</label>',
                     f'<input type="text" name="model" id="model" list="models" value="{escape(form.get("model", "auto"))}">'
                     f'<datalist id="models">{models}</datalist> <span class="muted" id="auto-reason">{escape(auto)}</span>'],
                    [f'<label for="minutes">{say(lang, "minutes")}</label>',
                     f'<input type="text" name="minutes" id="minutes" value="{escape(form.get("minutes", ""))}">'],
                    [f'<label for="name">{say(lang, "run_name")}</label>',
                     f'<input type="text" name="name" id="name" value="{escape(name)}">'],
                ]),
                f'<details><summary>{say(lang, "advanced")}</summary><p class="muted">{say(lang, "file_settings")}</p>'
                f'{pages.table(["", ""], advanced)}<datalist id="uploads">{uploaded}</datalist></details>',
                f'<p>{say(lang, "command")}</p><code class="cmd" id="command"></code>',
                f'<p><button type="submit" id="train-button">{say(lang, "train")}</button></p></form>',
                f"<script>{pages.FORM_SCRIPT}</script>"]
        return reply(request, say(lang, "new_run"), "".join(body), status)

    def checked_command(upload_id: str, form: dict) -> tuple[list[str], Path]:
        """The ``ecomsft train`` arguments the form asks for, checked as the CLI checks them before
        any training: the configuration, the output folder, and the data read and split by the task
        (a missing column, one class, an empty file are refused here, in the page)."""
        from .. import api
        from ..config import parse_set_option
        from ..models.resolve import resolve_model
        from ..tasks import get_task

        path = upload_path(root, upload_id)
        task = form.get("task") or "classification"
        name = (form.get("name") or "").strip().strip("/")
        if not RUN_NAME.match(name) or UI_FOLDER in name.split("/"):
            raise EcomsftError("a run name is letters, digits, '-', '_' and '.', with '/' between folders", where=name or "run name")
        output = root / name
        argv = ["train", "--data", str(path), "--task", task]
        overrides = {"data.train": str(path), "task.type": task, "output": str(output)}
        for key, flag in (("text_column", "--text-column"), ("text_pair_column", "--text-pair-column"),
                          ("label_column", "--label-column")):
            if form.get(key):
                argv += [flag, form[key]]
                overrides[f"data.{key}"] = form[key]
        model = form.get("model", "").strip() or "auto"
        argv += ["--model", model, "--output", str(output)]
        overrides["model.name"] = model
        minutes = form.get("minutes", "").strip()
        if minutes:
            try:
                seconds = round(float(minutes) * 60)
            except ValueError:
                raise EcomsftError("the time budget is a number of minutes", where=minutes) from None
            if seconds <= 0:
                raise EcomsftError("the time budget is a number of minutes above 0", where=minutes)
            argv += ["--max-seconds", str(seconds)]
            overrides["training.max_seconds"] = seconds
        for key, default in defaults_for(path, task).items():
            value = form.get(f"set:{key}")
            if key not in FORM_KEYS and value is not None and value.strip() != shown(default):
                argv += ["--set", f"{key}={value.strip()}"]
                overrides.update([parse_set_option(f"{key}={value.strip()}")])
        cfg = api.resolve_config(None, overrides)
        check_replaceable(output, False)
        if Path(str(output) + ".partial").exists():
            raise EcomsftError("an interrupted run of that name is here; resume it from its training page, or choose "
                               "another name", where=name)
        if model not in BUNDLED_MODELS:  # a folder or hub id that is not there is refused now (the bundled
            resolve_model(model)        # ones are converted by the training, once)
        get_task(cfg.task.type)(cfg).load_data()
        return argv, output

    # -- trainings ---------------------------------------------------------------------------------
    def state(lang: str, job: Job) -> dict:
        done = job.status in (FINISHED, FAILED, STOPPED)
        folder = Path(job.output) if job.status == FINISHED else job.partial
        progress = read_progress(folder) or read_progress(Path(job.output))
        last = progress[-1] if progress else {}
        metric = next((k for line in progress for k in line if k.startswith("eval_") and k not in (
            "eval_loss", "eval_runtime", "eval_samples_per_second", "eval_steps_per_second")), None)
        return {"id": job.id, "status": job.status, "status_text": status_text(lang, job), "message": message(lang, job.message),
                "position": jobs.position(job), "step": last.get("step", 0), "max_steps": last.get("max_steps", 0),
                "loss": [[line["step"], line["loss"]] for line in progress if "loss" in line],
                "metric": [[line["step"], line[metric]] for line in progress if metric in line],
                "metric_name": metric.removeprefix("eval_") if metric else "", "log": jobs.log(job, 30),
                "run": f"/runs/{relative(job.output)}" if job.status == FINISHED and is_finished_run(Path(job.output)) else None,
                "done": done, "resumable": job.resumable}

    def status_text(lang: str, job: Job) -> str:
        if job.status == WAITING:
            return say(lang, "queued", position=jobs.position(job) or 1)
        return say(lang, f"job_{job.status}")

    @app.get("/jobs/{job_id}", response_class=HTMLResponse)
    async def job_page(request: Request, job_id: str):
        lang = language(request)
        jobs.tick()
        job = jobs.get(job_id)
        now = state(lang, job)
        buttons = []
        if job.status in (WAITING, RUNNING):
            buttons.append(f'<form method="post" action="/jobs/{job.id}/stop"><button id="stop-button">{say(lang, "stop")}</button></form>')
        if job.resumable:
            buttons.append(f'<form method="post" action="/jobs/{job.id}/resume"><button id="resume-button">{say(lang, "resume")}</button></form>')
        body = [f'<div id="job" data-id="{job.id}" data-status="{job.status}">',
                f'<p><b id="status">{escape(now["status_text"])}</b> <span id="message">{escape(now["message"])}</span></p>',
                f'<p><progress id="bar" max="{now["max_steps"] or 1}" value="{now["step"]}"></progress> <span id="steps"></span></p>',
                f'<p><a id="run-link" href="{now["run"] or "#"}"{"" if now["run"] else " hidden"}>{say(lang, "open_run")}</a></p>',
                '<svg width="600" height="200" viewBox="0 0 600 200" role="img" aria-label="loss">'
                '<polyline id="loss" fill="none" stroke="#1565c0" stroke-width="2" points=""/>'
                '<polyline id="metric" fill="none" stroke="#2e7d32" stroke-width="2" points=""/></svg>',
                f'<p class="muted"><span style="color:#1565c0">■</span> {say(lang, "loss")} '
                f'<span style="color:#2e7d32">■</span> {say(lang, "validation")} <span id="metric-name"></span></p>',
                f'<p>{say(lang, "command")}</p><code class="cmd">{escape(job.command)}</code>',
                "".join(buttons), f'<h2>{say(lang, "log")}</h2><pre id="log">{escape(chr(10).join(now["log"]))}</pre></div>',
                f"<script>{pages.JOB_SCRIPT}</script>"]
        return reply(request, relative(job.output), "".join(body))

    @app.get("/jobs/{job_id}/state")
    async def job_state(request: Request, job_id: str):
        jobs.tick()
        return JSONResponse(state(language(request), jobs.get(job_id)))

    @app.get("/jobs/{job_id}/events")
    async def job_events(request: Request, job_id: str):
        lang = language(request)
        jobs.get(job_id)  # 404 before the stream starts

        async def stream():
            sent = None
            while True:
                try:
                    jobs.tick()
                    now = state(lang, jobs.get(job_id))
                except LookupError:
                    return
                data = json.dumps(now, ensure_ascii=False)
                if data != sent:
                    yield f"data: {data}\n\n"
                    sent = data
                if now["done"] or await request.is_disconnected():
                    return
                await asyncio.sleep(1)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.post("/jobs/{job_id}/stop")
    async def stop_job(job_id: str):
        jobs.stop(job_id)
        return RedirectResponse(f"/jobs/{job_id}", status_code=303)

    @app.post("/jobs/{job_id}/resume")
    async def resume_job(job_id: str):
        return RedirectResponse(f"/jobs/{jobs.resume(job_id).id}", status_code=303)

    app.state.jobs = jobs
    return app


def bound_to(app: FastAPI, host: str) -> FastAPI:
    """Bound to loopback, the interface answers only to loopback names, so that a page of another
    site cannot reach it through a name of its own that resolves to 127.0.0.1 (DNS rebinding)."""
    if host in LOOPBACK:
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        app.add_middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost", "::1", "[::1]"])
    return app


def run_ui(root: str | Path, *, host: str = "127.0.0.1", port: int = 8765, api_key: str | None = None,
           max_upload_mb: int = DEFAULT_UPLOAD_MB) -> None:
    """Serve the interface until stopped; another interface than loopback only with ``api_key``."""
    import uvicorn

    if host not in LOOPBACK and not api_key:
        raise EcomsftError(f"binding {host} needs an API key (--api-key-file or ECOMSFT_API_KEY): the interface "
                           "trains and reads every run under its root")
    root = Path(root)
    if not root.exists() and root.parent.is_dir():
        root.mkdir()  # the first run goes there
    if not root.is_dir():
        raise EcomsftError("not a folder", where=str(root))
    # An upload of hundreds of MB takes longer than the API server's 15 s for a whole request.
    configure(read_timeout_s=600, max_connections=64)
    uvicorn.run(bound_to(create_ui(root, api_key, max_upload_mb), host), host=host, port=port,
                http="ecomsft.inference.protocol:GuardedH11Protocol")
