"""The server under load and bad input: batches split to max_batch_size, a bounded queue that
answers 503 + Retry-After, a dead worker turns /ready 503, errors counted in /metrics, request ids,
and schemathesis (a real client) against the served OpenAPI of a classification, a relevance and a
generation run
on loopback."""

import asyncio
import socket
import threading
import time
from contextlib import contextmanager

import httpx
import numpy as np
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from ecomsft.readers.classification.reader import Predictor
from ecomsft.inference.server import ServeSettings, create_app

from .conftest import make_pairs, tiny_overrides


@pytest.fixture(scope="module")
def predictor(tiny_run):
    return Predictor(tiny_run.run_dir)


class Recording:
    """A predictor that records its batch sizes (and can be slow)."""

    def __init__(self, inner, delay: float = 0.0):
        self.inner, self.labels, self.metrics, self.delay, self.sizes = inner, inner.labels, {}, delay, []

    def predict_proba(self, texts, pairs=None):
        self.sizes.append(len(texts))
        time.sleep(self.delay)
        return self.inner.predict_proba(texts, pairs)

    def decide(self, probs):
        return self.inner.decide(probs)


def test_a_request_larger_than_max_batch_size_is_split(tiny_run, predictor):
    for microbatch in (True, False):
        model = Recording(predictor)
        app = create_app(ServeSettings(run=str(tiny_run.run_dir), max_batch_size=8, max_texts=64, microbatch=microbatch),
                         predictor=model)
        texts = [f"good product {i}" for i in range(29)]
        with TestClient(app) as client:
            body = client.post("/v1/predict", json={"texts": texts}).json()
        assert max(model.sizes) <= 8 and sum(model.sizes) == 29
        expected = predictor.predict(texts)
        assert [p["label"] for p in body["predictions"]] == [e["label"] for e in expected]


def test_a_full_queue_answers_503_with_retry_after_and_recovers(tiny_run, predictor):
    model = Recording(predictor, delay=0.3)
    app = create_app(ServeSettings(run=str(tiny_run.run_dir), max_batch_size=4, max_queue=8, max_wait_ms=1), predictor=model)

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as client:
                replies = await asyncio.gather(*[client.post("/v1/predict", json={"texts": ["good", "bad"]}) for _ in range(40)])
                after = await client.post("/v1/predict", json={"texts": ["good"]})
                metrics = (await client.get("/metrics")).text
        return replies, after, metrics

    replies, after, metrics = asyncio.run(scenario())
    codes = [r.status_code for r in replies]
    assert set(codes) == {200, 503} and codes.count(200) >= 4
    refused = next(r for r in replies if r.status_code == 503)
    assert refused.headers["retry-after"] == "1" and "max_queue" in refused.json()["error"]
    assert after.status_code == 200
    assert 'ecomsft_errors_total{route="/v1/predict",status="503"}' in metrics


def test_a_dead_worker_turns_ready_503_and_is_logged(tiny_run, predictor, caplog):
    app = create_app(ServeSettings(run=str(tiny_run.run_dir)), predictor=predictor)
    with TestClient(app) as client:
        assert client.get("/ready").status_code == 200
        batcher = app.state.ecomsft["batcher"]

        async def crash():  # as a bug in the worker would: it ends with an exception
            async def boom():
                raise RuntimeError("worker bug")
            batcher.worker.cancel()
            task = asyncio.ensure_future(boom())
            task.add_done_callback(batcher._worker_ended)
            await asyncio.sleep(0)

        with caplog.at_level("ERROR", logger="ecomsft"):
            client.portal.call(crash)
            time.sleep(0.1)
        assert client.get("/ready").status_code == 503
        answer = client.post("/v1/predict", json={"texts": ["good"]})
        assert answer.status_code == 503 and "worker stopped" in answer.json()["error"]
    assert "batching worker died (RuntimeError: worker bug)" in caplog.text


def test_errors_are_counted_and_requests_carry_an_id(tiny_run, predictor):
    class Broken(Recording):
        def decide(self, probs):
            raise RuntimeError("a bug of ours")

    app = create_app(ServeSettings(run=str(tiny_run.run_dir), max_body_bytes=100), predictor=Broken(predictor))
    with TestClient(app, raise_server_exceptions=False) as client:
        failed = client.post("/v1/predict", json={"texts": ["good"]}, headers={"X-Request-ID": "abc-123"})
        assert failed.status_code == 500 and failed.headers["x-request-id"] == "abc-123"
        assert "abc-123" in failed.json()["error"]
        big = client.post("/v1/predict", content=b'{"texts": ["' + b"x" * 200 + b'"]}', headers={"content-type": "application/json"})
        assert big.status_code == 413 and big.headers["x-request-id"]
        fresh = client.get("/health")
        assert len(fresh.headers["x-request-id"]) == 32
        metrics = client.get("/metrics").text
    assert 'ecomsft_errors_total{route="/v1/predict",status="500"} 1.0' in metrics
    assert 'ecomsft_errors_total{route="/v1/predict",status="413"} 1.0' in metrics


def test_the_key_is_compared_as_bytes_and_never_in_the_workers_settings(tiny_run, predictor):
    settings_ = ServeSettings(run=str(tiny_run.run_dir), api_key="s3cret")
    assert "s3cret" not in settings_.model_dump_json()
    with TestClient(create_app(settings_, predictor=predictor)) as client:
        odd = client.get("/v1/info", headers={"Authorization": "Bearer pässwörd".encode()})
        assert odd.status_code == 401


@contextmanager
def serving(app):
    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@pytest.fixture(scope="module")
def relevance_run(tiny_model_dir, tmp_path_factory):
    from ecomsft.config import build_config
    from ecomsft.runner import run

    folder = tmp_path_factory.mktemp("relevance-served")
    make_pairs(80).to_csv(folder / "pairs.csv", index=False)
    return run(build_config(None, tiny_overrides(tiny_model_dir, folder / "pairs.csv", folder / "run",
                                                 **{"task.type": "relevance", "training.epochs": 1, "baseline": False})))


@pytest.fixture(scope="module")
def generation_run(tmp_path_factory):
    import pandas as pd

    from ecomsft.config import build_config
    from ecomsft.runner import run

    from .test_generation import decoder, overrides, review_rows

    folder = tmp_path_factory.mktemp("generation-served")
    pd.DataFrame(review_rows(40)).to_csv(folder / "rows.csv", index=False)
    return run(build_config(None, overrides(decoder(folder / "decoder"), folder / "rows.csv", folder / "run", **{
        "training.max_steps": 2, "baseline": False, "task.eval_samples": 2})))


@pytest.fixture(scope="module")
def extraction_run(tiny_model_dir, tmp_path_factory):
    from ecomsft.config import build_config
    from ecomsft.runner import run

    from .test_extraction import conll_titles

    folder = tmp_path_factory.mktemp("extraction-served")
    (folder / "train.txt").write_text(conll_titles(60), encoding="utf-8")
    return run(build_config(None, tiny_overrides(tiny_model_dir, folder / "train.txt", folder / "run", **{
        "task.type": "extraction", "training.max_steps": 2, "model.max_length": 16, "task.stride": 4, "baseline": False})))


@pytest.fixture(scope="module", params=["classification", "relevance", "generation", "extraction"])
def served(request, tiny_run, relevance_run, generation_run, extraction_run):
    run = {"classification": tiny_run, "relevance": relevance_run, "generation": generation_run,
           "extraction": extraction_run}[request.param]
    app = create_app(ServeSettings(run=str(run.run_dir), max_texts=8, max_chars=200, max_body_bytes=20_000,
                                   max_new_tokens=16))
    with serving(app) as url:
        yield request.param, url


CASES_PER_ROUTE = 25


def test_schemathesis_finds_no_5xx_and_a_truthful_schema(served):
    """Every documented route, a bounded number of generated cases each (valid and invalid), with
    schemathesis's checks: no 5xx, responses match the schema (status, content type, headers, body),
    schema-valid requests accepted, invalid ones refused."""
    from hypothesis import given

    task, url = served
    api = schemathesis.openapi.from_url(f"{url}/openapi.json")
    tried = {}
    for result in api.get_all_operations():
        operation = result.ok()
        count = [0]

        @given(case=operation.as_strategy())
        @settings(max_examples=CASES_PER_ROUTE, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case):
            count[0] += 1
            case.call_and_validate()

        check()
        tried[operation.label] = count[0]
    expected = {"GET /health", "GET /ready", "GET /v1/info", "GET /metrics",
                {"classification": "POST /v1/predict", "relevance": "POST /v1/rank", "generation": "POST /v1/generate",
                 "extraction": "POST /v1/extract"}[task]}
    assert set(tried) == expected and all(n >= 1 for n in tried.values()), tried
    print(f"schemathesis {task}: {sum(tried.values())} cases over {len(tried)} routes, 0 failures")


def test_the_document_states_the_real_routes_and_limits(served):
    task, url = served
    document = httpx.get(f"{url}/openapi.json").json()
    paths = set(document["paths"])
    assert ("/v1/predict" in paths) == (task == "classification") and ("/v1/rank" in paths) == (task == "relevance")
    assert ("/v1/generate" in paths) == (task == "generation") and ("/v1/extract" in paths) == (task == "extraction")
    assert "text/plain" in document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    if task == "generation":
        body = document["components"]["schemas"]["GenerateRequest"]["properties"]
        assert body["prompt"]["maxLength"] == 200 and body["max_new_tokens"]["anyOf"][0]["maximum"] == 16
        assert "text/event-stream" in document["paths"]["/v1/generate"]["post"]["responses"]["200"]["content"]
        return
    body = document["components"]["schemas"]["RankRequest" if task == "relevance" else "PredictRequest"]
    field = body["properties"]["candidates" if task == "relevance" else "texts"]
    assert field["minItems"] == 1 and field["maxItems"] == 8
    assert field["items"]["minLength"] == 1 and field["items"]["maxLength"] == 200


def test_a_flood_far_above_max_queue_gets_only_200_or_503_and_memory_stays_bounded(tiny_run, predictor):
    import psutil

    model = Recording(predictor, delay=0.05)
    app = create_app(ServeSettings(run=str(tiny_run.run_dir), max_batch_size=16, max_queue=32), predictor=model)
    process = psutil.Process()
    with serving(app) as url:
        async def flood(n: int):
            limits = httpx.Limits(max_connections=64)
            async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
                return await asyncio.gather(*[client.post("/v1/predict", json={"texts": ["good product", "bad"] * 4})
                                              for _ in range(n)])

        before = process.memory_info().rss
        peaks, answered = [], {}
        for _ in range(3):
            replies = asyncio.run(flood(300))
            peaks.append(process.memory_info().rss)
            codes = [r.status_code for r in replies]
            for code in codes:
                answered[code] = answered.get(code, 0) + 1
            assert set(codes) <= {200, 503} and 200 in codes and 503 in codes
        assert httpx.get(f"{url}/ready").status_code == 200
        assert httpx.post(f"{url}/v1/predict", json={"texts": ["good"]}).status_code == 200
    grown = (peaks[-1] - peaks[0]) / 2**20
    print(f"flood: 900 requests of 8 texts, max_queue 32: {answered}; RSS {before / 2**20:.0f} MiB before, "
          f"after each flood {[round(p / 2**20) for p in peaks]} MiB")
    assert grown < 50, f"memory grew {grown:.0f} MiB between floods (from {before / 2**20:.0f} MiB)"
    assert np.max(model.sizes) <= 16
