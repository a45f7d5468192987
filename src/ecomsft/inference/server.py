"""The HTTP API: FastAPI routes over a finished run, with micro-batching, limits, a key and metrics.

The run's task names its after-training package (``inference/registry.py``), whose reader
loads the run and whose routes module adds the task's route: ``POST /v1/predict`` (classifiers), ``POST /v1/rank`` (relevance and retrieval),
``POST /v1/extract`` (extraction) or ``POST /v1/generate`` (generation; ``stream`` for server-sent
events). This module keeps what every run shares: ``GET /health`` (liveness) and ``GET /ready``
(readiness; neither needs the key), ``GET /v1/info``, ``GET /metrics`` (Prometheus text), the key,
the limits, request ids and the error answers. Every client mistake is a JSON ``{"error": ...}``
with 401, 413 or 422, an overload a 503 with ``Retry-After``; every response carries
``X-Request-ID`` (the client's, when it sends one). The OpenAPI document states the real limits of
this server.
"""

import json
import logging
import os
import re
import secrets
import time
import uuid
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..run_folder import task_of
from .http import ERRORS, NON_BLANK, ClientError, Server, ServeSettings
from .microbatch import MicroBatcher, Overloaded, WorkerDied
from .registry import inference_for, part

log = logging.getLogger("ecomsft")

API_KEY_ENV = "ECOMSFT_API_KEY"
SETTINGS_ENV = "ECOMSFT_SERVE_SETTINGS"
__all__ = ["ServeSettings", "create_app", "app_from_env"]


def _friendly(error: dict, settings: ServeSettings) -> tuple[int, str]:
    """A validation error as the status and one line a client can act on."""
    loc = [str(p) for p in error.get("loc", ()) if p != "body"]
    where = loc[0] + "".join(f"[{p}]" for p in loc[1:]) if loc else "body"
    kind, value = error.get("type", ""), error.get("input")
    if kind == "too_long" and len(loc) == 1:
        # Too many texts is a 413 only when the texts are otherwise valid: pydantic stops at the
        # count, and a list that is also malformed is the 422 the schema says.
        bad = next((i for i, v in enumerate(value) if not isinstance(v, str) or not re.search(NON_BLANK, v)
                    or len(v) > settings.max_chars), None)
        if bad is not None:
            return 422, f"invalid request at {loc[0]}[{bad}]: a non-blank text of at most {settings.max_chars} characters"
        return 413, f"{len(value)} {loc[0]} is above the limit of {settings.max_texts} per request (max_texts)"
    if kind == "too_short" and len(loc) == 1:
        return 422, f"{loc[0]} is empty: send at least one"
    if kind == "less_than_equal" and loc == ["max_new_tokens"]:
        return 422, f"max_new_tokens {value} is above this server's limit of {settings.max_new_tokens} (max_new_tokens)"
    if kind == "string_too_long":
        return 422, f"{where} has {len(value)} characters, above the limit of {settings.max_chars} (max_chars)"
    if kind in ("string_too_short", "string_pattern_mismatch"):
        return 422, f"{where} is empty"
    return 422, f"invalid request at {where}: {error.get('msg', 'malformed')}"


class BodyLimit:
    """Refuses bodies above the limit, whether they announce their length or arrive in chunks."""

    def __init__(self, app, limit: int, on_refuse=None):
        self.app, self.limit, self.on_refuse = app, limit, on_refuse

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await self._refuse(send)
        received = 0
        too_large = False

        async def counting_receive():
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    # Tell the app the client went away; the 413 below is the answer.
                    too_large = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            if not too_large:
                await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not too_large:
                raise
        if too_large:
            await self._refuse(send)

    async def _refuse(self, send):
        if self.on_refuse is not None:
            self.on_refuse()
        body = json.dumps({"error": f"request body is above the limit of {self.limit} bytes (max_body_bytes)"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"x-request-id", uuid.uuid4().hex.encode())]})
        await send({"type": "http.response.body", "body": body})


def create_app(settings: ServeSettings, predictor=None) -> FastAPI:
    """The application for one run; ``predictor`` (the run loaded by its inference class) may be
    given (tests), else it is loaded at start-up. Only the routes of the run's task are served and
    documented."""

    registry = CollectorRegistry()
    requests = Counter("ecomsft_requests_total", "HTTP requests", ["route", "status"], registry=registry)
    errors = Counter("ecomsft_errors_total", "Requests answered with an error", ["route", "status"], registry=registry)
    latency = Histogram("ecomsft_request_seconds", "Request latency", ["route"], registry=registry,
                        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
    batch_sizes = Histogram("ecomsft_batch_size", "Texts per model batch", registry=registry,
                            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
    state: dict = {"ready": False}
    api_key = settings.api_key or os.environ.get(API_KEY_ENV) or None
    # The run's inference class; its functions are called with the loaded model (or the stand-in
    # a test gives) as self, so that a wrapper needs only what they use.
    reader = inference_for(settings.run)
    route = reader.route

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        model = predictor or reader.load(settings.run, batch_size=settings.max_batch_size, backend=settings.backend,
                                       blend=settings.blend)
        state["predictor"] = model
        if not reader.batched:
            state["ready"] = True
            yield
            state["ready"] = False
            return
        state["batcher"] = MicroBatcher(lambda items: reader.predict_batch(model, items), settings.max_batch_size, settings.max_wait_ms,
                                        settings.microbatch, on_batch=batch_sizes.observe, max_queue=settings.max_queue)
        await state["batcher"].start()
        state["ready"] = True
        yield
        state["ready"] = False
        await state["batcher"].stop()

    from .protocol import configure

    configure(settings.read_timeout_s, settings.max_connections)  # this process's connections
    # With a key, the API description is behind it too (unless --public-docs): it names every route.
    open_docs = api_key is None or settings.public_docs
    app = FastAPI(title="ecomsft", version="1", lifespan=lifespan, **({} if open_docs else
                  {"docs_url": None, "redoc_url": None, "openapi_url": None}))
    app.state.ecomsft = state  # the loaded model and its batcher, for operators and tests

    def count(route: str, status: int, seconds: float | None = None) -> None:
        if seconds is not None:
            latency.labels(route).observe(seconds)
        requests.labels(route, str(status)).inc()
        if status >= 400:
            errors.labels(route, str(status)).inc()

    @app.middleware("http")
    async def observe(request: Request, call_next):
        started = time.perf_counter()
        given = request.headers.get("x-request-id", "")
        request_id = given if 0 < len(given) <= 128 and given.isprintable() and given.isascii() else uuid.uuid4().hex
        route = request.url.path if request.url.path in routes else "other"
        try:
            response = await call_next(request)
        except Exception:  # an error of ours: counted, logged with the request id, answered in one line
            log.exception("request %s to %s failed", request_id, route)
            response = JSONResponse({"error": f"internal error (request id {request_id})"}, status_code=500)
        count(route, response.status_code, time.perf_counter() - started)
        response.headers["X-Request-ID"] = request_id
        return response

    @app.exception_handler(ClientError)
    async def client_error(request: Request, err: ClientError):
        headers = {"Retry-After": "1"} if err.status == 503 else None
        return JSONResponse({"error": err.message}, status_code=err.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, err: RequestValidationError):
        content_type = request.headers.get("content-type", "")
        if request.method == "POST" and "json" not in content_type:
            return JSONResponse({"error": f"send a JSON body with 'Content-Type: application/json' (got '{content_type or 'none'}')"},
                                status_code=422)
        status, message = _friendly(err.errors()[0] if err.errors() else {}, settings)
        return JSONResponse({"error": message}, status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException):
        """Every status FastAPI answers by itself (404, 405, a body that is not JSON or UTF-8, or
        nested too deep to parse) in the one shape: ``{"error": ...}``."""
        if err.status_code == 404:  # another task's route (every task's is under /v1/): what this run serves
            message = reader.serves if request.url.path.startswith("/v1/") else f"no route {request.method} {request.url.path}"
        elif err.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        else:
            message = str(err.detail)
        return JSONResponse({"error": message}, status_code=err.status_code, headers=err.headers)

    def require_key(request: Request) -> None:
        if api_key is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        # Compared as bytes in constant time (compare_digest refuses non-ASCII str).
        if scheme.lower() != "bearer" or not secrets.compare_digest(token.strip().encode(), api_key.encode()):
            raise ClientError(401, "missing or wrong API key: send 'Authorization: Bearer <key>'")

    guarded = [Depends(require_key)]

    async def scored(items: list) -> object:
        batcher = state["batcher"]
        try:
            return await batcher.submit(items)
        except Overloaded as err:
            raise ClientError(503, f"overloaded: {err}; retry after a second") from None
        except WorkerDied as err:
            raise ClientError(503, f"not ready: the model worker stopped ({err})") from None

    @app.get("/health")
    async def health() -> dict:
        """Liveness: the process answers (no API key needed)."""
        return {"status": "ok"}

    @app.get("/ready", responses={503: ERRORS[503]})
    async def ready():
        """Readiness: the model is loaded and its worker alive (no API key needed)."""
        batcher = state.get("batcher")
        if not state["ready"] or (reader.batched and (batcher is None or not batcher.healthy)):
            return JSONResponse({"ready": False}, status_code=503)
        return {"ready": True}

    @app.get("/v1/info", dependencies=guarded, responses={401: ERRORS[401]})
    async def info() -> dict:
        model = state["predictor"]
        metrics = model.metrics
        test = {k: v for k, v in reader.test_metrics(model).items() if isinstance(v, float)}
        limits = ("max_texts", "max_chars", "max_body_bytes", "max_queue", *reader.served_limits)
        return {**reader.describe(model), "base_model": (metrics.get("model") or {}).get("name"), "test_metrics": test,
                "limits": {name: getattr(settings, name) for name in limits}}

    @app.get("/metrics", dependencies=guarded, response_class=PlainTextResponse, responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text format"},
        401: ERRORS[401]})
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    if not open_docs:
        from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html

        @app.get("/openapi.json", dependencies=guarded, include_in_schema=False)
        async def openapi() -> JSONResponse:
            return JSONResponse(app.openapi())

        @app.get("/docs", dependencies=guarded, include_in_schema=False)
        async def docs():
            return get_swagger_ui_html(openapi_url="/openapi.json", title="ecomsft")

        @app.get("/redoc", dependencies=guarded, include_in_schema=False)
        async def redoc():
            return get_redoc_html(openapi_url="/openapi.json", title="ecomsft")

    routes_module = part(task_of(settings.run), "routes")  # none: the shared routes only
    if routes_module is not None:
        app.include_router(routes_module.router(Server(settings=settings, state=state, guarded=guarded, scored=scored)))
    routes = {"/health", "/ready", "/v1/info", "/metrics", route}
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes, on_refuse=lambda: count(route, 413))
    return app


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` with several workers: settings come from the environment."""
    return create_app(ServeSettings.model_validate_json(os.environ[SETTINGS_ENV]))
