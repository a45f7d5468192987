"""The web interface in a real browser (headless Chromium driven by Selenium, the system's
chromium and chromedriver): the path a new user takes, from a CSV to a trained run and a scored
file, against ``ecomsft ui`` served by uvicorn in its own process. Skips where no Chromium is
installed (``.ci/run`` installs it: ``ECOMSFT_SETUP_BROWSER=1 bash scripts/setup.sh``). On a failure
the page's screenshot is kept in ``.screenshots/``; ``ECOMSFT_UI_SCREENSHOTS=DIR`` keeps the
README's screenshots of each step."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import make_reviews

CHROMEDRIVER = shutil.which("chromedriver")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(not (CHROMEDRIVER and CHROMIUM),
                                reason="no chromium + chromedriver on this host (ECOMSFT_SETUP_BROWSER=1 bash scripts/setup.sh)")
KEPT = Path(__file__).resolve().parent.parent / ".screenshots"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    root, port = tmp_path / "runs", free_port()
    root.mkdir()
    process = subprocess.Popen([sys.executable, "-m", "ecomsft", "ui", "--root", str(root), "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ})
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            if time.time() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail(f"ecomsft ui did not start: {process.stdout.read().decode()[-2000:]}")
            time.sleep(0.3)
    yield url, root
    process.terminate()
    process.wait(30)


@pytest.fixture
def browser(request, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1200,1400", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    yield driver
    if getattr(request.node, "failed", False):
        KEPT.mkdir(exist_ok=True)
        driver.save_screenshot(str(KEPT / f"{request.node.name}.png"))
    driver.quit()


def shot(driver, name: str) -> None:
    folder = os.environ.get("ECOMSFT_UI_SCREENSHOTS")
    if folder:
        driver.save_screenshot(str(Path(folder) / f"{name}.png"))


def test_from_a_csv_to_a_trained_model_and_a_scored_file(server, browser, tiny_model_dir, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    url, root = server
    data = tmp_path / "reviews.csv"
    make_reviews(120).to_csv(data, index=False)
    browser.get(url)
    browser.find_element(By.LINK_TEXT, "New run").click()
    browser.find_element(By.ID, "upload-file").send_keys(str(data))
    browser.find_element(By.ID, "upload-button").click()
    # the mapping page: the preview, the columns guessed, the command to copy
    assert browser.find_element(By.ID, "text_column").get_attribute("value") == "review"
    assert "120 rows" in browser.page_source
    assert browser.find_element(By.ID, "label_column").get_attribute("value") == "label"
    model = browser.find_element(By.ID, "model")
    model.clear()
    model.send_keys(str(tiny_model_dir))
    shot(browser, "ui-new-run")
    browser.find_element(By.TAG_NAME, "summary").click()
    for key, value in (("model.max_length", "32"), ("training.batch_size", "16"), ("training.lr", "0.001"),
                       ("training.epochs", "2"), ("training.logging_steps", "2")):
        field = browser.find_element(By.ID, f"set:{key}")
        field.clear()
        field.send_keys(value)
    command = browser.find_element(By.ID, "command").text
    assert command.startswith("ecomsft train --data") and "--set training.lr=0.001" in command
    browser.find_element(By.ID, "train-button").click()
    # the training page: live status from server-sent events, then the link to the run
    WebDriverWait(browser, 240).until(seen.visibility_of_element_located((By.ID, "run-link")))
    assert "finished" in browser.find_element(By.ID, "status").text
    assert browser.find_element(By.ID, "loss").get_attribute("points")
    shot(browser, "ui-training")
    browser.find_element(By.ID, "run-link").click()
    browser.find_element(By.ID, "try-text")
    assert "accuracy" in browser.page_source
    browser.find_element(By.ID, "try-text").send_keys("good fast delivery")
    browser.find_element(By.ID, "try-button").click()
    assert browser.find_element(By.ID, "answer-label").text in ("positive", "negative")
    browser.find_element(By.ID, "score-file").send_keys(str(data))
    browser.find_element(By.ID, "score-button").click()
    link = browser.find_element(By.ID, "download").get_attribute("href")
    assert urllib.request.urlopen(link).read().decode().count("\n") == 121
    browser.find_element(By.ID, "report-link").click()
    WebDriverWait(browser, 30).until(lambda b: "/report" in b.current_url and b.title)


def test_bad_input_is_a_message_in_the_page(server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    url, root = server
    not_table = tmp_path / "notes.docx"
    not_table.write_bytes(b"PK\x03\x04 not a table")
    browser.get(url + "/new")
    browser.find_element(By.ID, "upload-file").send_keys(str(not_table))
    browser.find_element(By.ID, "upload-button").click()
    assert "not a table file" in browser.find_element(By.CSS_SELECTOR, "[role=alert]").text
    one_class = tmp_path / "one.csv"
    make_reviews(40).assign(label="pos").to_csv(one_class, index=False)
    browser.get(url + "/new")
    browser.find_element(By.ID, "upload-file").send_keys(str(one_class))
    browser.find_element(By.ID, "upload-button").click()
    browser.find_element(By.ID, "train-button").click()
    assert "class" in browser.find_element(By.CSS_SELECTOR, "[role=alert]").text
    assert not any(p.name == "one-classification" for p in root.iterdir())
