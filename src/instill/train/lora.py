"""LoRA: adapters on a model, and the fp32 model a LoRA run saves (merged onto the base's own fp32 weights, or
gathered from a sharded run)."""

from __future__ import annotations

from typing import Any

import torch

from instill.config import Recipe, TrainConfig
from instill.errors import InstillError


def apply_lora(model: Any, cfg: TrainConfig, is_seq2seq: bool) -> Any:
    """The model wrapped by peft with the recipe's LoRA adapters (train.lora), for causal or seq2seq LM."""
    from peft import LoraConfig, TaskType, get_peft_model

    lora = LoraConfig(
        r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
        target_modules=cfg.lora.target_modules,
        task_type=TaskType.SEQ_2_SEQ_LM if is_seq2seq else TaskType.CAUSAL_LM,
    )
    return get_peft_model(model, lora)


def fp32_base(recipe: Recipe, tokenizer: Any) -> Any:
    """The base model loaded again in fp32 (the tiny model rebuilt from its seed), for merging or gathering LoRA."""
    from instill.modeling import build_tiny_model, load_pretrained

    if recipe.model.name == "tiny":
        with torch.random.fork_rng(devices=[]):  # build_tiny_model seeds the global generator
            return build_tiny_model(recipe.model.tiny, tokenizer, recipe.seed)
    return load_pretrained(recipe.model.name, recipe.model.trust_remote_code).model


def fp32_lora_base(model: Any, recipe: Recipe, tokenizer: Any) -> Any:
    """A LoRA model whose frozen base was stored in bf16 for training, in fp32 with the base's own weights, to merge.

    `.float()` alone kept bf16's rounding in every base weight, those no adapter touches (embeddings, norms)
    included: the merged model was not base + adapter, and differed from the adapter saved unmerged and loaded on
    its base. The base is loaded again (the tiny model rebuilt from its seed) and its weights put back.
    """
    weights = fp32_base(recipe, tokenizer).state_dict()
    frozen = {n: p for n, p in model.named_parameters() if p.dtype == torch.bfloat16}
    key = {n: n.removeprefix("base_model.model.").replace(".base_layer.", ".") for n in frozen}  # peft's names
    missing = [n for n in frozen if key[n] not in weights]
    if missing:
        raise InstillError(f"saving the merged LoRA model: {missing[0]} has no weight in {recipe.model.name}")
    with torch.no_grad():
        for n, p in frozen.items():
            p.data = weights[key[n]].to(device=p.device, dtype=torch.float32)
    return model.float()


def whole_lora_model(state: dict, recipe: Recipe, tokenizer: Any, is_seq2seq: bool) -> Any:
    """A LoRA model to save from a sharded run (FSDP, ZeRO-3), on the main process: its own copy holds shards
    (DTensors), whose merge would need every process. The base is loaded again in fp32 (the tiny model rebuilt
    from its seed) and given the same adapters, whose trained weights come from the gathered state dict."""
    model = apply_lora(fp32_base(recipe, tokenizer), recipe.train, is_seq2seq)
    adapters = {k: v.float() for k, v in state.items() if "lora_" in k}
    missing = [k for k in model.state_dict() if "lora_" in k and k not in adapters]
    if missing or not adapters:
        raise InstillError(f"saving the LoRA model: the gathered weights lack {missing[:1] or 'every adapter'}")
    model.load_state_dict(adapters, strict=False)
    return model
