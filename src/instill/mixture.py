"""Mixtures: which tasks train, how many examples each gives, and which clusters are held out for evaluation.

FLAN's recipe: cap each task (30k), mix examples-proportionally with a cap (3k) so big tasks do not drown small
ones, and leave whole clusters out of training (with their related clusters) to measure zero-shot generalization.
Every random choice (instances, templates, formats, option styles, exemplars) comes from one seeded generator, so a
mixture is a pure function of its config. `check_no_leak` refuses training data that touches the evaluation set.
"""

from __future__ import annotations

import fnmatch
import logging
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable

from instill.config import MixtureConfig
from instill.errors import InstillError
from instill.evaluate.items import EvalRow
from instill.formats import COT_FORMATS, Rendered, render
from instill.records import Conversation
from instill.tasks import Task, load_tasks
from instill.tasks.collections import COLLECTIONS

log = logging.getLogger("instill.mixture")


@dataclass
class Mixture:
    train: list[Conversation]
    validation: list[Conversation]
    eval: list[EvalRow]
    train_tasks: list[str]
    held_out_tasks: list[str]
    held_out_clusters: list[str]
    stats: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------- selection

def load_mixture_tasks(cfg: MixtureConfig) -> dict[str, Task]:
    """The bundled cards, the recipe's cards and its collections, by name."""
    tasks = load_tasks(cfg.cards, builtin=cfg.builtin)
    for col in cfg.collections:
        for name, task in COLLECTIONS[col.kind](col).items():
            if name in tasks:
                raise InstillError(f"{task.source}: task '{name}' is already defined in {tasks[name].source}")
            tasks[name] = task
    return tasks


def select_tasks(tasks: dict[str, Task], patterns: list[str]) -> dict[str, Task]:
    """Tasks matching any pattern: a name or glob, or `cluster:NAME`; a pattern that matches nothing is an error."""
    chosen: dict[str, Task] = {}
    for pat in patterns:
        if pat.startswith("cluster:"):
            hits = [n for n, t in tasks.items() if fnmatch.fnmatchcase(t.cluster, pat[len("cluster:"):])]
        else:
            hits = [n for n in tasks if fnmatch.fnmatchcase(n, pat)]
        if not hits:
            raise InstillError(f"mixture.tasks: '{pat}' matches no task (see `instill data tasks`)")
        chosen.update((n, tasks[n]) for n in hits)
    return chosen


def held_out_closure(clusters: Iterable[str], related: dict[str, list[str]]) -> set[str]:
    """The held-out clusters plus, transitively, the clusters related to them (FLAN drops NLI with paraphrase).

    >>> sorted(held_out_closure(["nli"], {"nli": ["paraphrase"], "paraphrase": ["nli"]}))
    ['nli', 'paraphrase']
    """
    out: set[str] = set()
    todo = list(clusters)
    while todo:
        c = todo.pop()
        if c not in out:
            out.add(c)
            todo += related.get(c, [])
    return out


def split_tasks(tasks: dict[str, Task], held_clusters: set[str]) -> tuple[dict[str, Task], dict[str, Task]]:
    """(training tasks, held-out tasks): a task is held out when its cluster is, or when it is eval-only."""
    train = {n: t for n, t in tasks.items() if t.cluster not in held_clusters and not t.eval_only}
    held = {n: t for n, t in tasks.items() if n not in train}
    return train, held


# ---------------------------------------------------------------------------------------------------- proportions

def mixing_rates(sizes: dict[str, int], cap: int, rates: dict[str, float] | None = None,
                 clusters: dict[str, str] | None = None) -> dict[str, float]:
    """Each task's share of the mixture: examples-proportional with a cap (FLAN), or explicit weights by task or
    `cluster:NAME` (a task named in neither gets 0).

    >>> mixing_rates({"a": 10, "b": 50_000}, cap=3000)
    {'a': 0.0033222591362126247, 'b': 0.9966777408637874}
    """
    if rates:
        clusters = clusters or {}
        raw = {}
        for name in sizes:
            by_cluster = rates.get(f"cluster:{clusters.get(name)}")
            raw[name] = rates.get(name, by_cluster if by_cluster is not None else 0.0)
        unknown = [k for k in rates if k not in sizes and not (k.startswith("cluster:") and
                                                               k[len("cluster:"):] in set(clusters.values()))]
        if unknown:
            raise InstillError(f"mixture.rates: '{unknown[0]}' is not a training task or cluster")
    else:
        raw = {name: float(min(n, cap)) for name, n in sizes.items()}
    total = sum(raw.values())
    if total <= 0:
        raise InstillError("mixture: every training task has rate 0 (check mixture.rates and mixture.tasks)")
    return {name: r / total for name, r in raw.items()}


def allocate(rates: dict[str, float], size: int, rng: random.Random) -> dict[str, int]:
    """How many examples each task gives: `size` independent draws by rate (a multinomial), so proportions match
    the rates within sampling error."""
    names = list(rates)
    counts = Counter(rng.choices(names, weights=[rates[n] for n in names], k=size))
    return {n: counts.get(n, 0) for n in names}


# ---------------------------------------------------------------------------------------------------- rendering

def _formats_for(task: Task, weights: dict[str, float]) -> tuple[list[str], list[float]]:
    ok = []
    for fmt, w in weights.items():
        if w <= 0 or (fmt in COT_FORMATS and not task.has_cot) or (fmt == "tk_instruct" and not task.definition):
            continue
        if fmt.startswith("few_shot") and len(task.exemplars or task.split("train")) < 2:
            continue
        ok.append((fmt, w))
    if not ok:
        raise InstillError(f"task '{task.name}' supports none of the mixture's formats ({', '.join(weights)}); "
                           "add zero_shot to mixture.formats or drop the task")
    return [f for f, _ in ok], [w for _, w in ok]


def render_one(task: Task, instance: dict, split: str, index: int, **kwargs: Any) -> Rendered:
    """`formats.render` with the task, template and instance named in any error."""
    try:
        return render(task, instance, **kwargs)
    except InstillError as e:
        tpl = kwargs.get("template")
        raise InstillError(f"{task.source or task.name}: template {tpl.name if tpl else '?'}, {split} instance "
                           f"{index}: {e}") from None


def sample_task(task: Task, n: int, cfg: MixtureConfig, rng: random.Random, system_prompt: str = "") -> list[Conversation]:
    """`n` training examples of one task: instances in seeded passes over its (capped) train split, each with a
    random template, format and option style, so repeated instances come back in other phrasings."""
    pool = list(task.split("train"))
    if not pool:
        raise InstillError(f"task '{task.name}' has no training instances")
    rng.shuffle(pool)
    pool = pool[: cfg.max_per_task]
    formats, weights = _formats_for(task, cfg.formats)
    out = []
    order: list[int] = []
    for _ in range(n):
        if not order:
            order = list(range(len(pool)))
            rng.shuffle(order)
        i = order.pop()
        fmt = rng.choices(formats, weights)[0]
        template = rng.choice(task.forward_templates if fmt in COT_FORMATS else task.templates)
        r = render_one(task, pool[i], "train", i, template=template, fmt=fmt, rng=rng, shots=cfg.shots,
                       max_chars=cfg.max_prompt_chars, exemplar_pool=task.exemplars or pool)
        where = f"{task.source or task.name}: template {template.name}, train instance {i}"
        out.append(r.to_conversation(system_prompt, source=where))
    return out


def eval_format_for(task: Task, fmt: str) -> str:
    """The format a task is evaluated in: the asked one, or its plain version when the task lacks what it needs
    (Tk-Instruct needs a definition, chain of thought a `cot_field`)."""
    if fmt == "tk_instruct" and not task.definition:
        return "zero_shot"
    if fmt in COT_FORMATS and not task.has_cot:
        return fmt.replace("_cot", "")
    return fmt


def eval_items(task: Task, split: str, limit: int, fmt: str, system_prompt: str = "", *, shots: int,
               max_chars: int) -> list[EvalRow]:
    """The evaluation rows of a task: its first `limit` instances of `split`, in its forward templates taken in
    turn (a mix of phrasings), FLAN's option style; few-shot formats take up to `shots` exemplars within
    `max_chars`, as training does. A row keeps the options, the answer, all references and, for a task with an
    `id_field`, the instance's id in its source."""
    rows = []
    templates = task.forward_templates
    for i, inst in enumerate(task.split(split)[:limit]):
        tpl = templates[i % len(templates)]
        r = render_one(task, inst, split, i, template=tpl, fmt=eval_format_for(task, fmt), rng=random.Random(i),
                       style="flan", shots=shots, max_chars=max_chars)
        refs = inst.get("references") if isinstance(inst.get("references"), list) else [r.answer]
        messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
        instance_id = inst.get(task.id_field) if task.id_field is not None else None  # for the source's own scorer
        rows.append(EvalRow(task=task.name, cluster=task.cluster, messages=[*messages, {"role": "user", "content": r.prompt}],
                            references=list(refs), answer=r.answer, options=r.options, format=r.meta["format"],
                            instance_id=instance_id, template=tpl.name, split=split, index=i))
    return rows


def validation_items(task: Task, cfg: MixtureConfig, system_prompt: str = "") -> list[Conversation]:
    """A training task's validation conversations: its first `validation_per_task` validation instances, zero-shot,
    in its forward templates taken in turn."""
    out = []
    for i, inst in enumerate(task.split("validation")[: cfg.validation_per_task]):
        tpl = task.forward_templates[i % len(task.forward_templates)]
        r = render_one(task, inst, "validation", i, template=tpl, rng=random.Random(i), style="flan",
                       shots=cfg.shots, max_chars=cfg.max_prompt_chars)
        out.append(r.to_conversation(system_prompt, f"{task.source or task.name}: template {tpl.name}, "
                                                    f"validation instance {i}"))
    return out


# ---------------------------------------------------------------------------------------------------- leaks

def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def check_no_leak(train: Iterable[Conversation], eval_set: Iterable[EvalRow], held_out_tasks: Iterable[str]) -> None:
    """Refuse training data that contains a held-out task, or a prompt that also occurs in the evaluation set
    (compared after lower-casing and collapsing white space). Errors name the training record's file and line
    (or task, template and instance for a rendered one)."""
    held = set(held_out_tasks)
    eval_prompts = {_norm(m["content"]): r.task for r in eval_set for m in r.messages if m["role"] == "user"}
    for i, conv in enumerate(train):
        where = conv.source or f"training example {i}"  # file:line, or the task, template and instance it renders
        if conv.task in held:
            raise InstillError(f"leak: {where}: the record is from held-out task '{conv.task}'")
        for m in conv.messages:
            if m.role == "user" and _norm(m.content) in eval_prompts:
                raise InstillError(f"leak: {where}: its prompt is also in the evaluation set (task "
                                   f"'{eval_prompts[_norm(m.content)]}'): {m.content[:80]!r}")


# ---------------------------------------------------------------------------------------------------- build

def selected_tasks(cfg: MixtureConfig) -> dict[str, Task]:
    """The tasks `cfg.tasks` selects, refusing a held-out cluster that none of them is in (it would evaluate
    nothing)."""
    tasks = select_tasks(load_mixture_tasks(cfg), cfg.tasks)
    known = {t.cluster for t in tasks.values()}
    for c in cfg.held_out_clusters:
        if c not in known:
            raise InstillError(f"mixture.held_out_clusters: no selected task is in cluster '{c}' (selected "
                               f"clusters: {', '.join(sorted(known))}); add 'cluster:{c}' to mixture.tasks")
    return tasks


def build_mixture(cfg: MixtureConfig, seed: int = 0, system_prompt: str = "", progress: bool = False) -> Mixture:
    """Load and select tasks, hold clusters out, allocate examples, render them, build validation and evaluation
    sets, and check that training does not touch evaluation."""
    tasks = selected_tasks(cfg)
    held_clusters = held_out_closure(cfg.held_out_clusters, cfg.related_clusters)
    train_tasks, held_tasks = split_tasks(tasks, held_clusters)
    if not train_tasks:
        raise InstillError("mixture: every selected task is held out; nothing is left to train on")

    rng = random.Random(seed)
    sizes = {n: min(len(t.split("train")), cfg.max_per_task) for n, t in train_tasks.items()}
    rates = mixing_rates(sizes, cfg.mixing_cap, cfg.rates, {n: t.cluster for n, t in train_tasks.items()})
    if cfg.size is None and not cfg.rates:
        counts = {n: min(s, cfg.mixing_cap) for n, s in sizes.items()}
    else:
        if cfg.size is None:
            raise InstillError("mixture.rates needs mixture.size (how many examples to draw)")
        counts = allocate(rates, cfg.size, rng)

    names = sorted(train_tasks)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(names) + len(held_tasks), desc="rendering tasks", unit="task")
    train: list[Conversation] = []
    validation: list[Conversation] = []
    for name in names:
        task = train_tasks[name]
        task_rng = random.Random(f"{seed}:{name}")  # one task's examples do not shift when another is added
        train += sample_task(task, counts[name], cfg, task_rng, system_prompt)
        if cfg.validation_per_task:
            validation += validation_items(task, cfg, system_prompt)
        if bar:
            bar.update()
    rng.shuffle(train)

    eval_set: list[EvalRow] = []
    eval_sources = dict(held_tasks)
    if cfg.eval_seen_tasks:
        eval_sources.update(train_tasks)
    for name in sorted(eval_sources):
        task = eval_sources[name]
        eval_set += eval_items(task, "test", cfg.eval_per_task, cfg.eval_format, system_prompt, shots=cfg.shots,
                               max_chars=cfg.max_prompt_chars)
        if bar and name in held_tasks:
            bar.update()
    if bar:
        bar.close()
    check_no_leak(train, eval_set, held_tasks)
    mix = Mixture(train, validation, eval_set, names, sorted(held_tasks), sorted(held_clusters))
    mix.stats = composition(mix, rates)
    return mix


def composition(mix: Mixture, rates: dict[str, float]) -> dict[str, Any]:
    """Counts by task, cluster, template and format (token counts are added by `add_token_counts`)."""
    per_task: dict[str, dict[str, Any]] = defaultdict(lambda: {"examples": 0, "formats": Counter(), "templates": set()})
    for conv in mix.train:
        s = per_task[conv.task]
        s["cluster"] = conv.meta.get("cluster")
        s["examples"] += 1
        s["formats"][conv.meta.get("format")] += 1
        s["templates"].add(conv.meta.get("template"))
    tasks = {n: {"cluster": s["cluster"], "examples": s["examples"], "rate": round(rates.get(n, 0.0), 6),
                 "templates_used": len(s["templates"]), "formats": dict(s["formats"])}
             for n, s in sorted(per_task.items())}
    return {
        "examples": len(mix.train),
        "tasks": tasks,
        "clusters": dict(Counter(c.meta.get("cluster") for c in mix.train).most_common()),
        "formats": dict(Counter(c.meta.get("format") for c in mix.train).most_common()),
        "templates_used": sum(t["templates_used"] for t in tasks.values()),
        "inverted_examples": sum(1 for c in mix.train if c.meta.get("inverted")),
        "validation_examples": len(mix.validation),
        "held_out": {"clusters": mix.held_out_clusters, "tasks": mix.held_out_tasks},
        "eval": {"examples": len(mix.eval), "tasks": dict(Counter(c.task for c in mix.eval))},
    }
