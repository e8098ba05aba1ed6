"""Load a model and its tokenizer: a hub id or local folder, or the embedded tiny default built offline."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import torch

from instill.chat_format import CHATML_TEMPLATE
from instill.config import ModelConfig, TinyModelConfig
from instill.errors import InstillError
from instill.model_source import named_model_hint, resolve_model

TINY_SPECIAL_TOKENS = ["<|pad|>", "<|endoftext|>", "<|im_start|>", "<|im_end|>"]


@dataclass
class Loaded:
    model: Any
    tokenizer: Any
    is_seq2seq: bool
    folder: str | None = None  # the folder it was read from (a converted GGUF's cache folder), None for a hub id


def train_tiny_tokenizer(texts: Iterable[str], vocab_size: int) -> Any:
    """A byte-level BPE tokenizer trained on `texts`, with ChatML turn tokens and chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=TINY_SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tk.train_from_iterator(texts, trainer=trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk, pad_token="<|pad|>", eos_token="<|im_end|>", bos_token=None, model_max_length=4096
    )
    tok.chat_template = CHATML_TEMPLATE
    return tok


def build_tiny_model(cfg: TinyModelConfig, tokenizer: Any, seed: int) -> Any:
    """A randomly initialized Llama sized by `cfg` (deterministic for a seed)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_heads,
        max_position_embeddings=cfg.max_position_embeddings,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or Path(name).exists() or name.count("/") > 1 or "\\" in name


def load_pretrained(name: str, trust_remote_code: bool = False, dtype: torch.dtype = torch.float32) -> Loaded:
    """Load a model folder, GGUF file, named offline model or hub id (see `model_source`) with the Auto classes;
    encoder-decoders come as AutoModelForSeq2SeqLM."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    if _looks_like_path(name) and not Path(name).expanduser().exists():
        raise InstillError(f"model path '{name}' does not exist")
    asked, name = name, resolve_model(name)
    if (Path(name) / "adapter_config.json").is_file():
        return _load_adapter(name, dtype)
    try:
        config = AutoConfig.from_pretrained(name, trust_remote_code=trust_remote_code)
        tokenizer = AutoTokenizer.from_pretrained(name, trust_remote_code=trust_remote_code)
        auto = AutoModelForSeq2SeqLM if config.is_encoder_decoder else AutoModelForCausalLM
        model = auto.from_pretrained(name, dtype=dtype, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        hint = named_model_hint(asked)
        raise InstillError(f"{hint}; the hub said: {reason}" if hint else f"could not load model '{name}': {reason}") from None
    if tokenizer.pad_token is None:  # many base models have none; padded positions never carry loss
        tokenizer.pad_token = tokenizer.eos_token
    folder = name if Path(name).is_dir() else None
    return Loaded(model, tokenizer, bool(config.is_encoder_decoder), folder)


def _load_adapter(folder: str, dtype: torch.dtype) -> Loaded:
    """An unmerged LoRA folder: its base model (named in adapter_config.json) plus the adapter, merged for speed."""
    import json

    from peft import AutoPeftModelForCausalLM, AutoPeftModelForSeq2SeqLM
    from transformers import AutoTokenizer

    task = json.loads((Path(folder) / "adapter_config.json").read_text()).get("task_type")
    auto = AutoPeftModelForSeq2SeqLM if task == "SEQ_2_SEQ_LM" else AutoPeftModelForCausalLM
    try:
        model = auto.from_pretrained(folder, dtype=dtype).merge_and_unload()
    except (OSError, ValueError) as e:
        raise InstillError(f"could not load the base model of adapter '{folder}': {str(e).splitlines()[0]}") from None
    return Loaded(model, AutoTokenizer.from_pretrained(folder), task == "SEQ_2_SEQ_LM", folder)


def attn_implementation(name: str, is_seq2seq: bool) -> str | None:
    """The attention kernels for model.attn_implementation; None keeps transformers' default (sdpa).

    auto picks flash-attention 2 on CUDA when flash-attn is installed: its variable-length kernels give packed
    batches attention inside each sequence at the cost of each sequence alone.
    """
    if name != "auto":
        return name
    if not is_seq2seq and torch.cuda.is_available() and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return None


def load_for_training(cfg: ModelConfig, train_texts: Iterable[str], seed: int) -> Loaded:
    """The model a recipe asks for; `train_texts` feed the tiny tokenizer when `name` is 'tiny'."""
    if cfg.name == "tiny":
        tokenizer = train_tiny_tokenizer(train_texts, cfg.tiny.vocab_size)
        loaded = Loaded(build_tiny_model(cfg.tiny, tokenizer, seed), tokenizer, False)
    else:
        loaded = load_pretrained(cfg.name, cfg.trust_remote_code)
    impl = attn_implementation(cfg.attn_implementation, loaded.is_seq2seq)
    if impl is not None:
        try:
            loaded.model.set_attn_implementation(impl)
        except (ValueError, ImportError) as e:
            raise InstillError(f"model.attn_implementation={impl}: {str(e).splitlines()[0]}") from None
    return loaded
