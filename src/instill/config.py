"""Recipes: YAML validated by pydantic, any field overridable as `key=value` on the command line.

Defaults live here, in the schema, and nowhere else. Unknown keys are errors that suggest the closest known key.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from instill.errors import InstillError
from instill.files import invalid_yaml, read_utf8, yaml_kind
from instill.formats import PROMPT_FORMATS
from instill.precision import Precision
from instill.sources import SOURCE_FORMATS
from instill.tasks.collections import COLLECTIONS
from instill.train.batching import BATCHINGS


PromptFormat = Literal[PROMPT_FORMATS]  # type: ignore[valid-type]  # instill.formats renders them


class Strict(BaseModel):
    # numbers given to text fields (run_dir=2024 on the command line) are kept as text
    model_config = ConfigDict(extra="forbid", validate_assignment=True, coerce_numbers_to_str=True)


class TinyModelConfig(Strict):
    """The embedded default: a small Llama built from this config, with a BPE tokenizer trained on the data."""

    hidden_size: int = Field(128, gt=0, description="width of the residual stream")
    num_layers: int = Field(4, gt=0)
    num_heads: int = Field(4, gt=0)
    intermediate_size: int = Field(384, gt=0, description="width of the MLP")
    vocab_size: int = Field(2048, ge=300, description="BPE vocabulary trained on the training data")
    max_position_embeddings: int = Field(1024, gt=0)

    @model_validator(mode="after")
    def _heads_divide_width(self) -> "TinyModelConfig":
        if self.hidden_size % self.num_heads or (self.hidden_size // self.num_heads) % 2:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be num_heads ({self.num_heads}) times an even head size"
            )
        return self


class ModelConfig(Strict):
    name: str = Field("tiny", description="'tiny', a hub id, or a local folder saved with save_pretrained")
    tiny: TinyModelConfig = TinyModelConfig()
    attn_implementation: Literal["auto", "sdpa", "eager", "flash_attention_2", "flash_attention_3"] = Field(
        "auto", description="attention kernels; auto = flash_attention_2 on CUDA when flash-attn is installed "
        "(variable-length kernels for packed batches), else transformers' default (sdpa)")
    trust_remote_code: bool = False


class SourceConfig(Strict):
    """One data source: a local file (or builtin:NAME) or a hub dataset, in one named format."""

    format: Literal[tuple(SOURCE_FORMATS)]  # type: ignore[valid-type]  # the loaders' registry is the list
    path: str | None = None
    hub: str | None = None
    subset: str | None = None
    split: str = "train"
    limit: int | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _one_location(self) -> "SourceConfig":
        if (self.path is None) == (self.hub is None):
            raise ValueError("give exactly one of 'path' or 'hub'")
        return self


class DataConfig(Strict):
    train: list[SourceConfig] = Field(default_factory=list, description="record sources (a mixture may add more)")
    validation: list[SourceConfig] = Field(default_factory=list, description="held-out data for validation loss")
    validation_fraction: float = Field(0.0, ge=0.0, lt=1.0, description="split this much of train off instead")
    max_length: int = Field(512, gt=8, description="tokens per sequence (encoder side for encoder-decoders)")
    max_target_length: int = Field(256, gt=0, description="encoder-decoder only: longest decoder target")
    keep_prompt_head: int = Field(64, ge=0, description="when a prompt is cut, keep this many of its first tokens")
    train_on: Literal["all", "last"] = Field("all", description="which assistant turns carry loss")
    system_prompt: str = Field("", description="added as a system turn where a record has none; '' adds none")

    @model_validator(mode="after")
    def _one_validation(self) -> "DataConfig":
        if self.validation and self.validation_fraction > 0:
            raise ValueError("set data.validation or data.validation_fraction, not both")
        return self


class CollectionConfig(Strict):
    """A real task collection turned into tasks: an SNI folder, or a FLAN CoT TSV file."""

    kind: Literal[tuple(COLLECTIONS)]  # type: ignore[valid-type]  # the readers' registry is the list
    path: str = Field(description="sni: folder with tasks/ and splits/default/; cot: a .tsv file")
    which: Literal["train", "test", "all"] = Field("all", description="sni: train tasks, test (eval-only) tasks, or both")
    eval_instances: int = Field(100, gt=0, description="sni: instances kept per test task (the benchmark scores 100)")
    max_instances: int | None = Field(None, gt=0, description="sni: instances read per train task")
    name: str | None = Field(None, description="cot: task name (default: the file name without _train)")
    cluster: str = Field("cot", description="cot: the task's cluster")


class MixtureConfig(Strict):
    """Tasks rendered through their templates and formats, mixed FLAN-style, with whole clusters held out."""

    cards: list[str] = Field(default_factory=list, description="extra task cards: YAML files or folders of them")
    builtin: bool = Field(True, description="include the task cards instill ships")
    collections: list[CollectionConfig] = Field(default_factory=list)
    tasks: list[str] = Field(["*"], description="task names, 'cluster:NAME', or '*' for all (globs allowed)")
    held_out_clusters: list[str] = Field(default_factory=list, description="clusters kept out of training, for eval")
    related_clusters: dict[str, list[str]] = Field(
        default_factory=lambda: {"nli": ["paraphrase"], "paraphrase": ["nli"],
                                 "reading_comprehension": ["reading_comprehension_with_commonsense"]},
        description="holding out a key cluster also holds out these (FLAN's rule)")
    max_per_task: int = Field(30000, gt=0, description="training instances kept per task (FLAN: 30k)")
    mixing_cap: int = Field(3000, gt=0, description="examples-proportional mixing counts at most this many per task")
    rates: dict[str, float] = Field(default_factory=dict,
                                    description="explicit weights by task or 'cluster:NAME' (others: 0); "
                                                "empty = examples-proportional with mixing_cap")
    size: int | None = Field(None, gt=0, description="examples in the mixture; null = sum of capped task sizes")
    formats: dict[PromptFormat, float] = Field(
        default_factory=lambda: {"zero_shot": 0.6, "few_shot": 0.3, "zero_shot_cot": 0.05, "few_shot_cot": 0.05},
        description="format weights; a task gets those it supports (CoT needs a chain of thought)")
    shots: int = Field(3, ge=1, description="few-shot exemplars at most (training and evaluation prompts)")
    max_prompt_chars: int = Field(2000, gt=0, description="few-shot: exemplars are dropped to fit this budget")
    validation_per_task: int = Field(20, ge=0, description="validation instances per training task")
    eval_per_task: int = Field(100, gt=0, description="evaluation instances per held-out task (from its test split)")
    eval_seen_tasks: bool = Field(False, description="also evaluate training tasks on their test split")
    eval_format: PromptFormat = Field(
        "zero_shot", description="format of evaluation prompts (tk_instruct for tasks with a definition, e.g. SNI; "
                                 "a task without what a format needs gets the plain one)")


class ChatConfig(Strict):
    template: str = Field("auto", description="auto | tokenizer | default | path to a Jinja file")
    end_of_turn: str | None = Field(None, description="text that ends an assistant turn; null = the eos token")


class LoraConfig(Strict):
    r: int = Field(8, gt=0)
    alpha: int = Field(16, gt=0)
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: str | list[str] = Field("all-linear", description="module names, or 'all-linear'")
    merge: bool = Field(True, description="merge the adapter into the weights when saving the final model")


class TrackingConfig(Strict):
    """Where train.report_to's trackers file the run (named after run_dir's folder)."""

    project: str = Field("instill", description="W&B and MLflow project / experiment; TensorBoard's folder under "
                                                 "run_dir/tensorboard")
    wandb_mode: Literal["online", "offline"] = Field(
        "online", description="offline: W&B writes run_dir/wandb only (upload later with `wandb sync`)")


class TrainConfig(Strict):
    method: Literal["full", "lora"] = "full"
    lora: LoraConfig = LoraConfig()
    epochs: float = Field(1.0, gt=0, description="passes over the training data (ignored when max_steps is set)")
    max_steps: int | None = Field(None, gt=0, description="optimizer steps; overrides epochs")
    batch_size: int = Field(8, gt=0, description="sequences per micro-batch per process (unless tokens_per_batch)")
    grad_accum: int = Field(1, gt=0, description="micro-batches per optimizer step")
    batching: Literal[tuple(BATCHINGS)] = Field(  # type: ignore[valid-type]  # the registry is the list
        "grouped", description="padded: shuffled batches padded to their longest sequence, with an attention mask; "
        "grouped: sorted by length within shuffled windows, right-padded, no mask (causal attention never reaches "
        "the padding), fastest on CPU; packed: sequences concatenated into rows of data.max_length with position "
        "ids restarting per sequence, no padding, attention kept inside each sequence (decoder-only models)")
    tokens_per_batch: int | None = Field(
        None, gt=0, description="token budget of a micro-batch (padded slots for padded/grouped, tokens for packed); "
        "replaces batch_size when set; must be at least data.max_length")
    group_window: int = Field(
        1024, gt=0, description="grouped/packed: sequences per shuffled window that is sorted by length; larger "
        "windows waste less padding, smaller ones keep batches more random")
    loss_head: Literal["chunked", "full"] = Field(
        "chunked", description="chunked: project only positions that carry loss onto the vocabulary, "
        "loss_chunk_size rows at a time, gradient computed chunk by chunk (full logits never exist); "
        "full: the model's own forward with all logits. Models whose head does more than a linear projection, "
        "encoder-decoders and FSDP/DeepSpeed runs use full")
    loss_chunk_size: int = Field(1024, gt=0, description="positions per vocabulary projection in the chunked head")
    activation_checkpointing: bool = Field(
        False, description="recompute each layer's activations in the backward pass: less memory, ~30% more compute")
    lr: float = Field(2e-5, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: Literal["cosine", "linear", "constant"] = "cosine"
    warmup_steps: int = Field(0, ge=0)
    max_grad_norm: float | None = Field(1.0, gt=0, description="gradient clipping; null turns it off")
    precision: Precision = Field(
        "auto", description="bf16 autocast (fp32 master weights, fp32 loss) or fp32; auto = bf16 on a GPU that "
        "supports it or a CPU with AMX, else fp32 (measured slower than fp32 on CPUs without AMX, AVX-512 BF16 included)")
    log_every: int = Field(10, gt=0)
    eval_every: int | None = Field(None, gt=0, description="steps between validation losses; null = at the end only")
    save_every: int | None = Field(None, gt=0, description="steps between resumable checkpoints; null = none")
    keep_checkpoints: int = Field(2, gt=0)
    resume: bool = Field(False, description="continue from the newest checkpoint in run_dir")
    report_to: list[Literal["tensorboard", "wandb", "mlflow"]] = Field(
        default_factory=list, description="trackers that get metrics.jsonl's rows and the recipe as hyper-parameters "
        "(through accelerate); each needs its extra installed: pip install 'instill[tensorboard]'")
    tracking: TrackingConfig = TrackingConfig()

    @model_validator(mode="after")
    def _trackers_once(self) -> "TrainConfig":
        twice = sorted({t for t in self.report_to if self.report_to.count(t) > 1})
        if twice:
            raise ValueError(f"report_to lists {', '.join(twice)} more than once")
        return self


class EvalConfig(Strict):
    """How `instill eval` and `instill run` ask a model (the items come from the mixture's evaluation set)."""

    options: Literal["rank", "generate"] = Field(
        "rank", description="tasks with options: rank them by log-likelihood, or generate and match the text")
    normalize: Literal["none", "chars", "tokens"] = Field(
        "none", description="ranking: sum of log-probs, or divided by the option's characters (lm_eval acc_norm) or tokens")
    prompt_style: Literal["chat", "raw"] = Field(
        "chat", description="chat: the chat template (as instill trains); raw: plain prompt text, stop at a blank line")
    max_new_tokens: int = Field(64, gt=0, description="longest generated answer")
    cot_max_new_tokens: int = Field(192, gt=0, description="longest generated answer in chain-of-thought formats")
    batch_size: int = Field(16, gt=0, description="prompts generated together (ranking: half as many items per step)")
    precision: Precision = Field(
        "auto", description="weights for inference: auto = bf16 on a GPU or a CPU with AMX, else fp32 "
        "(log-probabilities stay fp32)")
    base: bool = Field(True, description="instill run: also evaluate the base model, for the base vs tuned report")
    base_model: str | None = Field(None, description="instill run: the base model to compare with; null = model.name "
                                                       "(for model.name=tiny, the untrained model saved as run_dir/base_model)")
    samples: int = Field(3, ge=0, description="report: side-by-side sample answers per held-out cluster")
    showcase: list[str] = Field(
        default_factory=lambda: ["What is the national flower of India?", "Translate to French: I love cats.",
                                 "Is this review positive or negative? The soup was cold and the waiter was rude."],
        description="instill run: prompts the base model continues as raw text and the tuned model answers, side by "
                    "side in the report (the first held-out item is added); [] turns it off")


class Recipe(Strict):
    """A whole run: where it writes, what it trains, on what, and how."""

    @model_validator(mode="before")
    @classmethod
    def _model_shorthand(cls, data: Any) -> Any:
        """`model: NAME` means `model: {name: NAME}`."""
        if isinstance(data, dict) and isinstance(data.get("model"), str):
            data = {**data, "model": {"name": data["model"]}}
        return data

    run_dir: str = "runs/default"
    seed: int = 0
    model: ModelConfig = ModelConfig()
    data: DataConfig = DataConfig()
    mixture: MixtureConfig | None = None
    chat: ChatConfig = ChatConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()

    @model_validator(mode="after")
    def _has_training_data(self) -> "Recipe":
        if not self.data.train and self.mixture is None:
            raise ValueError("no training data: give data.train sources or a mixture")
        return self

    @model_validator(mode="after")
    def _budget_fits_a_sequence(self) -> "Recipe":
        budget = self.train.tokens_per_batch
        if budget is not None and budget < self.data.max_length:
            raise ValueError(f"train.tokens_per_batch={budget} is less than data.max_length={self.data.max_length}: "
                             f"a longest sequence would not fit; raise train.tokens_per_batch")
        return self

    @model_validator(mode="after")
    def _adapter_needs_a_saved_base(self) -> "Recipe":
        if self.model.name == "tiny" and self.train.method == "lora" and not self.train.lora.merge:
            raise ValueError("model.name=tiny has no saved base model for an unmerged adapter; set train.lora.merge=true")
        return self


class _YamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader, reading `3e-4` and `1e5` as floats (YAML 1.2) rather than strings (YAML 1.1)."""


_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _yaml(text: str) -> Any:
    return yaml.load(text, Loader=_YamlLoader)  # noqa: S506 - a SafeLoader subclass


def _known_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every dotted field name of a model; fields holding a list of models count as sections too."""
    keys = []
    for name, field in model.model_fields.items():
        keys.append(prefix + name)
        sub = field.annotation
        args = getattr(sub, "__args__", ())
        if getattr(sub, "__origin__", None) is list and args and isinstance(args[0], type):
            sub = args[0]
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            keys += _known_keys(sub, prefix + name + ".")
    return keys


def override_setters(overrides: list[str]) -> list[tuple[str, str]]:
    """(dotted key, how it was set) of each `key=value` override, for `describe_errors`."""
    return [(a.split("=", 1)[0].strip(), f"override '{a}'") for a in overrides]


def describe_errors(err: ValidationError, source: str, setters: list[tuple[str, str]],
                    model: type[BaseModel]) -> str:
    """Every error of a config, each with its field path and where it was set, on one line ('; ' between).

    `source` is where fields come from unless one of `setters` (dotted key, how it was set; the last one that
    covers a field wins) set it: the file, or an override or option that named the field."""
    return "; ".join(_describe_one(e, source, setters, model) for e in err.errors())


def _describe_one(first: Any, source: str, setters: list[tuple[str, str]], model: type[BaseModel]) -> str:
    loc = ".".join(str(p) for p in first["loc"] if p not in ("openai", "local"))  # union tags are no fields
    # name the override that set the field, if one did; else the file
    top = ".".join(str(p) for p in first["loc"] if not isinstance(p, int) and p not in ("openai", "local"))
    for key, how in reversed(setters):
        if top == key or top.startswith(key + "."):
            source = how
            break
    if first["type"] == "extra_forbidden":
        near = difflib.get_close_matches(top, _known_keys(model), n=1)
        hint = f" (did you mean '{near[0]}'?)" if near else ""
        return f"{source}: unknown field '{loc}'{hint}"
    msg = first["msg"].removeprefix("Value error, ")
    return f"{source}: {loc}: {msg}" if loc else f"{source}: {msg}"


def apply_override(tree: dict[str, Any], assignment: str) -> None:
    """Set `a.b.c=value` in a nested dict; the value is parsed as YAML (`3e-4`, `true`, `[1, 2]`).

    >>> t = {"train": {"lr": 1.0}}
    >>> apply_override(t, "train.lr=3e-4"); t
    {'train': {'lr': 0.0003}}
    """
    if "=" not in assignment:
        raise InstillError(f"override '{assignment}' is not key=value")
    key, raw = assignment.split("=", 1)
    try:
        value = _yaml(raw) if raw else ""
    except yaml.YAMLError as e:
        raise InstillError(f"override '{assignment}': invalid YAML value: {' '.join(str(e).split())}") from None
    parts = key.strip().split(".")
    node = tree
    for part in parts[:-1]:
        if not isinstance(node.setdefault(part, {}), dict):
            raise InstillError(f"override '{key}': '{part}' is not a section")
        node = node[part]
    node[parts[-1]] = value


def load_recipe(path: str | Path | None, overrides: list[str] = ()) -> Recipe:
    """Read a recipe file, apply `key=value` overrides, validate; errors name the file and the field."""
    tree: dict[str, Any] = {}
    source = "overrides"
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise InstillError(f"{p}: recipe not found")
        try:
            tree = _yaml(read_utf8(p, "recipe")) or {}
        except yaml.YAMLError as e:
            raise invalid_yaml(p, e) from None
        if not isinstance(tree, dict):
            raise InstillError(f"{p}: a recipe must be a mapping of fields at its top level, got {yaml_kind(tree)}")
        source = str(p)
    for assignment in overrides:
        apply_override(tree, assignment)
    try:
        return Recipe.model_validate(tree)
    except ValidationError as e:
        raise InstillError(describe_errors(e, source, override_setters(list(overrides)), Recipe)) from None


def save_recipe(recipe: Recipe, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False), encoding="utf-8")
