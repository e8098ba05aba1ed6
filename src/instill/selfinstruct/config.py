"""`SelfInstructConfig`: every knob of the pipeline, with the paper's values (and Alpaca's) as defaults.

A YAML file with these fields (any subset) is passed as `--config`; `key=value` overrides work as for recipes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError

from instill.config import Strict, apply_override, describe_errors, override_setters
from instill.errors import InstillError
from instill.files import invalid_yaml, read_utf8, yaml_kind
from instill.inference.sampling import SamplingParams, sampling_field
from instill.llm.load import BackendConfig
from instill.selfinstruct import prompts

PAPER_BLACKLIST = ["image", "images", "graph", "graphs", "picture", "pictures", "file", "files", "map", "maps",
                   "draw", "plot", "go to"]
ALPACA_EXTRA_BLACKLIST = ["video", "audio", "music", "flowchart", "diagram"]


class Decoding(Strict):
    """Sampling for one kind of request: SamplingParams' fields, bounds and defaults (max_tokens must be given)."""

    max_tokens: int = sampling_field("max_tokens", ...)
    temperature: float = sampling_field("temperature")
    top_p: float = sampling_field("top_p")
    presence_penalty: float = sampling_field("presence_penalty")
    frequency_penalty: float = sampling_field("frequency_penalty")
    stop: list[str] = Field(default_factory=list, max_length=4, description="at most 4, as the OpenAI API allows")

    def params(self, seed: int | None) -> SamplingParams:
        return SamplingParams(max_tokens=self.max_tokens, temperature=self.temperature, top_p=self.top_p,
                              stop=tuple(self.stop), presence_penalty=self.presence_penalty,
                              frequency_penalty=self.frequency_penalty, seed=seed)


class Prompts(Strict):
    instruction_header: str = prompts.INSTRUCTION_HEADER
    classification_question: str = prompts.CLASSIFICATION_QUESTION
    classification_examples: list[tuple[str, bool]] = Field(default_factory=lambda: list(prompts.CLASSIFICATION_EXAMPLES))
    input_first_intro: str = prompts.INPUT_FIRST_INTRO
    input_first_exemplars: str = prompts.INPUT_FIRST_EXEMPLARS
    output_first_intro: str = prompts.OUTPUT_FIRST_INTRO
    output_first_exemplars: str = prompts.OUTPUT_FIRST_EXEMPLARS
    alpaca: str = Field(prompts.ALPACA_PROMPT, description="fields: {num_tasks}, {tasks}")


class Filters(Strict):
    min_words: int = Field(3, ge=0, description="drop instructions with this many words or fewer")
    max_words: int = Field(150, gt=0, description="drop instructions with more words")
    blacklist: list[str] = Field(default_factory=lambda: list(PAPER_BLACKLIST),
                                 description="whole words or phrases, case-insensitive")
    alpaca_extra_blacklist: list[str] = Field(default_factory=lambda: list(ALPACA_EXTRA_BLACKLIST),
                                              description="added to the blacklist in --style alpaca")
    bad_starts: list[str] = Field(default_factory=lambda: ["Write a program"])
    novelty_threshold: float = Field(0.7, ge=0, le=1, description="reject when max ROUGE-L F1 > this")
    neighbours: int = Field(10, ge=0, description="most similar instructions stored per kept one (0: skip them "
                            "and the mean similarity)")
    novelty_workers: int | None = Field(None, ge=1, description="threads scoring the novelty filter's pool chunks "
                                        "(None: every core); decisions do not depend on it")
    max_instances: int = Field(5, gt=0, description="instances kept per task")


class AlpacaStyle(Strict):
    seed_tasks: int = Field(3, gt=0, description="seed tasks shown per prompt (never machine-made ones)")
    tasks_per_call: int = Field(20, gt=1, description="tasks the prompt asks for, seed tasks included")
    decoding: Decoding = Decoding(max_tokens=3072, temperature=1.0, top_p=1.0, stop=["\n20", "20.", "20 ."])


class SelfInstructConfig(Strict):
    """One Self-Instruct (or Alpaca-style) run. `out_dir` holds the append-only store; a run started again on the
    same folder resumes."""

    out_dir: str = Field(description="output folder: store.jsonl, pool.jsonl, exports")
    backend: BackendConfig = Field(description="{backend: openai, base_url, model} or {backend: local, model}")
    api: Literal["completion", "chat"] = Field("completion", description="prompt as plain text or as one user turn")
    seeds: str = Field("builtin", description="seed task JSONL; 'builtin' = the 175 instill ships")
    style: Literal["self-instruct", "alpaca"] = "self-instruct"
    target: int = Field(100, gt=0, description="machine-made instructions to keep")
    seed: int = Field(0, description="makes prompts (and sampling, where the backend allows) repeatable")
    concurrency: int = Field(8, gt=0, description="requests in flight at once")
    max_requests: int | None = Field(None, gt=0, description="stop after this many generation requests "
                                     "(all runs of this folder together); null: no limit")
    give_up_after: int = Field(100, gt=0, description="stop when this many generation requests in a row "
                               "keep nothing (a model that only writes junk)")
    prompt_instructions: int = Field(8, gt=0, description="instructions shown per generation prompt")
    max_machine_in_prompt: int = Field(2, ge=0, description="of which at most this many machine-made")
    prompts: Prompts = Prompts()
    filters: Filters = Filters()
    instructions: Decoding = Decoding(max_tokens=1024, temperature=0.7, top_p=0.5, presence_penalty=2.0,
                                      stop=["\n\n", "\n16", "16.", "16 ."])
    classify: Decoding = Decoding(max_tokens=3)
    instances: Decoding = Decoding(max_tokens=300, stop=["Task:"])
    alpaca: AlpacaStyle = AlpacaStyle()


def with_defaults(model: type[BaseModel], tree: dict[str, Any]) -> dict[str, Any]:
    """`tree` with each partly given block merged onto that field's own default instance.

    A field such as `instructions: Decoding = Decoding(max_tokens=1024, temperature=0.7, stop=[...])` keeps the
    paper's values in its default instance, not in `Decoding`'s field defaults; without this,
    `instructions.max_tokens=256` would validate to a Decoding with temperature 0 and no stop texts. The
    instance's dump holds its nested blocks too, so one deep merge covers every level."""
    out = dict(tree)
    for name, field in model.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if isinstance(out.get(name), dict) and isinstance(default, BaseModel):
            out[name] = _deep_merge(default.model_dump(), out[name])
    return out


def _deep_merge(base: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for k, v in given.items():
        merged[k] = _deep_merge(merged[k], v) if isinstance(v, dict) and isinstance(merged.get(k), dict) else v
    return merged


def load_config(path: str | Path | None, overrides: list[str] = (), **fields: Any) -> SelfInstructConfig:
    """A config from an optional YAML file, then `fields` (CLI options that were given), then `key=value`
    overrides; each error names the field and where it was set (the file, the command line or the override)."""
    tree: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise InstillError(f"{p}: config not found")
        try:
            tree = yaml.safe_load(read_utf8(p, "Self-Instruct config")) or {}
        except yaml.YAMLError as e:
            raise invalid_yaml(p, e) from None
        if not isinstance(tree, dict):
            raise InstillError(f"{p}: a config must be a mapping of fields at its top level, got {yaml_kind(tree)}")
    setters: list[tuple[str, str]] = []
    for k, v in fields.items():
        if v is not None:
            if isinstance(v, dict) and isinstance(tree.get(k), dict):
                tree[k] = {**tree[k], **v}
            else:
                tree[k] = v
            setters += [(f"{k}.{sub}", "command line") for sub in v] if isinstance(v, dict) else [(k, "command line")]
    for assignment in overrides:
        apply_override(tree, assignment)
    try:
        return SelfInstructConfig.model_validate(with_defaults(SelfInstructConfig, tree))
    except ValidationError as e:
        source = str(path) if path is not None else "selfinstruct config"
        raise InstillError(describe_errors(e, source, setters + override_setters(list(overrides)),
                                           SelfInstructConfig)) from None
