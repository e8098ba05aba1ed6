"""Evaluate one model on a list of items and write what it said: predictions.jsonl and metrics.json.

`metrics.json` records the settings and a fingerprint of the items: what was asked, beside the scores. `instill run`
records each evaluation's settings hash in its stages.json and decides from that; it reads the settings here only in
folders older instill evaluated (`is_done`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any, Sequence

from instill.config import EvalConfig
from instill.evaluate.items import EvalRow
from instill.evaluate.predict import answer_all
from instill.evaluate.scoring import prediction_row, score_item, summarize
from instill.files import write_text_atomic

log = logging.getLogger(__name__)

PREDICTIONS = "predictions.jsonl"
METRICS = "metrics.json"


def items_fingerprint(items: Sequence[EvalRow]) -> str:
    """A hash of the questions and expected answers, in order."""
    h = hashlib.sha256()
    for it in items:
        asked = [it.task, it.messages, it.references, it.options, it.answer, it.format]
        if it.instance_id is not None:  # only where set: fingerprints of items without ids stay as they were
            asked.append(it.instance_id)
        h.update(json.dumps(asked, sort_keys=True).encode())
    return h.hexdigest()[:16]


def model_stamp(model: str) -> str:
    """Which weights a model name means now: a folder's files with their sizes and times (so a model retrained
    in the same folder is evaluated again), or the hub id itself."""
    folder = Path(model)
    if not folder.is_dir():
        return str(model)
    h = hashlib.sha256()
    for f in sorted(folder.rglob("*")):
        if f.is_file():
            st = f.stat()
            h.update(f"{f.relative_to(folder)}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:16]


def settings_of(model: str, items: Sequence[EvalRow], cfg: EvalConfig) -> dict[str, Any]:
    """What determines an evaluation's result: the model, the items and how they are asked."""
    asked = cfg.model_dump(include={"options", "normalize", "prompt_style", "max_new_tokens", "cot_max_new_tokens",
                                    "precision"})
    return {"model": str(model), "weights": model_stamp(model), "items": items_fingerprint(items),
            "n_items": len(items), **asked}


def is_done(out_dir: Path, settings: dict[str, Any]) -> bool:
    """True when out_dir holds a finished evaluation with these settings."""
    path = out_dir / METRICS
    if not path.is_file() or not (out_dir / PREDICTIONS).is_file():
        return False
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("settings") == settings
    except json.JSONDecodeError:
        return False


def evaluate_model(model: str, items: Sequence[EvalRow], cfg: EvalConfig, out_dir: str | Path,
                   progress: bool = True) -> dict[str, Any]:
    """Load `model`, answer every item, score, and write predictions.jsonl and metrics.json to `out_dir`."""
    import torch

    from instill.inference.chat_model import load_chat_model

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    cm = load_chat_model(model, precision=cfg.precision)
    with torch.inference_mode():
        answers = answer_all(cm, items, style=cfg.prompt_style, options_mode=cfg.options, normalize=cfg.normalize,
                             max_new_tokens=cfg.max_new_tokens, cot_max_new_tokens=cfg.cot_max_new_tokens,
                             batch_size=cfg.batch_size, progress=progress)
    rows = [prediction_row(it, a, score_item(it, a)) for it, a in zip(items, answers)]
    tmp = out / (PREDICTIONS + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    tmp.replace(out / PREDICTIONS)
    result = {"settings": settings_of(model, items, cfg), "seconds": round(time.perf_counter() - t0, 2),
              "prompts_cut": sum(a.prompt_cut for a in answers), **summarize(rows)}
    if result["prompts_cut"]:
        log.warning("%d of %d prompts were cut to fit the model's positions with the answer", result["prompts_cut"],
                    len(rows))
    write_text_atomic(out / METRICS, json.dumps(result, indent=1))  # last: marks the evaluation done
    log.info("%s: score %.2f over %d items (%s)", model, result["overall"].get("score", 0.0), len(rows), out)
    return result


def read_predictions(out_dir: str | Path) -> list[dict[str, Any]]:
    with (Path(out_dir) / PREDICTIONS).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
