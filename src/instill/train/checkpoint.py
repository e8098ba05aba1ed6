"""Resumable checkpoints (accelerate state + our step counter) and the final save_pretrained folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from instill.chat_format import ChatFormat
from instill.model_source import CHAT_FILE


def checkpoint_dir(run_dir: Path, step: int) -> Path:
    return run_dir / "checkpoints" / f"step-{step:07d}"


def latest_checkpoint(run_dir: Path) -> Path | None:
    found = sorted((run_dir / "checkpoints").glob("step-*/trainer_state.json"))
    return found[-1].parent if found else None


def save_checkpoint(accelerator: Any, run_dir: Path, step: int, state: dict, keep: int) -> Path:
    """Save everything a resume needs; trainer_state.json is written last, so its presence marks a whole checkpoint."""
    path = checkpoint_dir(run_dir, step)
    accelerator.save_state(str(path))
    accelerator.wait_for_everyone()  # every process has written its part before the checkpoint is marked whole
    if accelerator.is_main_process:
        (path / "trainer_state.json").write_text(json.dumps({"step": step, **state}, indent=1))
        complete = sorted((run_dir / "checkpoints").glob("step-*/trainer_state.json"))
        for old in complete[:-keep]:
            shutil.rmtree(old.parent, ignore_errors=True)
    accelerator.wait_for_everyone()
    return path


def load_checkpoint(accelerator: Any, path: Path) -> dict:
    accelerator.load_state(str(path))
    return json.loads((path / "trainer_state.json").read_text())


def save_model(
    model: Any, tokenizer: Any, fmt: ChatFormat, out: Path, merge_lora: bool, state_dict: dict | None = None
) -> Path:
    """A folder transformers loads as is: weights, tokenizer with its chat template, generation stop ids.

    An unmerged LoRA run saves the adapter (peft's format); `instill generate` and `chat` load it with its base.
    Written to `out.partial` and renamed when whole: a kill at any moment leaves no model folder or a whole one
    (the checkpoints stay, so a rerun finishes the run).
    """
    final, out = out, out.with_name(out.name + ".partial")
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    if merge_lora and hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    eot_id = fmt.end_of_turn_id(tokenizer)
    gen = getattr(model, "generation_config", None)
    if gen is not None and eot_id is not None:
        stops = {eot_id, *([tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else [])}
        gen.eos_token_id = sorted(stops)
        gen.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(str(out), **({"state_dict": state_dict} if state_dict is not None else {}))
    tokenizer.chat_template = fmt.template
    tokenizer.save_pretrained(str(out))
    (out / CHAT_FILE).write_text(json.dumps({"end_of_turn": fmt.end_of_turn}, indent=1))
    shutil.rmtree(final, ignore_errors=True)  # a model saved before (train.resume=true ran again): replaced whole
    out.rename(final)
    return final
