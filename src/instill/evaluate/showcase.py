"""The seeds' picture: a base model continues a prompt as text; the tuned model answers it.

For a handful of prompts, the base model gets the bare text (its tokenizer's BOS, no chat template: the way a base
model is used) and the tuned one the prompt as a user turn, both greedy. Written to `showcase.json`, shown in the
report beside each other.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from instill.files import write_text_atomic

SHOWCASE_FILE = "showcase.json"


def showcase(base: str, tuned: str, prompts: Sequence[str], max_new_tokens: int, precision: str) -> list[dict]:
    """[{prompt, base, tuned}] for each prompt: the base model's raw continuation, the tuned model's answer."""
    import torch

    from instill.inference.chat_model import load_chat_model
    from instill.inference.engine import generate
    from instill.inference.sampling import SamplingParams

    params = SamplingParams(max_tokens=max_new_tokens)
    rows: list[dict[str, Any]] = [{"prompt": p} for p in prompts]
    with torch.inference_mode():
        cm = load_chat_model(base, precision=precision)
        for r in rows:
            r["base"] = generate(cm, cm.raw_ids(r["prompt"]), params).text.strip()
        cm = load_chat_model(tuned, precision=precision)
        for r in rows:
            r["tuned"] = generate(cm, cm.chat_ids([{"role": "user", "content": r["prompt"]}]), params).text.strip()
    return rows


def write_showcase(path: Path, rows: list[dict], settings: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps({"settings": settings, "rows": rows}, indent=1, ensure_ascii=False))


def read_showcase(path: Path, settings: dict[str, Any] | None = None) -> list[dict] | None:
    """The rows of a showcase file (None when missing, or made with other settings than `settings`)."""
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if settings is not None and data.get("settings") != settings:
        return None
    return data["rows"]
