"""The HTTP API on a tiny run: routes, limits, the key, order under concurrent micro-batching."""

import asyncio
import json

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecomsft.readers.classification.reader import Predictor
from ecomsft.inference.server import ServeSettings, create_app


@pytest.fixture(scope="module")
def predictor(tiny_run):
    return Predictor(tiny_run.run_dir)


def make_client(tiny_run, predictor, **overrides):
    app = create_app(ServeSettings(run=str(tiny_run.run_dir), **overrides), predictor=predictor)
    return TestClient(app)


def test_routes(tiny_run, predictor):
    with make_client(tiny_run, predictor) as client:
        assert client.get("/health").json() == {"status": "ok"}
        assert client.get("/ready").json() == {"ready": True}
        info = client.get("/v1/info").json()
        assert info["labels"] == ["negative", "positive"] and info["task"] == "classification"
        assert "accuracy" in info["test_metrics"]
        texts = ["love it great", "broken and awful"]
        body = client.post("/v1/predict", json={"texts": texts}).json()
        expected = predictor.predict(texts)
        assert [p["label"] for p in body["predictions"]] == [e["label"] for e in expected]
        assert body["predictions"][0]["probabilities"]["positive"] == pytest.approx(expected[0]["probabilities"]["positive"], abs=1e-5)
        metrics = client.get("/metrics").text
        assert 'ecomsft_requests_total{route="/v1/predict",status="200"} 1.0' in metrics
        assert "ecomsft_request_seconds_bucket" in metrics and "ecomsft_batch_size_count" in metrics


@pytest.mark.parametrize("payload, status, word", [
    ({"texts": ["a"] * 5}, 413, "max_texts"),
    ({"texts": ["x" * 50]}, 422, "max_chars"),
    ({"texts": []}, 422, "empty"),
    ({"texts": ["ok", "  "]}, 422, "texts[1] is empty"),
    ({"texts": "not a list"}, 422, "texts"),
    ({"text": ["typo"]}, 422, "invalid request"),
    ({"texts": [1, 2]}, 422, "invalid request"),
])
def test_limits_and_bad_requests(tiny_run, predictor, payload, status, word):
    with make_client(tiny_run, predictor, max_texts=4, max_chars=40) as client:
        response = client.post("/v1/predict", json=payload)
        assert response.status_code == status
        assert word in response.json()["error"]


def test_malformed_json_and_body_limit(tiny_run, predictor):
    with make_client(tiny_run, predictor, max_body_bytes=200) as client:
        response = client.post("/v1/predict", content=b'{"texts": ["a",', headers={"content-type": "application/json"})
        assert response.status_code == 422 and "error" in response.json()
        response = client.post("/v1/predict", content=b"", headers={"content-type": "application/json"})
        assert response.status_code == 422
        form = client.post("/v1/predict", content=b'{"texts": ["a"]}', headers={"content-type": "application/x-www-form-urlencoded"})
        assert form.status_code == 422 and "Content-Type: application/json" in form.json()["error"]
        big = json.dumps({"texts": ["x" * 300]}).encode()
        response = client.post("/v1/predict", content=big, headers={"content-type": "application/json"})
        assert response.status_code == 413 and "max_body_bytes" in response.json()["error"]

        def chunks():
            yield big[:100]
            yield big[100:]

        response = client.post("/v1/predict", content=chunks(), headers={"content-type": "application/json"})
        assert response.status_code == 413


def test_api_key(tiny_run, predictor):
    with make_client(tiny_run, predictor, api_key="s3cret") as client:
        # Orchestrators probe liveness and readiness without the key (issue 18).
        assert client.get("/health").status_code == 200 and client.get("/ready").status_code == 200
        for route in ("/v1/info", "/metrics"):
            assert client.get(route).status_code == 401
        assert client.post("/v1/predict", json={"texts": ["a"]}).status_code == 401
        wrong = client.post("/v1/predict", json={"texts": ["a"]}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "API key" in wrong.json()["error"]
        ok = client.post("/v1/predict", json={"texts": ["a"]}, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200


def test_order_is_kept_under_concurrent_micro_batching(tiny_run, predictor):
    app = create_app(ServeSettings(run=str(tiny_run.run_dir), max_batch_size=16, max_wait_ms=20), predictor=predictor)
    texts = [f"{w} product {'very ' * (i % 7)}" for i, w in enumerate(["good", "bad", "love", "awful", "fast", "slow"] * 8)]
    expected = predictor.predict(texts)

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                replies = await asyncio.gather(*[client.post("/v1/predict", json={"texts": [t, t + " and"]}) for t in texts])
                metrics = (await client.get("/metrics")).text
        return replies, metrics

    replies, metrics = asyncio.run(scenario())
    for _text, reply, want in zip(texts, replies, expected):
        assert reply.status_code == 200
        got = reply.json()["predictions"][0]
        assert got["label"] == want["label"]
        assert got["probabilities"]["positive"] == pytest.approx(want["probabilities"]["positive"], abs=1e-4)
    # Requests were gathered: fewer model batches than requests.
    batches = float(next(line.split()[-1] for line in metrics.splitlines() if line.startswith("ecomsft_batch_size_count")))
    assert batches < len(texts)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(
    st.binary(max_size=300),
    st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=30),
                 lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["texts", "x", "pairs"]), inner, max_size=3),
                 max_leaves=10).map(lambda v: json.dumps(v).encode()),
))
def test_fuzzed_bodies_never_give_5xx(tiny_run, predictor, body):
    with make_client(tiny_run, predictor, max_texts=8, max_chars=100) as client:
        response = client.post("/v1/predict", content=body, headers={"content-type": "application/json"})
        assert response.status_code < 500, response.text


def test_graceful_shutdown_finishes_in_flight_requests(tiny_run, predictor):
    import socket
    import threading
    import time

    import uvicorn

    class SlowPredictor:
        def __init__(self, inner):
            self.inner, self.labels, self.metrics = inner, inner.labels, {}

        def predict_proba(self, texts, pairs=None):
            time.sleep(1.0)
            return self.inner.predict_proba(texts, pairs)

        def decide(self, probs):
            return self.inner.decide(probs)

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = create_app(ServeSettings(run=str(tiny_run.run_dir)), predictor=SlowPredictor(predictor))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", timeout_graceful_shutdown=10))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    replies = []
    clients = [threading.Thread(target=lambda: replies.append(
        httpx.post(f"http://127.0.0.1:{port}/v1/predict", json={"texts": ["good"]}, timeout=20))) for _ in range(3)]
    for client in clients:
        client.start()
    time.sleep(0.3)  # the requests are in flight, waiting on the slow model
    server.should_exit = True  # what SIGTERM does
    for client in clients:
        client.join()
    thread.join(timeout=20)
    assert [r.status_code for r in replies] == [200, 200, 200]
    assert not thread.is_alive()


def test_serve_command_errors(tmp_path):
    from .conftest import failed_in_one_line, run_cli

    code, out, err = run_cli("serve", tmp_path / "nope")
    assert failed_in_one_line(code, err) and "not a run folder" in err


def test_serve_command_with_two_workers_and_a_key(tiny_run):
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ecomsft = Path(sys.executable).with_name("ecomsft")
    env = {**os.environ, "ECOMSFT_API_KEY": "k"}
    server = subprocess.Popen([str(ecomsft), "serve", str(tiny_run.run_dir), "--port", str(port), "--workers", "2"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        deadline, ready = time.time() + 120, False
        while time.time() < deadline and not ready:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/ready", headers={"Authorization": "Bearer k"}, timeout=2).status_code == 200
            except httpx.HTTPError:
                time.sleep(0.5)
        assert ready, "server did not start"
        reply = httpx.post(f"http://127.0.0.1:{port}/v1/predict", json={"texts": ["good"]}, headers={"Authorization": "Bearer k"})
        assert reply.status_code == 200 and reply.json()["predictions"][0]["label"] in {"positive", "negative"}
        assert httpx.post(f"http://127.0.0.1:{port}/v1/predict", json={"texts": ["good"]}).status_code == 401
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
