"""Only folders that ecomsft wrote may be replaced: --overwrite never deletes a user's files."""

import pytest

from ecomsft import run_folder
from ecomsft.config import build_config
from ecomsft.errors import EcomsftError
from ecomsft.runner import run as train

from .conftest import failed_in_one_line, make_reviews, run_cli, tiny_overrides


@pytest.fixture
def user_folder(tmp_path):
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "thesis.txt").write_text("four years of work", encoding="utf-8")
    return folder


def test_overwrite_refuses_a_folder_that_is_not_ours(tiny_model_dir, tmp_path, user_folder):
    data = tmp_path / "d.csv"
    make_reviews(60).to_csv(data, index=False)
    code, _, err = run_cli("train", "--data", str(data), "--model", str(tiny_model_dir), "--output", str(user_folder),
                           "--overwrite", "--max-steps", "2")
    assert failed_in_one_line(code, err)
    assert err.strip().startswith("error:") and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "ecomsft did not write" in err
    assert (user_folder / "thesis.txt").read_text(encoding="utf-8") == "four years of work"
    assert not (tmp_path / "work.partial").exists()


def test_quickstart_and_index_refuse_a_user_folder(user_folder, tmp_path):
    from ecomsft.readers.ranking.index import build_index

    code, _, err = run_cli("quickstart", "--fast", "--output", str(user_folder))  # quickstart overwrites by default
    assert failed_in_one_line(code, err)
    assert err.strip().startswith("error:") and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "ecomsft did not write" in err
    with pytest.raises(EcomsftError, match="ecomsft did not write"):
        build_index(tmp_path / "no-run", "no-catalog.csv", user_folder, overwrite=True)
    assert (user_folder / "thesis.txt").is_file()


def test_our_runs_are_marked_and_replaced_with_overwrite(tiny_model_dir, tmp_path):
    data = tmp_path / "d.csv"
    make_reviews(60).to_csv(data, index=False)
    values = tiny_overrides(tiny_model_dir, data, tmp_path / "run", **{"training.max_steps": 2, "baseline": False})
    first = train(build_config(None, values)).run_dir
    assert (first / run_folder.MARKER).is_file() and run_folder.is_ours(first)
    second = train(build_config(None, {**values, "overwrite": True})).run_dir
    assert second == first and (second / run_folder.MARKER).is_file()
    (first / run_folder.MARKER).unlink()  # without its marker, nothing proves the folder is ecomsft's
    assert not run_folder.is_ours(first)
    with pytest.raises(EcomsftError, match="did not write"):
        train(build_config(None, {**values, "overwrite": True}))
    assert (first / "metrics.json").is_file() and (first / "model" / "config.json").is_file()


def test_a_user_folder_in_the_way_of_the_work_folder_is_refused(tmp_path):
    partial = tmp_path / "out.partial"
    partial.mkdir()
    (partial / "notes.md").write_text("mine", encoding="utf-8")
    with pytest.raises(EcomsftError, match="did not write"):
        run_folder.RunFolder(tmp_path / "out").prepare(overwrite=True, resume=False)
    assert (partial / "notes.md").is_file()
    empty = tmp_path / "empty"
    empty.mkdir()
    run_folder.check_replaceable(empty, overwrite=False)  # an empty folder holds nothing to lose
