"""A model the user named that cannot be loaded (no such hub id, gated, a missing file): one line,
never a traceback, and a failed row in ``compare``; tested without a network by mocking the loaders."""

import httpx
import pytest
import transformers
from huggingface_hub.errors import EntryNotFoundError, GatedRepoError, RepositoryNotFoundError

from ecomsft.models import resolve

from .conftest import failed_in_one_line, make_reviews, run_cli


def _response(status: int) -> httpx.Response:
    return httpx.Response(status, request=httpx.Request("GET", "https://huggingface.co/api/models/nosuch-org/no-such-model"))


ERRORS = {
    "oserror": (OSError("nosuch-org/no-such-model is not a local folder and is not a valid model identifier listed on "
                        "'https://huggingface.co/models'\nIf this is a private repository, ..."), "not a valid model identifier"),
    "not-found": (RepositoryNotFoundError("404 Client Error. Repository Not Found", response=_response(404)), "no such model"),
    "gated": (GatedRepoError("403 Client Error. Cannot access gated repo", response=_response(403)), "gated"),
    "entry": (EntryNotFoundError("404 Client Error. Entry Not Found for url: .../config.json"), "lacks a file"),
}


@pytest.fixture
def hub_answering(monkeypatch):
    """The hub looks reachable; every loader raises the chosen error."""
    monkeypatch.setattr(resolve, "_hub_reachable", lambda timeout=3.0: True)
    monkeypatch.setattr(resolve, "_in_hub_cache", lambda name: False)

    def answer(error):
        def raise_it(*args, **kwargs):
            raise error
        for cls in (transformers.AutoTokenizer, transformers.AutoModelForSequenceClassification,
                    transformers.AutoConfig, transformers.AutoModelForMaskedLM):
            monkeypatch.setattr(cls, "from_pretrained", raise_it)
    return answer


@pytest.mark.parametrize("kind", list(ERRORS))
def test_unloadable_hub_model_is_one_line(hub_answering, tmp_path, kind):
    error, message = ERRORS[kind]
    hub_answering(error)
    data = tmp_path / "d.csv"
    make_reviews(40).to_csv(data, index=False)
    for command in (("train", "--data", str(data)), ("pretrain", "--data", str(data), "--text-column", "review")):
        code, _, err = run_cli(*command, "--model", "nosuch-org/no-such-model", "--output", str(tmp_path / "out"))
        assert failed_in_one_line(code, err), err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in err, err
        assert message in lines[0] and "nosuch-org/no-such-model" in lines[0]
        assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


def test_compare_turns_an_unloadable_model_into_a_failed_row(hub_answering, tmp_path):
    from ecomsft.compare import compare
    from ecomsft.config import build_config

    hub_answering(ERRORS["not-found"][0])
    data = tmp_path / "d.csv"
    make_reviews(80).to_csv(data, index=False)
    cfg = build_config(None, {"data.train": str(data), "training.max_steps": 2, "training.progress_bar": False})
    board = compare(cfg, ["nosuch-org/no-such-model", "tfidf-lr"], tmp_path / "cmp")
    rows = dict(zip(board["candidate"], board["status"]))
    assert rows["tfidf-lr"] == "ok" and "no such model" in rows["nosuch-org/no-such-model"]
