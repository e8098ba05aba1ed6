"""`instill selfinstruct stats`: counts, the similarity histogram (as the paper's figure: each kept instruction's
ROUGE-L with its most similar seed), instruction and instance lengths, and the most common leading verbs.

Leading verb: a heuristic, the first word of the instruction lower-cased, skipping "please"; questions show up
as their first word ("what", "how", "is"). The paper used a parser for verb-noun pairs; this is simpler."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from instill.selfinstruct.export import load_store, pool_rows


def leading_verb(instruction: str) -> str:
    """The first word, lower-cased, skipping "please" (a heuristic).

    >>> leading_verb("Please, write a haiku."), leading_verb("What is 2+2?")
    ('write', 'what')
    """
    words = [w.strip(".,:;!?\"'()").lower() for w in instruction.split()]
    words = [w for w in words if w and w != "please"]
    return words[0] if words else ""


def compute_stats(folder: str | Path) -> dict[str, Any]:
    state = load_store(folder)
    rows = list(pool_rows(state))
    rejected: Counter = Counter()
    for b in state.batches:
        rejected.update(b["rejected"])
    dropped = Counter(r["dropped"] for r in rows if r["dropped"])
    sims = [k["max_seed_similarity"] for k in state.kept if k.get("max_seed_similarity") is not None]
    return {
        "requests": len(state.batches),
        "generated": sum(b["generated"] for b in state.batches),
        "kept_instructions": len(rows),
        "rejected": dict(rejected.most_common()),
        "classification_tasks": sum(r["is_classification"] is True for r in rows),
        "tasks_with_instances": sum(bool(r["instances"]) for r in rows),
        "dropped_tasks": dict(dropped.most_common()),
        "instances": sum(len(r["instances"]) for r in rows),
        "instruction_words": [len(r["instruction"].split()) for r in rows],
        "input_words": [len(i["input"].split()) for r in rows for i in r["instances"]],
        "output_words": [len(i["output"].split()) for r in rows for i in r["instances"]],
        "max_seed_similarity": sims,
        "leading_verbs": dict(Counter(leading_verb(r["instruction"]) for r in rows).most_common(20)),
    }


def summary(s: dict[str, Any]) -> str:
    """The stats as lines a person reads."""
    med = lambda xs: f"{np.median(xs):.0f}" if xs else "-"  # noqa: E731
    lines = [
        f"requests {s['requests']}, instructions generated {s['generated']}, kept {s['kept_instructions']}",
        "rejected: " + (", ".join(f"{k} {v}" for k, v in s["rejected"].items()) or "none"),
        f"tasks with instances {s['tasks_with_instances']} ({s['classification_tasks']} classification), "
        f"instances {s['instances']}; dropped tasks: " + (", ".join(f"{k} {v}" for k, v in s["dropped_tasks"].items()) or "none"),
        f"median words: instruction {med(s['instruction_words'])}, input {med(s['input_words'])}, "
        f"output {med(s['output_words'])}",
        "leading verbs: " + ", ".join(f"{k} {v}" for k, v in list(s["leading_verbs"].items())[:10]),
    ]
    if s["max_seed_similarity"]:
        hist, _ = np.histogram(s["max_seed_similarity"], bins=10, range=(0, 1))
        lines.append("ROUGE-L with the most similar seed (0-0.1 ... 0.9-1): " + " ".join(str(h) for h in hist))
    return "\n".join(lines)


def plot(s: dict[str, Any], out: Path) -> list[Path]:
    """similarity.png, lengths.png, verbs.png into `out`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    paths = []
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.hist(s["max_seed_similarity"], bins=20, range=(0, 1))
    ax.set(xlabel="ROUGE-L with the most similar seed instruction", ylabel="instructions")
    paths.append(_save(fig, out / "similarity.png"))
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    for ax, key in zip(axes, ("instruction_words", "input_words", "output_words")):
        ax.hist(s[key], bins=30)
        ax.set(xlabel=key.replace("_", " "), ylabel="count")
    paths.append(_save(fig, out / "lengths.png"))
    fig, ax = plt.subplots(figsize=(6, 4))
    verbs = list(s["leading_verbs"].items())[::-1]
    ax.barh([v for v, _ in verbs], [c for _, c in verbs])
    ax.set(xlabel="instructions", title="most common first words")
    paths.append(_save(fig, out / "verbs.png"))
    return paths


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_stats(folder: str | Path, plots: bool = True) -> tuple[dict[str, Any], list[Path]]:
    s = compute_stats(folder)
    out = Path(folder) / "stats"
    out.mkdir(parents=True, exist_ok=True)
    (out / "stats.json").write_text(json.dumps(s, indent=1), encoding="utf-8")
    return s, (plot(s, out) if plots else [])
