"""Task generation on tiny random decoders built in code (Qwen2 and GPT-2 configs, a BPE tokenizer
trained on the test's texts): loss masks token by token, EOS learnt, LoRA merge, generation
metrics, bad input, ``ecomsft generate`` and ``/v1/generate`` (streaming) end to end."""

import json
import random

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from ecomsft.config import build_config
from ecomsft.errors import EcomsftError
from ecomsft.runner import run

from .conftest import failed_in_one_line, run_cli

POS, NEG = ["很好", "不错", "喜欢", "满意"], ["很差", "失望", "坏了", "退货"]


def review_rows(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        positive = i % 2 == 0
        rows.append({"prompt": f"评论{i}：物流{rng.choice(POS if positive else NEG)}快递", "completion": "好评" if positive else "差评"})
    return rows


def decoder(folder, architecture="qwen2"):
    from ecomsft.models.decoders import build_decoder

    texts = [r["prompt"] + r["completion"] for r in review_rows(200)] + ["用户 助手 系统 hello world"] * 5
    return build_decoder(folder, texts, architecture=architecture, vocab_size=320, hidden=64)


@pytest.fixture(scope="module")
def tiny_decoder(tmp_path_factory):
    return decoder(tmp_path_factory.mktemp("tiny-qwen2"))


def overrides(model, data, output, **more):
    return {"task.type": "generation", "data.train": str(data), "model.name": str(model), "model.max_length": 64,
            "training.lr": 3e-3, "training.batch_size": 16, "training.progress_bar": False, "task.max_new_tokens": 8,
            "output": str(output), **more}


@pytest.fixture(scope="module")
def generation_run(tiny_decoder, tmp_path_factory):
    folder = tmp_path_factory.mktemp("generation")
    pd.DataFrame(review_rows(200)).to_csv(folder / "reviews.csv", index=False)
    return run(build_config(None, overrides(tiny_decoder, folder / "reviews.csv", folder / "run", **{"training.epochs": 8})))


def prepared(model, data, tmp_path, **more):
    """The task's model and TRL trainer, before training."""
    from ecomsft.tasks import get_task

    cfg = build_config(None, overrides(model, data, tmp_path / "run", **more))
    task = get_task("generation")(cfg)
    task.load_data()
    built = task.build_model(str(model))
    return task, task.build_trainer(task.prepare_model(built, 0), tmp_path, None)


def test_prompt_tokens_masked_and_completion_with_eos_kept(tiny_decoder, tmp_path):
    from ecomsft.models.generating import render_ids

    rows = review_rows(20)
    pd.DataFrame(rows).to_csv(tmp_path / "d.csv", index=False)
    task, trainer = prepared(tiny_decoder, tmp_path / "d.csv", tmp_path)
    tokenizer = task.tokenizer
    for turns, example in zip(task.fitted["train"], trainer.train_dataset):
        prompt = render_ids(tokenizer, turns[:-1], generation_prompt=True)
        ids, labels = example["input_ids"], example["labels"]
        assert ids[:len(prompt)] == prompt
        assert labels[:len(prompt)] == [-100] * len(prompt)  # every prompt token out of the loss
        assert labels[len(prompt):] == ids[len(prompt):]  # every answer token in it
        assert labels[-1] == tokenizer.eos_token_id and tokenizer.pad_token_id != tokenizer.eos_token_id
        assert tokenizer.decode(labels[len(prompt):-1]) == turns[-1]["content"]


def test_multi_turn_conversations_learn_only_assistant_turns(tiny_decoder, tmp_path):
    conversations = [{"messages": [{"role": "system", "content": "系统"}, {"role": "user", "content": f"评论{i}很好"},
                                   {"role": "assistant", "content": "好评"}, {"role": "user", "content": "确定吗"},
                                   {"role": "assistant", "content": "确定"}]} for i in range(12)]
    (tmp_path / "chat.jsonl").write_text("\n".join(json.dumps(c, ensure_ascii=False) for c in conversations), encoding="utf-8")
    task, trainer = prepared(tiny_decoder, tmp_path / "chat.jsonl", tmp_path)
    eos = task.tokenizer.eos_token_id
    for example in trainer.train_dataset:
        learnt = [t for t in example["labels"] if t != -100]
        # the two assistant turns, each with its EOS, and nothing of the system or user turns
        assert task.tokenizer.decode(learnt) == "好评<|endoftext|>确定<|endoftext|>"
        assert learnt.count(eos) == 2
    assert trainer.args.assistant_only_loss and task.format == "messages"


def test_run_learns_stops_by_itself_and_beats_the_most_frequent_answer(generation_run):
    metrics = generation_run.metrics
    test, base = metrics["test"], metrics["baselines"]["most_frequent_answer"]
    assert metrics["task"] == "generation" and metrics["completion_kind"] == "label"
    assert test["accuracy"] >= 0.9 and base["accuracy"] <= 0.7
    assert test["stopped_by_eos"] == 1.0  # EOS learnt: every answer ends by itself
    assert test["unparseable"] == 0 and test["loss"] < 1.0 and test["perplexity"] > 1.0
    assert metrics["training"]["chat_template"] == "ecomsft default"
    predictions = pd.read_csv(generation_run.run_dir / "predictions.csv")
    assert list(predictions.columns) == ["prompt", "reference", "generation", "stopped", "score"]
    assert predictions["score"].is_monotonic_increasing  # worst first
    report = (generation_run.run_dir / "report.html").read_text(encoding="utf-8")
    assert "Examples, worst first" in report and "most frequent answer" in report
    saved = json.loads((generation_run.run_dir / "model" / "tokenizer_config.json").read_text(encoding="utf-8"))
    chat = generation_run.run_dir / "model" / "chat_template.jinja"
    assert "generation" in (chat.read_text(encoding="utf-8") if chat.is_file() else saved.get("chat_template", ""))


def test_generate_command_file_and_python_api(generation_run, tmp_path):
    from ecomsft import api

    code, out, err = run_cli("generate", generation_run.run_dir, "评论900：物流很好快递", "--json")
    assert code == 0, err
    [answer] = json.loads(out)
    assert answer["text"] == "好评" and answer["stopped"] is True
    code, out, err = run_cli("generate", generation_run.run_dir, "评论901：物流退货快递", "--stream")
    assert code == 0 and out.strip() == "差评", err
    pd.DataFrame({"sku": [1, 2, 3], "prompt": ["评论1：物流满意快递", "", "评论3：物流失望快递"]}).to_csv(tmp_path / "p.csv", index=False)
    code, out, err = run_cli("generate", generation_run.run_dir, "--input", tmp_path / "p.csv", "--output", tmp_path / "o.jsonl")
    assert code == 0, err
    rows = pd.read_json(tmp_path / "o.jsonl", lines=True)
    assert rows["sku"].tolist() == [1, 2, 3] and rows["generation"][0] == "好评" and pd.isna(rows["generation"][1])
    events = list(api.generate_stream(generation_run.run_dir, "评论2：物流喜欢快递"))
    assert "".join(e.get("text", "") for e in events) == "好评" and events[-1] == {"done": True, "stopped": True, "new_tokens": events[-1]["new_tokens"]}
    long_prompt = "很好" * 200  # far beyond max_length: cut from the left
    [cut] = api.generate(generation_run.run_dir, [long_prompt], max_new_tokens=4)
    assert cut["prompt_cut"] is True and cut["new_tokens"] <= 4
    code, out, err = run_cli("predict", generation_run.run_dir, "评论1：物流满意快递")  # predict answers as the task does
    assert code == 0 and "好评" in out, err
    code, _, err = run_cli("predict", generation_run.run_dir, "x", "--backend", "onnx")
    assert failed_in_one_line(code, err) and "this run has no onnx backend" in err
    code, _, err = run_cli("predict", generation_run.run_dir, "--input", tmp_path / "p.csv", "--output", tmp_path / "p2.csv")
    assert code == 0, err  # predict --input on a generation run generates, like generate --input
    assert pd.read_csv(tmp_path / "p2.csv")["generation"][2] == "差评"
    code, _, err = run_cli("serve", generation_run.run_dir, "--backend", "onnx")
    assert failed_in_one_line(code, err) and "served with --backend torch" in err


def test_generate_route_json_and_server_sent_events(generation_run):
    from ecomsft.inference.server import ServeSettings, create_app

    settings = ServeSettings(run=str(generation_run.run_dir), max_new_tokens=16, api_key="k")
    headers = {"Authorization": "Bearer k"}
    with TestClient(create_app(settings)) as client:
        answer = client.post("/v1/generate", json={"prompt": "评论77：物流坏了快递"}, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["text"] == "差评" and answer.json()["stopped"] is True and answer.headers["x-request-id"]
        with client.stream("POST", "/v1/generate", json={"prompt": "评论78：物流不错快递", "stream": True}, headers=headers) as streamed:
            assert streamed.headers["content-type"].startswith("text/event-stream")
            events = [json.loads(line[6:]) for line in streamed.iter_lines() if line.startswith("data: ")]
        assert "".join(e.get("text", "") for e in events) == "好评" and events[-1]["done"] and events[-1]["stopped"]
        too_many = client.post("/v1/generate", json={"prompt": "x", "max_new_tokens": 17}, headers=headers)
        assert too_many.status_code == 422 and "max_new_tokens" in too_many.json()["error"]
        assert client.post("/v1/generate", json={"prompt": " "}, headers=headers).status_code == 422
        assert client.post("/v1/generate", json={"prompt": "x"}).status_code == 401
        assert "/v1/generate" in client.post("/v1/predict", json={"texts": ["x"]}, headers=headers).json()["error"]
        info = client.get("/v1/info", headers=headers).json()
        assert info["task"] == "generation" and info["limits"]["max_new_tokens"] == 16
        assert client.get("/ready").status_code == 200
        assert "/v1/generate" in client.get("/openapi.json", headers=headers).json()["paths"]  # behind the key
        assert 'ecomsft_requests_total{route="/v1/generate",status="200"} 2.0' in client.get("/metrics", headers=headers).text


def test_lora_merge_gives_the_adapters_logits(tiny_decoder, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from ecomsft.training import trainable

    model = AutoModelForCausalLM.from_pretrained(tiny_decoder)
    lora = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", r=4, lora_alpha=8, target_modules="all-linear",
                                            init_lora_weights=False))  # random B: the adapter changes the logits
    ids = torch.tensor([[5, 9, 17, 40, 3]])
    with torch.no_grad():
        adapted = lora(input_ids=ids).logits
        merged = trainable.finish(lora)
        assert not hasattr(merged, "peft_config")
        assert torch.allclose(merged(input_ids=ids).logits, adapted, atol=1e-5)
        assert not torch.allclose(AutoModelForCausalLM.from_pretrained(tiny_decoder)(input_ids=ids).logits, adapted, atol=1e-3)


def test_lora_run_on_gpt2_keeps_the_adapter_beside_the_model(tmp_path):
    model = decoder(tmp_path / "tiny-gpt2", architecture="gpt2")
    pd.DataFrame(review_rows(40)).to_csv(tmp_path / "d.csv", index=False)
    result = run(build_config(None, overrides(model, tmp_path / "d.csv", tmp_path / "run", **{
        "training.max_steps": 2, "training.lora_r": 4, "task.keep_adapter": True, "baseline": False,
        "task.eval_samples": 2})))
    assert (result.run_dir / "adapter" / "adapter_config.json").is_file()
    assert result.metrics["model"]["architecture"] == "GPT2LMHeadModel"
    assert result.metrics["model"]["trainable_parameters"] < result.metrics["model"]["parameters"]
    from ecomsft.readers.generation.reader import Generator

    assert len(Generator(result.run_dir).generate(["评论1"], 3)) == 1  # model/ holds the merged weights


def test_generation_metrics_by_hand():
    from ecomsft.evaluation.generation import UNPARSEABLE, generation_report, json_scores, label_scores, parse_label, rouge_l

    assert rouge_l(["苹果手机"], ["苹果电脑"]) == [0.5]  # LCS 苹果 = 2 of 4 characters each way
    assert rouge_l(["the red phone"], ["red phone"])[0] == pytest.approx(2 * (1.0 * 2 / 3) / (1.0 + 2 / 3))
    assert parse_label(" 好评 ", ["好评", "差评"]) == "好评" and parse_label("这是差评。", ["好评", "差评"]) == "差评"
    assert parse_label("好评差评", ["好评", "差评"]) == UNPARSEABLE and parse_label("中评", ["好评", "差评"]) == UNPARSEABLE
    scores = label_scores(["好评", "差评", "差评", "好评"], ["好评", "差评", "不知道", "差评"], ["好评", "差评"])
    assert scores["accuracy"] == 0.5 and scores["unparseable"] == 1
    # 好评: 1 right of 1 predicted, 2 gold -> P 1, R 0.5; 差评: 1 right of 2 predicted, 2 gold -> P 0.5, R 0.5
    assert scores["precision_macro"] == pytest.approx(0.75) and scores["recall_macro"] == pytest.approx(0.5)
    checked = json_scores(['{"brand": "小米", "product": ["手机", "耳机"]}', '{"brand": "华为"}'],
                          ['{"brand": "小米", "product": ["手机"]}', "not json"])
    # fields: gold 3 + 1, predicted 2 (both right) -> P 1, R 0.5, F1 2/3; half the outputs valid JSON
    assert checked["valid_json"] == 0.5 and checked["field_precision"] == 1.0 and checked["field_recall"] == 0.5
    assert checked["field_f1"] == pytest.approx(2 / 3)
    metrics, rows = generation_report(["a b", "c"], ["a b", "d"], "text")
    assert metrics["exact_match"] == 0.5 and metrics["rows"] == 2 and rows[0] == pytest.approx(1.0)


def test_prompts_are_cut_from_the_left_never_the_answer(tiny_decoder, tmp_path):
    from transformers import AutoTokenizer

    from ecomsft.models.generating import fit_turns, render_ids
    from ecomsft.models.decoders import prepare_tokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_decoder)
    prepare_tokenizer(tokenizer, conversations=False, fallback=True)
    turns = [{"role": "user", "content": "很差" * 30 + "最后的话"}, {"role": "assistant", "content": "差评"}]
    kept, cut = fit_turns(tokenizer, turns, 24, generation_prompt=False)
    assert cut and len(render_ids(tokenizer, kept, False)) <= 24
    assert kept[-1] == turns[-1] and kept[0]["content"].endswith("最后的话")  # the start went, the end stayed
    rows = [{"prompt": "很好" * 60, "completion": "好评"}] + review_rows(10)
    pd.DataFrame(rows).to_csv(tmp_path / "long.csv", index=False)
    task, _ = prepared(tiny_decoder, tmp_path / "long.csv", tmp_path, **{"data.valid_ratio": 0.0, "data.test_ratio": 0.0,
                                                                       "data.valid": str(tmp_path / "long.csv"),
                                                                       "data.test": str(tmp_path / "long.csv")})
    assert task.cut == {"train": 1, "valid": 1, "test": 1}
    with pytest.raises(EcomsftError, match=r"long.csv:2: the row is longer than max_length 64"):
        prepared(tiny_decoder, tmp_path / "long.csv", tmp_path, **{"task.long_prompts": "refuse"})
    pd.DataFrame([{"prompt": "x", "completion": "很好" * 80}] + review_rows(10)).to_csv(tmp_path / "answer.csv", index=False)
    with pytest.raises(EcomsftError, match=r"answer.csv:2: the answer alone is longer"):
        prepared(tiny_decoder, tmp_path / "answer.csv", tmp_path, **{"data.valid": str(tmp_path / "answer.csv")})


def test_pad_token_distinct_from_eos_and_templates(tiny_decoder):
    from transformers import AutoTokenizer

    from ecomsft.models.decoders import DEFAULT_CHAT_TEMPLATE, PAD_TOKEN, prepare_tokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_decoder)
    tokenizer.pad_token = tokenizer.eos_token  # as GPT-2 ships
    prepare_tokenizer(tokenizer, conversations=False, fallback=True)
    assert tokenizer.pad_token == PAD_TOKEN and tokenizer.pad_token_id != tokenizer.eos_token_id
    assert tokenizer.chat_template == DEFAULT_CHAT_TEMPLATE
    unmarked = "{% for m in messages %}{{ m['role'] + ': ' + m['content'] + eos_token }}{% endfor %}"
    tokenizer.chat_template = unmarked
    with pytest.raises(EcomsftError, match="does not mark assistant turns"):
        prepare_tokenizer(tokenizer, conversations=True, fallback=False)
    prepare_tokenizer(tokenizer, conversations=True, fallback=True)
    assert tokenizer.chat_template == DEFAULT_CHAT_TEMPLATE
    tokenizer.chat_template = unmarked
    prepare_tokenizer(tokenizer, conversations=False, fallback=False)  # prompt/completion needs no marks
    assert tokenizer.chat_template == unmarked


def write_jsonl(path, records):
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records), encoding="utf-8")


@pytest.mark.parametrize("records, message", [
    ([{"prompt": "a", "completion": ""}], r"d.jsonl:1 column 'completion'.*empty completion"),
    ([{"prompt": "a", "completion": "b"}, {"prompt": " ", "completion": "b"}], r"d.jsonl:2 column 'prompt'.*empty prompt"),
    ([{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": ""}]}], "empty assistant turn"),
    ([{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]}],
     "does not end with an assistant turn"),
    ([{"messages": [{"role": "customer", "content": "a"}, {"role": "assistant", "content": "b"}]}], "unknown role 'customer'"),
    ([{"messages": "not a list"}], "not valid JSON"),
    ([{"text": "a", "label": "b"}], "cannot tell the data's shape"),
])
def test_bad_rows_are_named(records, message, tmp_path):
    from ecomsft.data.conversations import read_conversations
    from ecomsft.tasks.generation.config import GenerationSection

    write_jsonl(tmp_path / "d.jsonl", records)
    with pytest.raises(EcomsftError, match=message):
        read_conversations(str(tmp_path / "d.jsonl"), GenerationSection())


def test_alpaca_rows_and_the_command_line_errors(tiny_decoder, tiny_model_dir, tmp_path):
    from ecomsft.data.conversations import read_conversations
    from ecomsft.tasks.generation.config import GenerationSection

    write_jsonl(tmp_path / "a.jsonl", [{"instruction": "判断情感", "input": "很好", "output": "好评"},
                                       {"instruction": "判断情感：很差", "input": "", "output": "差评"}])
    read = read_conversations(str(tmp_path / "a.jsonl"), GenerationSection(system="你是客服"))
    assert read.format == "alpaca" and read.items[0][1]["content"] == "判断情感\n\n很好" and read.items[1][1]["content"] == "判断情感：很差"
    assert read.items[0][0] == {"role": "system", "content": "你是客服"}
    pd.DataFrame(review_rows(20)).to_csv(tmp_path / "d.csv", index=False)
    code, _, err = run_cli("train", "--task", "generation", "--data", tmp_path / "d.csv", "--model", tiny_model_dir,
                           "--output", tmp_path / "r")
    assert failed_in_one_line(code, err) and "'bert' is not a GPT-style decoder" in err and "extraction" in err
    assert not (tmp_path / "r").exists()
    code, _, err = run_cli("train", "--task", "generation", "--data", tmp_path / "d.csv", "--model", tiny_decoder,
                           "--output", tmp_path / "r", "--set", "task.quantization=4bit")
    assert failed_in_one_line(code, err) and "training.lora_r" in err


def test_recipes_convert_shop_files_and_their_configs_train(tiny_decoder, tmp_path):
    from pathlib import Path

    from ecomsft import api

    pd.DataFrame({"review": ["物流很快", "", "质量太差", "还行"], "label": [1, 0, 0, 1]}).to_csv(tmp_path / "r.csv", index=False)
    assert api.recipe_file("review-sentiment", str(tmp_path / "r.csv"), tmp_path / "s.jsonl") == 3  # the empty review dropped
    rows = pd.read_json(tmp_path / "s.jsonl", lines=True)
    assert rows["completion"].tolist() == ["好评", "差评", "好评"] and rows["prompt"][0].endswith("评论：物流很快")
    (tmp_path / "t.txt").write_text("小\tB-HP\n米\tE-HP\n手\tB-HC\n机\tE-HC\n新\tO\n\n华\tB-HP\n为\tE-HP\n", encoding="utf-8")
    code, out, err = run_cli("data", "recipe", "title-attributes", tmp_path / "t.txt", "--output", tmp_path / "a.jsonl")
    assert code == 0, err
    answers = [json.loads(c) for c in pd.read_json(tmp_path / "a.jsonl", lines=True)["completion"]]
    assert answers == [{"brand": ["小米"], "product": ["手机"]}, {"brand": ["华为"], "product": []}]
    pd.DataFrame({"title": ["小米手机", "苹果电脑"], "category": ["手机", "电脑"]}).to_csv(tmp_path / "c.csv", index=False)
    assert api.recipe_file("category", str(tmp_path / "c.csv"), tmp_path / "c.jsonl") == 2
    code, _, err = run_cli("data", "recipe", "poems", tmp_path / "c.csv", "--output", tmp_path / "x.jsonl")
    assert failed_in_one_line(code, err) and "unknown recipe" in err
    # Each shipped recipe config trains with a local decoder folder in place of its hub id.
    pd.DataFrame(review_rows(40)).to_json(tmp_path / "rows.jsonl", orient="records", lines=True, force_ascii=False)
    configs = sorted((Path(__file__).parents[1] / "configs").glob("generation-*.yaml"))
    assert len(configs) == 3
    for config in configs:
        cfg = api.resolve_config(str(config), {"model.name": str(tiny_decoder)})
        assert cfg.task.type == "generation" and cfg.training.lora_r == 16
    result = api.train(api.resolve_config(str(configs[1]), {
        "model.name": str(tiny_decoder), "data.train": str(tmp_path / "rows.jsonl"), "output": str(tmp_path / "run"),
        "model.max_length": 64, "training.max_steps": 1, "training.progress_bar": False, "task.eval_samples": 2}))
    assert result.metrics["test"]["rows"] == 2


def test_evaluate_judges_another_file_as_the_run_judged_its_test_split(generation_run, tmp_path):
    from ecomsft import api

    pd.DataFrame(review_rows(24, seed=3)).to_csv(tmp_path / "more.csv", index=False)
    report = api.evaluate(generation_run.run_dir, str(tmp_path / "more.csv"))
    assert report["rows"] == 24 and report["accuracy"] >= 0.9 and report["stopped_by_eos"] == 1.0
    assert report["unparseable"] == 0 and report["prompts_cut"] == 0
    code, out, err = run_cli("evaluate", generation_run.run_dir, "--data", tmp_path / "more.csv")
    assert code == 0 and "accuracy" in out, err
    pd.DataFrame({"prompt": ["评论：很好"]}).to_csv(tmp_path / "no-answers.csv", index=False)
    code, _, err = run_cli("evaluate", generation_run.run_dir, "--data", tmp_path / "no-answers.csv")
    assert failed_in_one_line(code, err)


def test_generate_route_refuses_beyond_max_queue(generation_run):
    import threading

    from ecomsft.inference.server import ServeSettings, create_app

    release, started = threading.Event(), threading.Event()
    with TestClient(create_app(ServeSettings(run=str(generation_run.run_dir), max_queue=1))) as client:
        model = client.app.state.ecomsft["predictor"]
        real = model.generate

        def slow(*args, **kwargs):
            started.set()
            release.wait(30)
            return real(*args, **kwargs)

        model.generate = slow
        first = {}
        worker = threading.Thread(target=lambda: first.update(answer=client.post("/v1/generate", json={"prompt": "评论1：物流很好快递"})))
        worker.start()
        assert started.wait(30)
        refused = client.post("/v1/generate", json={"prompt": "评论2：物流很好快递"})
        release.set()
        worker.join(30)
        assert refused.status_code == 503 and refused.headers["retry-after"] == "1" and "overloaded" in refused.json()["error"]
        assert first["answer"].status_code == 200


def test_packing_neftune_and_gradient_checkpointing_run(tiny_decoder, tmp_path, caplog):
    pd.DataFrame(review_rows(60)).to_csv(tmp_path / "d.csv", index=False)
    result = run(build_config(None, overrides(tiny_decoder, tmp_path / "d.csv", tmp_path / "run", **{
        "training.max_steps": 2, "task.packing": True, "task.neftune_alpha": 5.0, "task.gradient_checkpointing": True,
        "task.eval_samples": 3, "baseline": False})))
    assert result.metrics["training"]["packing"] is True and result.metrics["test"]["rows"] == 3
    assert "attend to each other" in caplog.text  # packing without FlashAttention is warned about


def test_answer_head_loss_is_the_models_own_loss_with_its_gradients(tiny_decoder, tmp_path):
    """The training loss that applies the LM head at the labelled positions only: the same value
    and gradients as TRL's loss (tiny Qwen2 with LoRA) and as the model's own loss on a Gemma 3
    with final-logit soft-capping; a model it cannot read falls back (None)."""
    import torch
    from transformers import AutoModelForCausalLM, Gemma3TextConfig
    from trl import SFTTrainer

    from ecomsft.training.sft import AnswerHeadSFTTrainer, answer_positions_loss

    pd.DataFrame(review_rows(20)).to_csv(tmp_path / "d.csv", index=False)
    task, trainer = prepared(tiny_decoder, tmp_path / "d.csv", tmp_path, **{"training.lora_r": 4, "training.lora_dropout": 0.0})
    assert isinstance(trainer, AnswerHeadSFTTrainer)
    model = trainer.model
    model.train()
    trainer.current_gradient_accumulation_steps = 1
    inputs = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    assert (inputs["labels"] == -100).float().mean() > 0.5  # most positions are prompt: what the head skips

    def value_and_grads(loss_of):
        model.zero_grad()
        loss = loss_of()
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in model.parameters() if p.requires_grad]

    mine, my_grads = value_and_grads(lambda: trainer.compute_loss(model, dict(inputs)))
    trl, trl_grads = value_and_grads(lambda: SFTTrainer.compute_loss(trainer, model, dict(inputs)))
    assert torch.allclose(mine, trl, atol=1e-5)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(my_grads, trl_grads))

    torch.manual_seed(0)
    gemma = AutoModelForCausalLM.from_config(Gemma3TextConfig(
        vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, head_dim=16, final_logit_softcapping=5.0))
    ids = torch.randint(0, 300, (3, 12))
    labels = ids.clone()
    labels[:, :8] = -100
    labels[2, 10:] = -100  # rows whose answers end at different places
    own = gemma(input_ids=ids, labels=labels).loss
    assert torch.allclose(answer_positions_loss(gemma, {"input_ids": ids, "labels": labels}), own, atol=1e-5)
    assert answer_positions_loss(torch.nn.Linear(2, 2), {"labels": labels}) is None


def test_lora_layers_puts_adapters_in_the_last_layers_only(tiny_decoder, tmp_path):
    """training.lora_layers: adapters in the last N layers only (the backward pass stops below
    them); more layers than the model has, or without lora_r: one line each."""
    pd.DataFrame(review_rows(20)).to_csv(tmp_path / "d.csv", index=False)
    task, trainer = prepared(tiny_decoder, tmp_path / "d.csv", tmp_path, **{"training.lora_r": 4, "training.lora_layers": 1})
    layers = trainer.model.get_base_model().config.num_hidden_layers
    adapted = {int(name.split(".layers.")[1].split(".")[0]) for name, _ in trainer.model.named_parameters() if "lora_" in name}
    assert adapted == {layers - 1}
    with pytest.raises(EcomsftError, match="training.lora_layers 9 is more than the model's"):
        prepared(tiny_decoder, tmp_path / "d.csv", tmp_path, **{"training.lora_r": 4, "training.lora_layers": 9})
    with pytest.raises(EcomsftError, match="set training.lora_r too"):
        build_config(None, overrides(tiny_decoder, tmp_path / "d.csv", tmp_path / "r", **{"training.lora_layers": 1}))


def test_the_summary_after_training_reads_label_and_text_generation_runs(generation_run, monkeypatch):
    """``ecomsft train`` prints a generation run's own summary, whether its answers are labels or
    free text (a text run once fell through to the pretraining summary)."""
    import io
    from types import SimpleNamespace

    from ecomsft.report import terminal as render

    def printed(result) -> str:
        out = io.StringIO()
        monkeypatch.setattr(render.console, "file", out)
        monkeypatch.setattr(render.console, "width", 200)
        render.run_summary(result)
        return out.getvalue()

    label = printed(generation_run)
    assert "test generations" in label and "most frequent answer" in label and "ecomsft generate" in label
    text_run = {**generation_run.metrics, "labels": None, "data": {**generation_run.metrics["data"], "completion_kind": "text"}}
    assert "text answers" in printed(SimpleNamespace(metrics=text_run, run_dir=generation_run.run_dir))


def test_group_by_length_batches_rows_of_similar_length(tiny_decoder, tmp_path):
    """training.group_by_length (off by default for generation): the training batches hold rows of
    similar token lengths, so far fewer pad positions than batches drawn at random."""
    rows = [{"prompt": r["prompt"] + "快递" * (i % 13), "completion": r["completion"]} for i, r in enumerate(review_rows(400))]
    pd.DataFrame(rows).to_csv(tmp_path / "d.csv", index=False)
    assert build_config(None, overrides(tiny_decoder, tmp_path / "d.csv", tmp_path / "r")).training.group_by_length is False

    def padding(grouped: bool) -> float:
        _, trainer = prepared(tiny_decoder, tmp_path / "d.csv", tmp_path, **{"training.group_by_length": grouped,
                                                                              "training.batch_size": 8})
        masks = [batch["attention_mask"] for batch in trainer.get_train_dataloader()]
        return sum(m.numel() for m in masks) / sum(int(m.sum()) for m in masks)  # padded positions per real token

    grouped, at_random = padding(True), padding(False)
    assert grouped < 1.1 and at_random > 1.2  # measured: 1.04 against 1.34
