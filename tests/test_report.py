"""report.html of a tiny run: every section and chart, re-creatable, and clean in a real browser."""

import re
import shutil
import subprocess

import numpy as np
import pytest

from ecomsft.readers.classification.reader import Predictor

from .conftest import run_cli

SECTIONS = ["Learning curves", "Confusion matrix", "Per class", "ROC and precision-recall", "Calibration", "Errors",
            "Most confident wrong predictions", "Classes most often confused", "Accuracy by text length"]


def test_report_has_every_section_and_chart(tiny_run):
    page = (tiny_run.run_dir / "report.html").read_text(encoding="utf-8")
    for section in SECTIONS:
        assert f">{section}" in page, section
    assert page.count("data:image/png;base64,") == 5
    assert "<title>ecomsft: out</title>" in page and "tfidf-lr baseline" in page and "http://" not in page and "https://" not in page
    (tiny_run.run_dir / "report.html").unlink()
    code, out, err = run_cli("report", tiny_run.run_dir)
    assert code == 0, err
    assert (tiny_run.run_dir / "report.html").read_text(encoding="utf-8").count("data:image/png") == 5


def test_temperature_is_saved_and_used_when_calibrated(tiny_run):
    calibration = tiny_run.metrics["calibration"]
    assert calibration["temperature"] > 0 and 0 <= calibration["test_ece_calibrated"] <= 1
    texts = ["love it great", "awful broken slow", "the price"]
    plain = Predictor(tiny_run.run_dir).predict_proba(texts)
    calibrated = Predictor(tiny_run.run_dir, calibrated=True).predict_proba(texts)
    assert (plain.argmax(axis=1) == calibrated.argmax(axis=1)).all()
    if abs(calibration["temperature"] - 1) > 1e-3:
        assert not np.allclose(plain, calibrated)


def _chromium() -> str | None:
    """A browser already on the host: tests never install one (ECOMSFT_SETUP_BROWSER=1 bash
    scripts/setup.sh does, where it may)."""
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def test_report_opens_in_headless_chromium(tiny_run, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("no Chromium on this host (install it with: ECOMSFT_SETUP_BROWSER=1 bash scripts/setup.sh)")
    shot = tmp_path / "report.png"
    result = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--enable-logging=stderr", "--v=0", "--window-size=1200,3000", f"--screenshot={shot}",
         (tiny_run.run_dir / "report.html").resolve().as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert shot.is_file() and shot.stat().st_size > 10_000, result.stderr[-2000:]
    console_errors = [line for line in result.stderr.splitlines() if re.search(r"CONSOLE.*(ERROR|Uncaught)|:ERROR:CONSOLE", line)]
    assert not console_errors, console_errors


def test_tensorboard_events_and_runs_listing(tiny_run):
    events = list((tiny_run.run_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0
    from ecomsft.metrics_file import list_runs

    found = list_runs(tiny_run.run_dir.parent)
    assert [r["run"] for r in found] == [str(tiny_run.run_dir)]
    assert found[0]["accuracy"] == tiny_run.metrics["test"]["accuracy"]
    blend = tiny_run.metrics.get("blend") or {}
    assert found[0]["delivered"] == (blend["test"]["accuracy"] if blend.get("used") else None)
    code, out, err = run_cli("runs", tiny_run.run_dir.parent)
    assert code == 0 and "classification" in out and f"acc. {tiny_run.metrics['test']['accuracy']:.4f}" in out, err
