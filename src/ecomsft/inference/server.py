"""The HTTP API: FastAPI routes over a Predictor, with micro-batching, limits, a key and metrics.

Routes: ``POST /v1/predict`` (classifiers), ``POST /v1/rank`` (relevance and retrieval runs),
``GET /health`` (liveness, never needs the key), ``GET /ready``,
``GET /v1/info``, ``GET /metrics`` (Prometheus text). Every client mistake is a JSON
``{"error": ...}`` with 401, 413 or 422, never a 500.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from contextlib import asynccontextmanager
from typing import Literal

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from pydantic import BaseModel, ConfigDict, Field

from .batching import MicroBatcher
from .predictor import Predictor
from .ranker import Ranker, run_task

API_KEY_ENV = "ECOMSFT_API_KEY"
SETTINGS_ENV = "ECOMSFT_SERVE_SETTINGS"


class ServeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run: str
    max_batch_size: int = Field(default=32, gt=0)
    max_wait_ms: float = Field(default=5.0, ge=0)
    microbatch: bool = True
    max_texts: int = Field(default=64, gt=0, description="texts per request")
    max_chars: int = Field(default=2000, gt=0, description="characters per text")
    max_body_bytes: int = Field(default=1_000_000, gt=0)
    api_key: str | None = None
    backend: Literal["torch", "onnx", "onnx-int8"] = "torch"


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    texts: list[str] = Field(description="texts to classify, answered in the same order")


class Prediction(BaseModel):
    label: str | list[str]
    probabilities: dict[str, float]


class PredictResponse(BaseModel):
    predictions: list[Prediction]


class RankRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(description="the search query")
    candidates: list[str] = Field(description="product texts to order by relevance to the query")


class RankedProduct(BaseModel):
    index: int = Field(description="the candidate's position in the request")
    product: str
    score: float


class RankResponse(BaseModel):
    ranking: list[RankedProduct] = Field(description="the candidates, most relevant first")


class ClientError(Exception):
    def __init__(self, status: int, message: str):
        self.status, self.message = status, message


class BodyLimit:
    """Refuses bodies above the limit, whether they announce their length or arrive in chunks."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

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
        body = json.dumps({"error": f"request body is above the limit of {self.limit} bytes (max_body_bytes)"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def create_app(settings: ServeSettings, predictor=None) -> FastAPI:
    """The application for one run; ``predictor`` (a Predictor, or a Ranker for relevance and
    retrieval runs) may be given (tests), else it is loaded at start-up."""

    registry = CollectorRegistry()
    requests = Counter("ecomsft_requests_total", "HTTP requests", ["route", "status"], registry=registry)
    errors = Counter("ecomsft_errors_total", "Requests answered with an error", ["route", "status"], registry=registry)
    latency = Histogram("ecomsft_request_seconds", "Request latency", ["route"], registry=registry,
                        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
    batch_sizes = Histogram("ecomsft_batch_size", "Texts per model batch", registry=registry,
                            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
    state: dict = {"ready": False}
    api_key = settings.api_key or os.environ.get(API_KEY_ENV) or None

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        model = predictor
        if model is None:
            ranking = run_task(settings.run) != "classification"
            model = (Ranker(settings.run, batch_size=settings.max_batch_size) if ranking else
                     Predictor(settings.run, batch_size=settings.max_batch_size, backend=settings.backend))
        state["predictor"] = model
        state["ranking"] = isinstance(model, Ranker)
        score = (lambda pairs: model.score([q for q, _ in pairs], [p for _, p in pairs])) if state["ranking"] else model.predict_proba
        state["batcher"] = MicroBatcher(
            score, settings.max_batch_size, settings.max_wait_ms, settings.microbatch, on_batch=batch_sizes.observe,
        )
        await state["batcher"].start()
        state["ready"] = True
        yield
        state["ready"] = False
        await state["batcher"].stop()

    app = FastAPI(title="ecomsft", version="1", lifespan=lifespan)

    @app.middleware("http")
    async def observe(request: Request, call_next):
        started = time.perf_counter()
        response = await call_next(request)
        route = request.url.path if request.url.path in ROUTES else "other"
        latency.labels(route).observe(time.perf_counter() - started)
        requests.labels(route, str(response.status_code)).inc()
        if response.status_code >= 400:
            errors.labels(route, str(response.status_code)).inc()
        return response

    @app.exception_handler(ClientError)
    async def client_error(request: Request, err: ClientError):
        return JSONResponse({"error": err.message}, status_code=err.status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, err: RequestValidationError):
        content_type = request.headers.get("content-type", "")
        if request.method == "POST" and "json" not in content_type:
            return JSONResponse({"error": f"send a JSON body with 'Content-Type: application/json' (got '{content_type or 'none'}')"},
                                status_code=422)
        first = err.errors()[0] if err.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
        return JSONResponse({"error": f"invalid request at {where}: {first.get('msg', 'malformed')}"}, status_code=422)

    def require_key(request: Request) -> None:
        if api_key is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(token.strip(), api_key):
            raise ClientError(401, "missing or wrong API key: send 'Authorization: Bearer <key>'")

    guarded = [Depends(require_key)]

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}

    @app.get("/ready", dependencies=guarded)
    async def ready():
        if not state["ready"]:
            return JSONResponse({"ready": False}, status_code=503)
        return {"ready": True}

    @app.get("/v1/info", dependencies=guarded)
    async def info() -> dict:
        model = state["predictor"]
        metrics = model.metrics
        test = {k: v for k, v in (metrics.get("test") or {}).items() if isinstance(v, float)}
        if state["ranking"]:
            task, labels = metrics.get("task", model.kind), None
        else:
            task = metrics.get("task", "multi_label_classification" if model.labels.multi_label else "classification")
            labels = model.labels.names
        return {
            "task": task,
            "labels": labels,
            "base_model": (metrics.get("model") or {}).get("name"),
            "test_metrics": test,
            "limits": {"max_texts": settings.max_texts, "max_chars": settings.max_chars,
                       "max_body_bytes": settings.max_body_bytes},
        }

    @app.get("/metrics", dependencies=guarded)
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/v1/predict", dependencies=guarded, response_model=PredictResponse)
    async def predict(body: PredictRequest) -> PredictResponse:
        if state["ranking"]:
            raise ClientError(422, "this run ranks products: POST /v1/rank with {\"query\": ..., \"candidates\": [...]}")
        texts = body.texts
        if not texts:
            raise ClientError(422, "texts is empty: send at least one text")
        if len(texts) > settings.max_texts:
            raise ClientError(413, f"{len(texts)} texts is above the limit of {settings.max_texts} per request (max_texts)")
        for i, text in enumerate(texts):
            if len(text) > settings.max_chars:
                raise ClientError(422, f"texts[{i}] has {len(text)} characters, above the limit of {settings.max_chars} (max_chars)")
            if not text.strip():
                raise ClientError(422, f"texts[{i}] is empty")
        model = state["predictor"]
        probs = await state["batcher"].submit(texts)
        labels = model.decide(probs)
        return PredictResponse(predictions=[
            Prediction(label=label, probabilities=dict(zip(model.labels.names, map(float, row))))
            for label, row in zip(labels, probs)
        ])

    @app.post("/v1/rank", dependencies=guarded, response_model=RankResponse)
    async def rank(body: RankRequest) -> RankResponse:
        if not state["ranking"]:
            raise ClientError(422, "this run is a classifier: POST /v1/predict with {\"texts\": [...]}")
        candidates = body.candidates
        if not body.query.strip():
            raise ClientError(422, "query is empty")
        if not candidates:
            raise ClientError(422, "candidates is empty: send at least one product")
        if len(candidates) > settings.max_texts:
            raise ClientError(413, f"{len(candidates)} candidates is above the limit of {settings.max_texts} per request (max_texts)")
        for i, text in enumerate([body.query, *candidates]):
            where = "query" if i == 0 else f"candidates[{i - 1}]"
            if len(text) > settings.max_chars:
                raise ClientError(422, f"{where} has {len(text)} characters, above the limit of {settings.max_chars} (max_chars)")
            if i and not text.strip():
                raise ClientError(422, f"{where} is empty")
        scores = await state["batcher"].submit([(body.query, c) for c in candidates])
        order = sorted(range(len(candidates)), key=lambda i: -float(scores[i]))
        return RankResponse(ranking=[RankedProduct(index=i, product=candidates[i], score=float(scores[i])) for i in order])

    ROUTES = {"/health", "/ready", "/v1/info", "/metrics", "/v1/predict", "/v1/rank"}
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    return app


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` with several workers: settings come from the environment."""
    return create_app(ServeSettings.model_validate_json(os.environ[SETTINGS_ENV]))
