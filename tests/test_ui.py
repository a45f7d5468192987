"""The web interface (first part): the runs under a root, a run's page and report, trying a run;
every bad request answered with a page that says why; another interface only with a key."""

import shutil

import pytest
from fastapi.testclient import TestClient

from ecomsft.errors import EcomsftError
from ecomsft.ui.app import create_ui, run_ui


@pytest.fixture
def root(tiny_run, tmp_path):
    shutil.copytree(tiny_run.run_dir, tmp_path / "runs" / "shop" / "first")
    (tmp_path / "runs" / "not-a-run").mkdir()
    return tmp_path / "runs"


def test_the_runs_page_lists_every_run_with_its_figures(root):
    client = TestClient(create_ui(root))
    page = client.get("/")
    assert page.status_code == 200 and 'href="/runs/shop/first"' in page.text and "classification" in page.text
    assert "not-a-run" not in page.text
    chinese = client.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert "训练记录" in chinese.text and "基线" in chinese.text
    assert "Runs" in client.get("/?lang=en").text and client.get("/?lang=en").cookies.get("lang") == "en"


def test_a_run_page_its_report_and_trying_it(root, tiny_run):
    client = TestClient(create_ui(root))
    page = client.get("/runs/shop/first")
    assert page.status_code == 200 and "accuracy" in page.text and "/runs/shop/first/report" in page.text
    report = client.get("/runs/shop/first/report")
    assert report.status_code == 200 and "<html" in report.text
    answer = client.post("/runs/shop/first/try", data={"text": "the delivery was fast and good"})
    assert answer.status_code == 200 and any(label in answer.text for label in tiny_run.metrics["labels"])
    empty = client.post("/runs/shop/first/try", data={"text": "   "})
    assert empty.status_code == 400 and "empty text is refused" in empty.text


@pytest.mark.parametrize("path", ["/runs/not-a-run", "/runs/../../etc", "/runs/shop%2F..%2F..%2F..%2Fetc", "/runs/nothing/report"])
def test_a_name_that_is_no_run_under_the_root_is_a_page_saying_so(root, path):
    page = TestClient(create_ui(root)).get(path)
    assert page.status_code == 404 and "<html" in page.text and ("not a finished run" in page.text or "not a page" in page.text)


def test_a_run_deleted_while_shown_is_a_page_not_a_crash(root):
    client = TestClient(create_ui(root))
    assert client.get("/runs/shop/first").status_code == 200
    shutil.rmtree(root / "shop" / "first")
    assert client.post("/runs/shop/first/try", data={"text": "x"}).status_code == 404
    assert "No finished run" in client.get("/").text


def test_a_key_guards_every_page_and_another_interface_needs_one(root):
    client = TestClient(create_ui(root, api_key="s3cret"))
    assert client.get("/").status_code == 401
    assert client.get("/", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert client.get("/?key=s3cret").status_code == 200 and client.get("/").status_code == 200  # kept in a cookie
    with pytest.raises(EcomsftError, match="binding 0.0.0.0 needs an API key"):
        run_ui(root, host="0.0.0.0")
    with pytest.raises(EcomsftError, match="not a folder"):
        run_ui(root / "missing")
