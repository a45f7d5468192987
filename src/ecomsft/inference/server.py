"""The HTTP API: FastAPI routes over a Predictor, with micro-batching, limits, a key and metrics.

Routes: ``POST /v1/predict`` (classifiers), ``POST /v1/rank`` (relevance and retrieval runs),
``POST /v1/extract`` (extraction) or ``POST /v1/generate`` (generation; ``stream`` for server-sent events),
``GET /health`` (liveness) and ``GET /ready`` (readiness; neither needs the key), ``GET /v1/info``,
``GET /metrics`` (Prometheus text). Every client mistake is a JSON ``{"error": ...}`` with 401, 413
or 422, an overload a 503 with ``Retry-After``; every response carries ``X-Request-ID`` (the
client's, when it sends one). The OpenAPI document states the real limits of this server.

(No ``from __future__ import annotations`` here: FastAPI reads the request models of the routes,
made per server with its limits, from the annotations at run time.)
"""

import asyncio
import json
import logging
import os
import re
import secrets
import threading
import time
import uuid
from contextlib import asynccontextmanager
from typing import Annotated, Literal

import numpy as np
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from pydantic import BaseModel, ConfigDict, Field

from .batching import MicroBatcher, Overloaded, WorkerDied
from .extractor import Extractor
from .generator import Generator
from .predictor import Predictor
from ..run_folder import task_of as run_task
from .ranker import Ranker

log = logging.getLogger("ecomsft")

API_KEY_ENV = "ECOMSFT_API_KEY"
SETTINGS_ENV = "ECOMSFT_SERVE_SETTINGS"


class ServeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run: str
    max_batch_size: int = Field(default=32, gt=0, description="texts per model batch; larger requests are split")
    max_wait_ms: float = Field(default=5.0, ge=0)
    microbatch: bool = True
    max_queue: int = Field(default=1024, gt=0, description="texts waiting for the model; beyond it 503 + Retry-After")
    max_texts: int = Field(default=64, gt=0, description="texts per request")
    max_chars: int = Field(default=2000, gt=0, description="characters per text")
    max_body_bytes: int = Field(default=1_000_000, gt=0)
    max_new_tokens: int = Field(default=256, gt=0, description="generation: the most new tokens a request may ask for")
    # Never passed on in the settings JSON of the workers: they read it from ECOMSFT_API_KEY.
    api_key: str | None = Field(default=None, exclude=True)
    backend: Literal["torch", "onnx", "onnx-int8"] = "torch"


class Prediction(BaseModel):
    label: str | list[str]
    probabilities: dict[str, float]


class PredictResponse(BaseModel):
    predictions: list[Prediction]


class RankedProduct(BaseModel):
    index: int = Field(description="the candidate's position in the request")
    product: str
    score: float


class RankResponse(BaseModel):
    ranking: list[RankedProduct] = Field(description="the candidates, most relevant first")


class Entity(BaseModel):
    start: int = Field(description="first character, an offset into the text as sent")
    end: int = Field(description="one past the last character")
    label: str
    text: str


class ExtractResponse(BaseModel):
    entities: list[list[Entity]] = Field(description="per text, its entities in order")


class GenerateResponse(BaseModel):
    text: str
    stopped: bool = Field(description="the model ended the answer itself (EOS) within max_new_tokens")
    new_tokens: int
    prompt_cut: bool = Field(description="the prompt was cut from its left to fit the model")


class ErrorResponse(BaseModel):
    error: str


# "Not only whitespace", spelt out: a bare \S means other characters to a client's JSON-Schema
# (ECMAScript) validator than to pydantic's (Rust) regex, which also counts U+0085 as whitespace;
# this class is ECMAScript's whitespace, read the same by both.
NON_BLANK = "[^\\t\\n\\x0b\\x0c\\r \\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff]"


def request_models(settings: ServeSettings) -> tuple[type[BaseModel], type[BaseModel]]:
    """The request bodies with this server's limits in their schema, so that the OpenAPI document
    says what is accepted: 1 to ``max_texts`` texts, each non-blank and at most ``max_chars``."""
    text = Annotated[str, Field(min_length=1, max_length=settings.max_chars, pattern=NON_BLANK,
                                description="a non-blank text")]

    class PredictRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")

        texts: list[text] = Field(min_length=1, max_length=settings.max_texts,
                                  description="texts to classify, answered in the same order")

    class RankRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")

        query: text = Field(description="the search query")
        candidates: list[text] = Field(min_length=1, max_length=settings.max_texts,
                                       description="product texts to order by relevance to the query")

    class GenerateRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")

        prompt: text = Field(description="the user turn; the run's chat template and system turn are applied")
        max_new_tokens: int | None = Field(default=None, gt=0, le=settings.max_new_tokens,
                                           description="None: the run's default")
        stream: bool = Field(default=False, description="server-sent events: {text} pieces, then {done, stopped, new_tokens}")
        do_sample: bool = False
        temperature: float = Field(default=1.0, ge=0.01, le=10)  # as the CLI: below, sampling overflows
        top_p: float = Field(default=1.0, gt=0, le=1)
        top_k: int = Field(default=50, ge=0, le=1000)

    return PredictRequest, RankRequest, GenerateRequest


ERRORS = {401: {"model": ErrorResponse, "description": "missing or wrong API key"},
          413: {"model": ErrorResponse, "description": "too many texts (max_texts) or too large a body (max_body_bytes)"},
          422: {"model": ErrorResponse, "description": "a request that does not match the schema"},
          503: {"model": ErrorResponse, "description": "overloaded (max_queue; see Retry-After) or not ready"}}


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


class ClientError(Exception):
    def __init__(self, status: int, message: str):
        self.status, self.message = status, message


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
    """The application for one run; ``predictor`` (a Predictor, or a Ranker for relevance and
    retrieval runs) may be given (tests), else it is loaded at start-up. Only the routes of the
    run's task are served and documented."""

    registry = CollectorRegistry()
    requests = Counter("ecomsft_requests_total", "HTTP requests", ["route", "status"], registry=registry)
    errors = Counter("ecomsft_errors_total", "Requests answered with an error", ["route", "status"], registry=registry)
    latency = Histogram("ecomsft_request_seconds", "Request latency", ["route"], registry=registry,
                        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
    batch_sizes = Histogram("ecomsft_batch_size", "Texts per model batch", registry=registry,
                            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
    state: dict = {"ready": False}
    api_key = settings.api_key or os.environ.get(API_KEY_ENV) or None
    kinds = {Extractor: "extraction", Ranker: "ranking", Generator: "generation"}
    if predictor is not None:
        task = next((name for cls, name in kinds.items() if isinstance(predictor, cls)), "classification")
    else:
        task = run_task(settings.run)
        task = task if task in ("classification", "extraction", "generation") else "ranking"
    ranking = task == "ranking"
    route = ROUTES[task]
    PredictRequest, RankRequest, GenerateRequest = request_models(settings)
    generating = {"waiting": 0, "lock": threading.Lock()}  # generation requests in flight (max_queue)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        model = predictor
        if model is None:
            model = (Ranker(settings.run, batch_size=settings.max_batch_size) if ranking else
                     Extractor(settings.run, batch_size=settings.max_batch_size, backend=settings.backend) if task == "extraction" else
                     Generator(settings.run) if task == "generation" else
                     Predictor(settings.run, batch_size=settings.max_batch_size, backend=settings.backend))
        state["predictor"] = model
        if task == "generation":  # one request at a time on the model (its own lock); no micro-batches
            state["ready"] = True
            yield
            state["ready"] = False
            return
        if ranking:
            def score(pairs):
                return model.score([q for q, _ in pairs], [p for _, p in pairs])
        elif task == "extraction":
            def score(texts):  # one list of spans per text, as a 1-D array the batcher can split and join
                found = np.empty(len(texts), dtype=object)
                found[:] = model.extract(texts)
                return found
        else:
            score = model.predict_proba
        state["batcher"] = MicroBatcher(score, settings.max_batch_size, settings.max_wait_ms, settings.microbatch,
                                        on_batch=batch_sizes.observe, max_queue=settings.max_queue)
        await state["batcher"].start()
        state["ready"] = True
        yield
        state["ready"] = False
        await state["batcher"].stop()

    app = FastAPI(title="ecomsft", version="1", lifespan=lifespan)
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

    @app.exception_handler(404)
    async def not_found(request: Request, err):
        serves = {"classification": "this run is a classifier: POST /v1/predict with {\"texts\": [...]}",
                  "ranking": "this run ranks products: POST /v1/rank with {\"query\": ..., \"candidates\": [...]}",
                  "extraction": "this run extracts attributes: POST /v1/extract with {\"texts\": [...]}",
                  "generation": "this run generates: POST /v1/generate with {\"prompt\": ...}"}
        task_route = request.url.path in ROUTES.values()
        message = serves[task] if task_route else f"no route {request.method} {request.url.path}"
        return JSONResponse({"error": message}, status_code=404)

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
        if not state["ready"] or (task != "generation" and (batcher is None or not batcher.healthy)):
            return JSONResponse({"ready": False}, status_code=503)
        return {"ready": True}

    @app.get("/v1/info", dependencies=guarded, responses={401: ERRORS[401]})
    async def info() -> dict:
        model = state["predictor"]
        metrics = model.metrics
        test = {k: v for k, v in (metrics.get("test") or {}).items() if isinstance(v, float)}
        if ranking:
            task, labels = metrics.get("task", model.kind), None
        elif isinstance(model, Extractor):
            task, labels = "extraction", model.labels
        elif isinstance(model, Generator):
            task, labels = "generation", metrics.get("labels")
        else:
            task = metrics.get("task", "multi_label_classification" if model.labels.multi_label else "classification")
            labels = model.labels.names
        return {
            "task": task,
            "labels": labels,
            "base_model": (metrics.get("model") or {}).get("name"),
            "test_metrics": test,
            "limits": {"max_texts": settings.max_texts, "max_chars": settings.max_chars,
                       "max_body_bytes": settings.max_body_bytes, "max_queue": settings.max_queue,
                       **({"max_new_tokens": settings.max_new_tokens} if task == "generation" else {})},
        }

    @app.get("/metrics", dependencies=guarded, response_class=PlainTextResponse, responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text format"},
        401: ERRORS[401]})
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    def admitted() -> None:
        """A generation request's place in the queue, or 503 when max_queue are in flight."""
        with generating["lock"]:
            if generating["waiting"] >= settings.max_queue:
                raise ClientError(503, f"overloaded: {settings.max_queue} generations in flight; retry after a second")
            generating["waiting"] += 1

    def leave() -> None:
        with generating["lock"]:
            generating["waiting"] -= 1

    if task == "generation":
        @app.post("/v1/generate", dependencies=guarded, response_model=GenerateResponse,
                  responses={200: {"content": {"text/event-stream": {"schema": SSE_EVENT}},
                                   "description": "JSON, or server-sent events when stream is true"},
                             **{k: ERRORS[k] for k in (401, 413, 422, 503)}})
        async def generate(body: GenerateRequest):
            model = state["predictor"]
            sampling = {"do_sample": body.do_sample, "temperature": body.temperature, "top_p": body.top_p, "top_k": body.top_k}
            admitted()
            if not body.stream:
                try:
                    [answer] = await asyncio.to_thread(model.generate, [body.prompt], body.max_new_tokens, **sampling)
                finally:
                    leave()
                return GenerateResponse(**answer)

            def events():
                try:
                    for event in model.stream(body.prompt, body.max_new_tokens, **sampling):
                        yield f"data: {json.dumps(event, ensure_ascii=False)}\n\n"
                except Exception:  # the status is sent already: the stream ends with an error event
                    log.exception("generation stream failed")
                    yield f"data: {json.dumps({'error': 'internal error while generating'})}\n\n"
                finally:
                    leave()

            return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
    elif task == "extraction":
        @app.post("/v1/extract", dependencies=guarded, response_model=ExtractResponse,
                  responses={k: ERRORS[k] for k in (401, 413, 422, 503)})
        async def extract(body: PredictRequest) -> ExtractResponse:
            found = await scored(body.texts)
            return ExtractResponse(entities=[[Entity(**span) for span in spans] for spans in found])
    elif not ranking:
        @app.post("/v1/predict", dependencies=guarded, response_model=PredictResponse,
                  responses={k: ERRORS[k] for k in (401, 413, 422, 503)})
        async def predict(body: PredictRequest) -> PredictResponse:
            model = state["predictor"]
            probs = await scored(body.texts)
            labels = model.decide(probs)
            return PredictResponse(predictions=[
                Prediction(label=label, probabilities=dict(zip(model.labels.names, map(float, row))))
                for label, row in zip(labels, probs)
            ])
    else:
        @app.post("/v1/rank", dependencies=guarded, response_model=RankResponse,
                  responses={k: ERRORS[k] for k in (401, 413, 422, 503)})
        async def rank(body: RankRequest) -> RankResponse:
            candidates = body.candidates
            scores = await scored([(body.query, c) for c in candidates])
            order = sorted(range(len(candidates)), key=lambda i: -float(scores[i]))
            return RankResponse(ranking=[RankedProduct(index=i, product=candidates[i], score=float(scores[i])) for i in order])

    routes = {"/health", "/ready", "/v1/info", "/metrics", route}
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes, on_refuse=lambda: count(route, 413))
    return app


# One server-sent event of /v1/generate (as clients and schemathesis read them: its data line).
SSE_EVENT = {"type": "object", "required": ["data"], "properties": {
    "data": {"type": "string", "description": 'JSON: {"text": piece} events, then {"done": true, "stopped", "new_tokens"}'},
    "event": {"type": "string"}}}
ROUTES = {"classification": "/v1/predict", "ranking": "/v1/rank", "extraction": "/v1/extract", "generation": "/v1/generate"}


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` with several workers: settings come from the environment."""
    return create_app(ServeSettings.model_validate_json(os.environ[SETTINGS_ENV]))
