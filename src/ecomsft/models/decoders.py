"""GPT-style decoders for generation: telling a decoder from an encoder, the chat template and
pad token a tokenizer needs for SFT, and small decoders built in code (random weights, a BPE
tokenizer trained on the given texts) for offline tests and from-scratch runs."""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import EcomsftError

log = logging.getLogger("ecomsft")

# A plain template whose assistant turns are marked for assistant-only loss ({% generation %}),
# EOS inside the mark so that stopping is learnt; set when the tokenizer has none (or, for
# conversations, when its own cannot be marked) and saved with the model, so that generation
# formats prompts as training did.
DEFAULT_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|assistant|>\n' }}{% generation %}{{ message['content'] + eos_token }}{% endgeneration %}"
    "{% else %}{{ '<|' + message['role'] + '|>\n' + message['content'] + '\n' }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)


def default_chat_template(tokenizer) -> str:
    """The default template, after the BOS token for a tokenizer that starts every text with one
    (Gemma, Llama): chat templates are rendered without the tokenizer's own special tokens."""
    if getattr(tokenizer, "add_bos_token", False) and tokenizer.bos_token:
        return "{{ bos_token }}" + DEFAULT_CHAT_TEMPLATE
    return DEFAULT_CHAT_TEMPLATE


TEMPLATE_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>"]
PAD_TOKEN = "<|pad|>"

# Model types whose checkpoints are encoders (or encoder-decoders): not for task generation.
_ENCODER_TYPES = {"bert", "roberta", "xlm-roberta", "distilbert", "albert", "electra", "deberta", "deberta-v2", "mpnet",
                  "ernie", "camembert", "modernbert", "nezha", "convbert", "funnel", "layoutlm", "xlm", "megatron-bert",
                  "t5", "mt5", "bart", "mbart", "pegasus", "marian"}


def check_decoder(config, where: str) -> None:
    """One line when ``config`` is not a causal (GPT-style) language model."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    kind = getattr(config, "model_type", "")
    if kind in _ENCODER_TYPES or getattr(config, "is_encoder_decoder", False) or kind not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise EcomsftError(
            f"'{kind}' is not a GPT-style decoder: task generation needs one (Qwen2, Llama, GPT-2, ...); an encoder "
            "does classification, relevance, retrieval, extraction or pretraining", where=where)


def has_generation_marks(template) -> bool:
    from trl.chat_template_utils import has_generation_markers

    return bool(template) and has_generation_markers(template)


def prepare_tokenizer(tokenizer, conversations: bool, fallback: bool) -> list[str]:
    """Give ``tokenizer`` what SFT needs: a chat template (the default one where it has none, or
    where conversations need assistant marks its own cannot give: TRL patches the templates it
    knows) and a pad token distinct from EOS. Returns the tokens added to the vocabulary."""
    added = []
    if tokenizer.eos_token is None:
        raise EcomsftError("the tokenizer has no EOS token: generation could never learn to stop")
    template = tokenizer.chat_template
    if not template:
        tokenizer.chat_template = default_chat_template(tokenizer)
    elif conversations and not has_generation_marks(template):
        from trl.chat_template_utils import get_training_chat_template

        try:
            patched = get_training_chat_template(tokenizer)
        except ValueError:
            patched = None
        if patched:
            tokenizer.chat_template = patched
        elif not fallback:
            raise EcomsftError("the tokenizer's chat template does not mark assistant turns ({% generation %}), which "
                               "assistant-only loss needs; set task.template_fallback: true to use the default template")
        else:
            log.warning("the tokenizer's chat template cannot mark assistant turns: using ecomsft's default template "
                        "(saved with the model)")
            tokenizer.chat_template = default_chat_template(tokenizer)
    if tokenizer.pad_token is None or tokenizer.pad_token == tokenizer.eos_token:
        # A pad distinct from EOS, so that nothing that masks padding can mask the learnt EOS too.
        added += [PAD_TOKEN] if tokenizer.add_special_tokens({"pad_token": PAD_TOKEN}) else []
    return added


def build_decoder(folder: str | Path, texts: list[str], *, architecture: str = "qwen2", vocab_size: int = 2000,
                  hidden: int = 128, layers: int = 2, heads: int = 4, max_positions: int = 512, seed: int = 0) -> Path:
    """A randomly initialised decoder (``qwen2``, ``gpt2`` or ``llama``) with a byte-level BPE
    tokenizer trained on ``texts``, saved like a hub model into ``folder``; no chat template (the
    default one is set at training)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        GPT2Config,
        GPT2LMHeadModel,
        LlamaConfig,
        LlamaForCausalLM,
        PreTrainedTokenizerFast,
        Qwen2Config,
        Qwen2ForCausalLM,
    )

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", PAD_TOKEN, *TEMPLATE_TOKENS]
    core.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|endoftext|>", pad_token=PAD_TOKEN,
                                        additional_special_tokens=TEMPLATE_TOKENS, model_max_length=max_positions)
    tokenizer.save_pretrained(folder)
    ids = {"vocab_size": len(tokenizer), "bos_token_id": tokenizer.eos_token_id, "eos_token_id": tokenizer.eos_token_id,
           "pad_token_id": tokenizer.pad_token_id}
    torch.manual_seed(seed)
    if architecture == "gpt2":
        model = GPT2LMHeadModel(GPT2Config(n_embd=hidden, n_layer=layers, n_head=heads, n_positions=max_positions, **ids))
    elif architecture in ("qwen2", "llama"):
        config_class, model_class = (Qwen2Config, Qwen2ForCausalLM) if architecture == "qwen2" else (LlamaConfig, LlamaForCausalLM)
        model = model_class(config_class(hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
                                         num_attention_heads=heads, num_key_value_heads=max(1, heads // 2),
                                         max_position_embeddings=max_positions, tie_word_embeddings=True, **ids))
    else:
        raise EcomsftError(f"unknown architecture '{architecture}' (qwen2, llama or gpt2)")
    model.save_pretrained(folder)
    return folder
