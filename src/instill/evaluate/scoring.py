"""Per-item scores and their summaries per task, per cluster and overall.

Every item gets exact match and ROUGE-L (SNI's definitions, x100 when averaged); an item with options also gets
accuracy. The headline `score` of an item is its accuracy when it has options and its ROUGE-L otherwise, as FLAN
reports classification and generation tasks. Groups average over their items, as SNI averages per task and per
category.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, Sequence

from instill.evaluate.items import EvalRow
from instill.evaluate.metrics import exact_match, mean_x100, option_accuracy, rouge_l
from instill.evaluate.predict import Answer

METRICS = ("score", "exact_match", "rouge_l", "accuracy")


def score_item(item: EvalRow, answer: Answer) -> dict[str, float]:
    """Scores of one answer (0..1)."""
    said = answer.parsed if answer.parsed is not None else ""
    scores = {"exact_match": exact_match(said, item.references), "rouge_l": rouge_l(said, item.references)}
    if item.options:
        scores["accuracy"] = option_accuracy(answer.parsed, item.answer)
    scores["score"] = scores["accuracy"] if item.options else scores["rouge_l"]
    return scores


def prediction_row(item: EvalRow, answer: Answer, scores: dict[str, float]) -> dict[str, Any]:
    """One line of predictions.jsonl: the prompt, what the model said, what was expected, and the scores. `id` is
    the instance's id in its source (null where it has none), the key SNI's official scorer joins on."""
    row: dict[str, Any] = {
        "id": item.instance_id, "task": item.task, "cluster": item.cluster, "index": item.index, "format": item.format,
        "template": item.template, "method": answer.method,
        "prompt": item.messages, "prediction": answer.text, "parsed": answer.parsed,
        "references": item.references, "options": item.options, "answer": item.answer,
        "scores": {k: round(v, 6) for k, v in scores.items()},
    }
    if answer.option_loglik is not None:
        row["option_loglik"] = answer.option_loglik
    if answer.finish_reason is not None:
        row["finish_reason"] = answer.finish_reason
    if answer.prompt_cut:
        row["prompt_cut"] = True
    return row


def _summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"n": len(rows)}
    for m in METRICS:
        vals = [r["scores"][m] for r in rows if m in r["scores"]]
        if vals:
            out[m] = round(mean_x100(vals), 4)
    return out


def summarize(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Averages (x100) overall, per cluster and per task, with each task's cluster."""
    rows = list(rows)
    by_task: dict[str, list] = defaultdict(list)
    by_cluster: dict[str, list] = defaultdict(list)
    for r in rows:
        by_task[r["task"]].append(r)
        by_cluster[r["cluster"]].append(r)
    tasks = {t: {"cluster": rs[0]["cluster"], **_summary(rs)} for t, rs in sorted(by_task.items())}
    return {"overall": _summary(rows), "clusters": {c: _summary(rs) for c, rs in sorted(by_cluster.items())},
            "tasks": tasks}
