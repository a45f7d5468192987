"""The web interface: the runs under a root, a run's page and report, trying a run and scoring a file;
a new run from an upload (preview, columns, task, the command), trained in a background process with
its progress read back from files, queued, stopped and resumed; runs compared and removed; every bad
request answered with a page that says why; another interface only with a key."""

import shutil
import time

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from ecomsft.errors import EcomsftError
from ecomsft.ui.app import create_ui, run_ui

from .conftest import make_reviews


@pytest.fixture
def root(tiny_run, tmp_path):
    shutil.copytree(tiny_run.run_dir, tmp_path / "runs" / "shop" / "first")
    (tmp_path / "runs" / "not-a-run").mkdir()
    return tmp_path / "runs"


APPS = []


@pytest.fixture(autouse=True)
def _no_training_left_behind():
    """A failed test leaves no training process running."""
    yield
    while APPS:
        APPS.pop().state.jobs.stop_own()


def client_for(root, **options) -> TestClient:
    app = create_ui(root, watch=False, **options)
    APPS.append(app)
    return TestClient(app)


def test_the_runs_page_lists_every_run_with_its_figures(root):
    client = client_for(root)
    page = client.get("/")
    assert page.status_code == 200 and 'href="/runs/shop/first"' in page.text and "classification" in page.text
    assert "not-a-run" not in page.text and 'href="/new"' in page.text
    chinese = client.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert "训练记录" in chinese.text and "基线" in chinese.text and "新建训练" in chinese.text
    assert "Runs" in client.get("/?lang=en").text and client.get("/?lang=en").cookies.get("lang") == "en"


def test_a_run_page_its_report_trying_it_and_scoring_a_file(root, tiny_run, tmp_path):
    client = client_for(root)
    page = client.get("/runs/shop/first")
    assert page.status_code == 200 and "accuracy" in page.text and "/runs/shop/first/report" in page.text
    assert len(page.content) < 300_000
    report = client.get("/runs/shop/first/report")
    assert report.status_code == 200 and "<html" in report.text
    answer = client.post("/runs/shop/first/try", data={"text": "the delivery was fast and good"})
    assert answer.status_code == 200 and any(label in answer.text for label in tiny_run.metrics["labels"])
    empty = client.post("/runs/shop/first/try", data={"text": "   "})
    assert empty.status_code == 400 and "empty text is refused" in empty.text
    rows = make_reviews(30)
    scored = client.post("/runs/shop/first/score", files={"file": ("new reviews.csv", rows.to_csv(index=False).encode())})
    assert scored.status_code == 200 and "30 rows scored" in scored.text
    link = scored.text.split('id="download" href="')[1].split('"')[0]
    download = client.get(link)
    assert download.status_code == 200
    (tmp_path / "scored.csv").write_bytes(download.content)
    table = pd.read_csv(tmp_path / "scored.csv")
    assert len(table) == 30 and set(table["label"]) <= set(tiny_run.metrics["labels"]) | {"label"} or "predicted" in table
    assert client.get("/downloads/" + link.split("/")[2] + "/..%2F..%2Fetc").status_code == 404


@pytest.mark.parametrize("path", ["/runs/not-a-run", "/runs/../../etc", "/runs/shop%2F..%2F..%2F..%2Fetc", "/runs/nothing/report",
                                  "/jobs/nothing", "/jobs/..%2F..", "/new/nothing", "/downloads/x/scored-y.csv"])
def test_a_name_that_is_no_run_under_the_root_is_a_page_saying_so(root, path):
    page = client_for(root).get(path)
    assert page.status_code == 404 and "<html" in page.text and ("is not a finished run" in page.text or "not a page" in page.text)


def test_a_run_deleted_while_shown_is_a_page_not_a_crash(root):
    client = client_for(root)
    assert client.get("/runs/shop/first").status_code == 200
    shutil.rmtree(root / "shop" / "first")
    assert client.post("/runs/shop/first/try", data={"text": "x"}).status_code == 404
    assert "No finished run" in client.get("/").text


def test_compare_and_remove_runs_under_the_cli_rule(root):
    shutil.copytree(root / "shop" / "first", root / "second")
    client = client_for(root)
    board = client.get("/compare?run=shop/first&run=second")
    assert board.status_code == 200 and board.text.count('href="/runs/') >= 2 and "accuracy" in board.text
    assert client.get("/compare?run=second").status_code == 400
    (root / "second" / "my-notes.txt").write_text("mine")
    refused = client.post("/runs/second/remove")
    assert refused.status_code == 400 and "my-notes.txt" in refused.text and (root / "second" / "model").is_dir()
    (root / "second" / "my-notes.txt").unlink()
    assert client.post("/runs/second/remove", follow_redirects=False).status_code == 303
    assert not (root / "second").exists() and (root / "shop" / "first").is_dir()


def upload(client, name: str, content: bytes):
    return client.post("/upload", files={"file": (name, content)}, follow_redirects=False)


def test_an_upload_is_previewed_with_its_encoding_and_the_columns_guessed(root):
    client = client_for(root)
    text = "评论,标签,review,sentiment\n" + "".join(f"第{i}条,x,good {i},pos\n" for i in range(20))
    answer = upload(client, "商品 评论.csv", text.encode("gbk"))
    assert answer.status_code == 303
    page = client.get(answer.headers["location"])
    assert page.status_code == 200 and "gb18030" in page.text and "20 rows" in page.text and "第0条" in page.text
    assert '<option value="review" selected>' in page.text and '<option value="sentiment" selected>' in page.text
    assert 'name="set:training.lr"' in page.text and 'id="command"' in page.text  # advanced settings from the schema
    assert "auto: minilm, for English text" in page.text  # model.name auto, with its reason
    for task in ("relevance", "aspects", "generation"):
        assert f'<option value="{task}"' in page.text  # every registered task
    ranking = client.get(answer.headers["location"] + "?task=relevance")
    assert ranking.status_code == 200 and '<option value="relevance" selected>' in ranking.text


@pytest.mark.parametrize("name, content, message", [
    ("data.exe", b"MZ...", "not a table file"),
    ("empty.csv", b"", "the file is empty"),
    ("broken.parquet", b"not parquet at all", "broken.parquet"),
    ("garbled.csv", b"text,label\n" + bytes([0x81, 0x30, 0xFF, 0xFE, 0x00, 0xC3]) * 200, "not a text file"),
    ("big.csv", b"text,label\n" + b"x" * (2 << 20), "over the upload limit of 1 MB"),
])
def test_a_bad_upload_is_a_message_and_nothing_is_kept(root, name, content, message):
    client = client_for(root, max_upload_mb=1)
    answer = upload(client, name, content)
    assert answer.status_code == 400 and message in answer.text and "Traceback" not in answer.text
    uploads = root / ".ecomsft-ui" / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir())


def mapped(client, rows: pd.DataFrame, **form) -> tuple[str, dict]:
    location = upload(client, "reviews.csv", rows.to_csv(index=False).encode()).headers["location"]
    return location, {"task": "classification", "text_column": "review", "label_column": "label", "model": "auto",
                      "name": "from-ui", **form}


@pytest.mark.parametrize("change, message", [
    ({"label_column": "review"}, "label"),
    ({"text_column": "nope"}, "no text column"),
    ({"name": "../outside"}, "a run name is"),
    ({"name": "shop/first"}, "already holds a finished run"),
    ({"minutes": "soon"}, "number of minutes"),
    ({"set:training.lr": "fast"}, "training.lr"),
    ({"model": "/no/such-model-anywhere"}, "model folder not found"),
])
def test_a_mapping_that_does_not_fit_is_shown_in_the_page_and_nothing_starts(root, change, message):
    client = client_for(root)
    location, form = mapped(client, make_reviews(60), **change)
    answer = client.post(location + "/train", data=form, follow_redirects=False)
    assert answer.status_code == 400 and message in answer.text and 'class="error"' in answer.text
    assert not (root / ".ecomsft-ui" / "jobs").exists()


def test_an_aspects_run_takes_its_labels_file_from_another_upload(root, tiny_model_dir, tmp_path):
    """The two-file form of aspects data: the reviews uploaded for the run, the labels uploaded too and
    picked in the advanced settings (task.labels offers the other uploads)."""
    from .test_aspects import _files

    reviews, labels = _files(tmp_path)
    client = client_for(root)
    labels_page = upload(client, "labels.csv", labels.read_bytes()).headers["location"]
    location = upload(client, "reviews.csv", reviews.read_bytes()).headers["location"]
    page = client.get(location + "?task=aspects")
    stored = str(root / ".ecomsft-ui" / "uploads" / labels_page.rsplit("/", 1)[1] / "labels.csv")
    assert 'name="set:task.labels" id="set:task.labels" value="" list="uploads"' in page.text
    assert f'<option value="{stored}">labels.csv</option>' in page.text and "second file" in page.text
    form = {"task": "aspects", "text_column": "Reviews", "model": str(tiny_model_dir), "name": "opinions", **TINY}
    refused = client.post(location + "/train", data=form)
    assert refused.status_code == 400 and "no aspect category columns" in refused.text  # no labels: nothing to learn
    answer = client.post(location + "/train", data={**form, "set:task.labels": stored}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    assert f"--set task.labels={stored}" in client.get(answer.headers["location"]).text


def test_one_class_is_refused_in_the_page(root):
    client = client_for(root)
    rows = make_reviews(60).assign(label="pos")
    location, form = mapped(client, rows)
    answer = client.post(location + "/train", data=form)
    assert answer.status_code == 400 and "class" in answer.text


def wait_for(client, job_url: str, statuses: tuple, seconds: float = 240) -> dict:
    deadline = time.time() + seconds
    while time.time() < deadline:
        state = client.get(job_url + "/state").json()
        if state["status"] in statuses:
            return state
        time.sleep(0.5)
    raise AssertionError(f"{job_url} still {state['status']}: {state['log'][-5:]}")


TINY = {"set:model.max_length": "32", "set:training.batch_size": "16", "set:training.lr": "0.001",
        "set:training.logging_steps": "2"}


def test_from_a_csv_to_a_trained_run_and_a_scored_file(root, tiny_model_dir):
    """The path the README describes: upload, map, train in the background, watch, open the run, try it."""
    client = client_for(root)
    location, form = mapped(client, make_reviews(120), model=str(tiny_model_dir), **TINY, **{"set:training.epochs": "2"})
    answer = client.post(location + "/train", data=form, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    job_url = answer.headers["location"]
    page = client.get(job_url)
    assert page.status_code == 200 and "ecomsft train --data" in page.text and "--set training.lr=0.001" in page.text
    # A restarted server (another app over the same root) and a second tab see the same training.
    other = client_for(root)
    assert other.get(job_url + "/state").json()["status"] in ("running", "finished")
    state = wait_for(client, job_url, ("finished", "failed"))
    assert state["status"] == "finished", state["log"]
    assert state["loss"] and state["max_steps"] and state["step"] == state["max_steps"] and state["metric"]
    assert state["run"] == "/runs/from-ui"
    events = client.get(job_url + "/events")
    assert events.headers["content-type"].startswith("text/event-stream") and '"status": "finished"' in events.text
    assert (root / "from-ui" / "progress.jsonl").is_file() and "from-ui" in client.get("/").text
    assert client.post("/runs/from-ui/try", data={"text": "good fast delivery"}).status_code == 200
    assert other.get(job_url).status_code == 200 and "finished" in other.get(job_url + "/state").text


def test_trainings_queue_one_at_a_time_and_stop_resumably(root, tiny_model_dir):
    client = client_for(root)
    long = {**TINY, "set:training.epochs": "200", "set:training.save_total_limit": "1"}
    location, form = mapped(client, make_reviews(120), model=str(tiny_model_dir), **long)
    first = client.post(location + "/train", data={**form, "name": "first-long"}, follow_redirects=False).headers["location"]
    second = client.post(location + "/train", data={**form, "name": "second"}, follow_redirects=False).headers["location"]
    assert client.get(first + "/state").json()["status"] == "running"
    queued = client.get(second + "/state").json()
    assert queued["status"] == "queued" and queued["position"] == 1 and "position 1" in client.get("/").text
    client.post(second + "/stop")
    assert client.get(second + "/state").json()["status"] == "stopped"
    deadline = time.time() + 120
    while time.time() < deadline and not (root / "first-long.partial" / "checkpoints").is_dir():
        time.sleep(0.5)
    client.post(first + "/stop")
    state = wait_for(client, first, ("stopped", "failed", "finished"))
    assert state["status"] == "stopped" and state["resumable"], state["log"]
    assert (root / "first-long.partial").is_dir() and not (root / "first-long").exists()
    resumed = client.post(first + "/resume", follow_redirects=False).headers["location"]
    assert client.get(resumed).status_code == 200 and "--resume" in client.get(resumed).text
    client.post(resumed + "/stop")
    wait_for(client, resumed, ("stopped", "failed", "finished"))


def test_a_server_stopped_during_a_training_leaves_it_resumable(root, tiny_model_dir):
    """Stopping the server stops the training it started as Ctrl-C does; the next server says so."""
    long = {**TINY, "set:training.epochs": "200", "set:training.save_total_limit": "1"}
    with TestClient(create_ui(root)) as client:  # with its queue thread, as ecomsft ui runs it
        location, form = mapped(client, make_reviews(120), model=str(tiny_model_dir), **long)
        job = client.post(location + "/train", data={**form, "name": "cut-short"}, follow_redirects=False).headers["location"]
        deadline = time.time() + 120
        while time.time() < deadline and not (root / "cut-short.partial" / "checkpoints").is_dir():
            time.sleep(0.5)
    state = wait_for(client_for(root), job, ("stopped", "failed", "finished"))
    assert state["status"] == "stopped" and state["resumable"], state["log"]
    assert "checkpoints are kept" in state["message"] and not (root / "cut-short").exists()


def test_another_site_cannot_post_to_the_interface(root):
    """Cross-site request forgery: a form another page posts (removing a run) is refused."""
    client = client_for(root)
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}):
        answer = client.post("/runs/shop/first/remove", headers=headers)
        assert answer.status_code == 403 and (root / "shop" / "first" / "model").is_dir()
    same = client.post("/runs/shop/first/try", data={"text": "good"}, headers={"Origin": "http://testserver"})
    assert same.status_code == 200
    from ecomsft.ui.app import bound_to

    local = TestClient(bound_to(create_ui(root, watch=False), "127.0.0.1"), base_url="http://127.0.0.1:8765")
    assert local.get("/").status_code == 200
    assert local.get("/", headers={"Host": "rebound.evil.example"}).status_code == 400  # DNS rebinding


def test_a_key_guards_every_page_and_another_interface_needs_one(root):
    client = client_for(root, api_key="s3cret")
    assert client.get("/").status_code == 401 and client.get("/new").status_code == 401
    assert client.get("/", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert client.get("/?key=s3cret").status_code == 200 and client.get("/").status_code == 200  # kept in a cookie
    with pytest.raises(EcomsftError, match="binding 0.0.0.0 needs an API key"):
        run_ui(root, host="0.0.0.0")
    with pytest.raises(EcomsftError, match="not a folder"):
        run_ui(root / "missing" / "deeper")


def test_no_request_crashes_the_interface(root):
    """Garbage in every field and path of every route: a page or a refusal, never a 500."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    client = client_for(root)
    location = upload(client, "r.csv", make_reviews(20).to_csv(index=False).encode()).headers["location"]
    junk = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(part=junk, field=junk, value=junk)
    def poke(part, field, value):
        from urllib.parse import quote

        safe = quote(part, safe="")
        for method, path, data in (("get", f"/runs/{safe}", None), ("get", f"/jobs/{safe}", None),
                                   ("get", f"/jobs/{safe}/state", None), ("post", f"/jobs/{safe}/stop", None),
                                   ("get", f"/new/{safe}", None), ("get", f"/compare?run={safe}&run={safe}", None),
                                   ("post", location + "/train", {"task": value, field or "x": value, "name": value}),
                                   ("post", "/runs/shop/first/try", {"text": value}),
                                   ("get", f"/downloads/{safe}/{safe}", None), ("get", f"{location}?task={safe}", None)):
            answer = getattr(client, method)(path, data=data) if data is not None else getattr(client, method)(path)
            assert answer.status_code < 500, (method, path, data, answer.text[:300])

    poke()
    assert not (root / ".ecomsft-ui" / "jobs").exists() or not any(
        job.status == "running" for job in APPS[-1].state.jobs.all())
