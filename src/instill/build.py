"""`instill data build`: a recipe's mixture written as files a person can read and any stage can reuse.

`write_mixture` is the one writer: `instill data build`, `instill train` (a recipe with a mixture) and `instill run`
all call it, so run_dir/data is the same whichever command wrote it. It writes `run_dir/data/`: train.jsonl and validation.jsonl (Conversation JSONL; every row's meta says its task,
cluster, template and format), eval.jsonl (one `EvalRow` a line: the prompt, options, answer, references, task,
cluster, format, template, instance id), stats.json, and composition.png (examples per task coloured by cluster,
and per format). stats.json holds the token counts of the recipe's tokenizer.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

from instill.config import Recipe
from instill.errors import InstillError
from instill.evaluate.items import write_eval_jsonl
from instill.files import write_text_atomic
from instill.mixture import Mixture, build_mixture
from instill.records import Conversation, write_conversations_jsonl

log = logging.getLogger("instill.build")


def recipe_tokenizer(recipe: Recipe, train: list[Conversation]) -> Any:
    """The tokenizer training will use: the recipe model's, or for the tiny model the BPE trained on this data."""
    if recipe.model.name == "tiny":
        from instill.modeling import train_tiny_tokenizer

        return train_tiny_tokenizer((m.content for c in train for m in c.messages), recipe.model.tiny.vocab_size)
    from transformers import AutoTokenizer

    from instill.model_source import resolve_model

    name = resolve_model(recipe.model.name)  # a .gguf file or a named model: its converted folder
    return AutoTokenizer.from_pretrained(name, trust_remote_code=recipe.model.trust_remote_code)


def add_token_counts(stats: dict[str, Any], train: list[Conversation], tokenizer: Any) -> None:
    """Prompt and target tokens of the training set, in total and per task (no special tokens, no template); set,
    not added, so counting twice gives the same stats."""
    prompts = [" ".join(m.content for m in c.messages if not m.loss) for c in train]
    targets = [" ".join(m.content for m in c.messages if m.loss) for c in train]
    p_len = [len(x) for x in tokenizer(prompts, add_special_tokens=False)["input_ids"]] if prompts else []
    t_len = [len(x) for x in tokenizer(targets, add_special_tokens=False)["input_ids"]] if targets else []
    prompt_by, target_by = Counter(), Counter()
    for conv, p, t in zip(train, p_len, t_len):
        prompt_by[conv.task] += p
        target_by[conv.task] += t
    for name in prompt_by:
        stats["tasks"][name].update(prompt_tokens=prompt_by[name], target_tokens=target_by[name])
    stats["tokens"] = {"prompt": sum(p_len), "target": sum(t_len), "tokenizer": type(tokenizer).__name__,
                       "mean_prompt": round(sum(p_len) / max(len(p_len), 1), 1),
                       "mean_target": round(sum(t_len) / max(len(t_len), 1), 1)}


def plot_composition(stats: dict[str, Any], path: Path) -> None:
    """Examples per task (bars coloured by cluster) and per format, as one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted(stats["tasks"].items(), key=lambda kv: (kv[1]["cluster"] or "", kv[0]))
    clusters = sorted({t["cluster"] or "" for _, t in tasks})
    cmap = plt.get_cmap("tab20")
    colour = {c: cmap(i % 20) for i, c in enumerate(clusters)}
    height = max(4.0, 0.22 * len(tasks) + 1.5)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, height), gridspec_kw={"width_ratios": [3, 1]})
    ax1.barh([n for n, _ in tasks], [t["examples"] for _, t in tasks], color=[colour[t["cluster"] or ""] for _, t in tasks])
    ax1.invert_yaxis()
    ax1.set_xlabel("training examples")
    ax1.set_title(f"{stats['examples']} examples, {len(tasks)} tasks, {len(clusters)} clusters")
    ax1.tick_params(axis="y", labelsize=7)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colour[c]) for c in clusters]
    fig.legend(handles, clusters, fontsize=7, loc="lower center", ncol=min(6, len(clusters)))
    formats = stats["formats"]
    ax2.bar(list(formats), list(formats.values()), color="tab:gray")
    ax2.set_title("formats")
    ax2.tick_params(axis="x", rotation=45, labelsize=8)
    held = stats["held_out"]["clusters"]
    fig.suptitle("held out: " + (", ".join(held) if held else "nothing"), fontsize=9)
    rows = (len(clusters) + 5) // 6
    fig.tight_layout(rect=(0, 0.03 + 0.25 * rows / height, 1, 0.97))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_mixture(recipe: Recipe, mix: Mixture, plot: bool = True) -> dict[str, Path]:
    """Write the recipe's mixture to run_dir/data, with the token counts of the recipe's tokenizer (added to
    mix.stats) and, when `plot`, composition.png; returns the path of each file."""
    add_token_counts(mix.stats, mix.train, recipe_tokenizer(recipe, mix.train))
    out_dir = Path(recipe.run_dir) / "data"
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: out_dir / f"{name}.jsonl" for name in ("train", "validation", "eval")}
    write_conversations_jsonl(mix.train, paths["train"])
    write_conversations_jsonl(mix.validation, paths["validation"])
    write_eval_jsonl(mix.eval, paths["eval"])
    paths["stats"] = out_dir / "stats.json"
    write_text_atomic(paths["stats"], json.dumps(mix.stats, indent=1))
    if plot:
        paths["plot"] = out_dir / "composition.png"
        plot_composition(mix.stats, paths["plot"])
    return paths


def build(recipe: Recipe, plot: bool = True, progress: bool = True) -> tuple[Mixture, dict[str, Path]]:
    """Build the recipe's mixture and write it to run_dir/data (`write_mixture`)."""
    if recipe.mixture is None:
        raise InstillError("the recipe has no 'mixture' section to build")
    mix = build_mixture(recipe.mixture, recipe.seed, recipe.data.system_prompt, progress=progress)
    return mix, write_mixture(recipe, mix, plot=plot)
