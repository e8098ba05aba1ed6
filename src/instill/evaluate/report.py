"""The run's report: base vs tuned per cluster and per task, sample answers side by side, and plots.

Writes `report.md` (for people), `report.json` (the same numbers for programs) and PNG plots made with matplotlib:
per-cluster bars base vs tuned, and the training loss curve.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from instill.evaluate.scoring import METRICS
from instill.files import write_text_atomic

HEADLINE = "score"


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.1f}"


def _delta(base: float | None, tuned: float | None) -> float | None:
    return None if base is None or tuned is None else round(tuned - base, 4)


def held_out_clusters_of(tasks: dict[str, Any], held_out_tasks: Sequence[str]) -> list[str]:
    """The clusters whose evaluated tasks are all held out (never trained on).

    >>> held_out_clusters_of({"a": {"cluster": "nli"}, "b": {"cluster": "qa"}, "c": {"cluster": "qa"}}, ["a", "b"])
    ['nli']
    """
    clusters: dict[str, bool] = {}
    for name, t in tasks.items():
        clusters[t["cluster"]] = clusters.get(t["cluster"], True) and name in held_out_tasks
    return sorted(c for c, held in clusters.items() if held)


def compare(base: dict[str, Any] | None, tuned: dict[str, Any], held_out_tasks: Sequence[str]) -> dict[str, Any]:
    """Base vs tuned numbers per cluster and per task (headline score, EM, ROUGE-L, accuracy) with deltas.

    A task is held out when it was never trained on (its cluster held out, or an evaluation-only task such as an
    SNI test task); a cluster is held out when all its evaluated tasks are."""
    held_clusters = held_out_clusters_of(tuned["tasks"], held_out_tasks)

    def rows(level: str) -> dict[str, Any]:
        out = {}
        for name, t in tuned[level].items():
            b = (base or {}).get(level, {}).get(name, {})
            held = name in held_out_tasks if level == "tasks" else name in held_clusters
            entry: dict[str, Any] = {"n": t["n"], "held_out": held}
            if level == "tasks":
                entry["cluster"] = t["cluster"]
            for m in METRICS:
                if m in t:
                    entry[m] = {"base": b.get(m), "tuned": t[m], "delta": _delta(b.get(m), t[m])}
            out[name] = entry
        return out

    overall = {}
    for group, keep in (("held_out", True), ("seen", False)):
        chosen = [r for r in tuned["tasks"].items() if (r[0] in held_out_tasks) == keep]
        if chosen:
            n = sum(t["n"] for _, t in chosen)
            mean_t = sum(t[HEADLINE] * t["n"] for _, t in chosen) / n
            mean_b = None
            if base is not None:
                bt = base["tasks"]
                mean_b = sum(bt[k][HEADLINE] * bt[k]["n"] for k, _ in chosen if k in bt) / n
            overall[group] = {"n": n, "base": None if mean_b is None else round(mean_b, 4), "tuned": round(mean_t, 4),
                              "delta": _delta(mean_b, mean_t)}
    return {"overall": overall, "clusters": rows("clusters"), "tasks": rows("tasks")}


def bootstrap_delta(base_preds: list[dict], tuned_preds: list[dict], held_out_tasks: Sequence[str],
                    resamples: int = 2000, seed: int = 0) -> dict[str, list[float]]:
    """95% interval of tuned minus base mean score per group (held_out, seen): a paired bootstrap over items (each
    resample draws items with replacement and takes both models' scores on them), seeded, so a reader can tell a
    gain from noise."""
    import numpy as np

    base_by_key = {(p["task"], p["index"]): p["scores"][HEADLINE] for p in base_preds}
    out = {}
    for group, keep in (("held_out", True), ("seen", False)):
        pairs = [(base_by_key[(p["task"], p["index"])], p["scores"][HEADLINE]) for p in tuned_preds
                 if (p["task"] in held_out_tasks) == keep and (p["task"], p["index"]) in base_by_key]
        if len(pairs) < 2:
            continue
        diff = np.array([t - b for b, t in pairs]) * 100  # scores are 0-1 per item; reported x100
        draws = np.random.default_rng(seed).integers(0, len(diff), size=(resamples, len(diff)))
        means = diff[draws].mean(axis=1)
        out[group] = [round(float(np.percentile(means, 2.5)), 1), round(float(np.percentile(means, 97.5)), 1)]
    return out


def pick_samples(base_preds: list[dict] | None, tuned_preds: list[dict], held_out_tasks: Sequence[str],
                 per_cluster: int) -> list[dict[str, Any]]:
    """A few items per held-out cluster (free-text tasks first: they show more than a chosen option), with the
    base and tuned answers side by side."""
    base_by_key = {(p["task"], p["index"]): p for p in base_preds or []}
    out = []
    held = [p for p in tuned_preds if p["task"] in held_out_tasks] or tuned_preds
    for cluster in sorted({p["cluster"] for p in held}):
        mine = [p for p in held if p["cluster"] == cluster]
        mine.sort(key=lambda p: (p["options"] is not None, p["task"], p["index"] if p["index"] is not None else 0))
        seen_tasks: set[str] = set()
        picked = []
        for p in mine:  # one per task first, then more
            if p["task"] not in seen_tasks:
                picked.append(p)
                seen_tasks.add(p["task"])
        picked += [p for p in mine if p not in picked]
        for p in picked[:per_cluster]:
            b = base_by_key.get((p["task"], p["index"]))
            out.append({"cluster": cluster, "task": p["task"], "prompt": p["prompt"][-1]["content"],
                        "reference": p["references"][0], "base": None if b is None else b["prediction"],
                        "tuned": p["prediction"]})
    return out


def plot_clusters(comparison: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(comparison["clusters"])
    tuned = [comparison["clusters"][c][HEADLINE]["tuned"] for c in names]
    base = [comparison["clusters"][c][HEADLINE]["base"] for c in names]
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(names) + 2), 4.5))
    xs = range(len(names))
    width = 0.4
    if any(b is not None for b in base):
        ax.bar([x - width / 2 for x in xs], [b or 0 for b in base], width, label="base", color="#9e9e9e")
    ax.bar([x + width / 2 for x in xs], tuned, width, label="tuned", color="#1f77b4")
    labels = [c + (" *" if comparison["clusters"][c]["held_out"] else "") for c in names]
    ax.set_xticks(list(xs), labels, rotation=35, ha="right")
    ax.set_ylabel("score (accuracy or ROUGE-L, x100)")
    ax.set_title("Base vs instruction-tuned per cluster (* = held out, never trained on)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_loss(metrics_path: Path, path: Path) -> bool:
    """The training loss curve (and validation losses) from metrics.jsonl; False when there is none."""
    if not metrics_path.is_file():
        return False
    steps, losses, vsteps, vlosses = [], [], [], []
    for line in metrics_path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        if "loss" in r:
            steps.append(r["step"])
            losses.append(r["loss"])
        if r.get("val_loss") is not None:
            vsteps.append(r["step"])
            vlosses.append(r["val_loss"])
    if not steps:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.plot(steps, losses, label="train loss (response tokens)")
    if vsteps:
        ax.plot(vsteps, vlosses, "o-", label="validation loss")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy")
    ax.set_yscale("log")
    ax.legend()
    ax.set_title("Training loss")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _md_table(rows: dict[str, Any], first: str, with_cluster: bool = False) -> list[str]:
    head = f"| {first} |" + (" cluster |" if with_cluster else "") + (" n | base | tuned | Δ | EM base | EM tuned | "
                                                                       "ROUGE-L base | ROUGE-L tuned |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, r in rows.items():
        s = r[HEADLINE]
        mark = " (held out)" if r["held_out"] else ""
        cells = [f"{name}{mark}"] + ([r["cluster"]] if with_cluster else []) + [
            str(r["n"]), _fmt(s["base"]), _fmt(s["tuned"]),
            "–" if s["delta"] is None else f"{s['delta']:+.1f}", _fmt(r["exact_match"]["base"]),
            _fmt(r["exact_match"]["tuned"]), _fmt(r["rouge_l"]["base"]), _fmt(r["rouge_l"]["tuned"])]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _quote(text: str | None, limit: int = 300) -> str:
    if text is None:
        return "–"
    text = text if len(text) <= limit else text[:limit] + " …"
    return text.replace("\n", " ⏎ ").replace("|", "\\|") or "(empty)"


def write_report(run_dir: str | Path, base_dir: Path | None, tuned_dir: Path, held_out_tasks: Sequence[str],
                 samples: int = 3, title: str | None = None, extra: dict[str, Any] | None = None) -> Path:
    """Write report.md, report.json and plots/ under run_dir from the evaluations in base_dir and tuned_dir."""
    from instill.evaluate.runner import METRICS as METRICS_FILE, read_predictions
    from instill.evaluate.showcase import SHOWCASE_FILE, read_showcase

    run = Path(run_dir)
    tuned = _load(tuned_dir / METRICS_FILE)
    base = _load(base_dir / METRICS_FILE) if base_dir is not None else None
    comparison = compare(base, tuned, held_out_tasks)
    held_out_clusters = sorted(c for c, row in comparison["clusters"].items() if row["held_out"])
    base_preds, tuned_preds = read_predictions(base_dir) if base is not None else None, read_predictions(tuned_dir)
    side = pick_samples(base_preds, tuned_preds, held_out_tasks, samples)
    if base_preds is not None:
        for group, ci in bootstrap_delta(base_preds, tuned_preds, held_out_tasks).items():
            comparison["overall"][group]["delta_ci95"] = ci
    plots = run / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    plot_clusters(comparison, plots / "clusters.png")
    has_loss = plot_loss(run / "metrics.jsonl", plots / "loss.png")
    shown = read_showcase(run / "eval" / SHOWCASE_FILE)
    report = {"run_dir": str(run), "held_out_clusters": held_out_clusters,
              "held_out_tasks": sorted(t for t in tuned["tasks"] if t in held_out_tasks), "base_model": base and
              base["settings"]["model"], "tuned_model": tuned["settings"]["model"], **comparison, "samples": side,
              **({"showcase": shown} if shown else {}),
              "plots": ["plots/clusters.png"] + (["plots/loss.png"] if has_loss else []), **(extra or {})}
    write_text_atomic(run / "report.json", json.dumps(report, indent=1, ensure_ascii=False))

    md = [f"# {title or 'instill report: ' + run.name}", ""]
    md += [f"- tuned model: `{report['tuned_model']}`", f"- base model: `{report['base_model'] or 'not evaluated'}`",
           f"- held out (never trained on): {len(report['held_out_tasks'])} tasks; clusters: "
           f"{', '.join(held_out_clusters) or 'none'}",
           f"- asked: {tuned['settings']['prompt_style']} prompts; options {tuned['settings']['options']}"
           f"{' (normalized by ' + tuned['settings']['normalize'] + ')' if tuned['settings']['normalize'] != 'none' else ''}"
           "; score = accuracy for tasks with options, ROUGE-L otherwise (x100)"]
    for k, v in (extra or {}).items():
        md.append(f"- {k.replace('_', ' ')}: {v}")
    md += ["", "## Overall", "", "| tasks | n | base | tuned | Δ | Δ 95% interval (paired bootstrap) |",
           "|---|---|---|---|---|---|"]
    for group, o in comparison["overall"].items():
        ci = o.get("delta_ci95")
        md.append(f"| {group.replace('_', '-')} | {o['n']} | {_fmt(o['base'])} | {_fmt(o['tuned'])} | "
                  f"{'–' if o['delta'] is None else format(o['delta'], '+.1f')} | "
                  f"{'–' if ci is None else f'{ci[0]:+.1f} to {ci[1]:+.1f}'} |")
    md += ["", "## Per cluster", "", *_md_table(comparison["clusters"], "cluster"), "",
           "![per-cluster scores](plots/clusters.png)", ""]
    if has_loss:
        md += ["![training loss](plots/loss.png)", ""]
    if shown:
        md += ["## Base vs tuned, side by side", "",
               "The base model continues each prompt as plain text; the tuned model answers it as a user turn "
               "(both greedy).", "", "| prompt | base model (raw continuation) | tuned model (answer) |", "|---|---|---|"]
        md += [f"| {_quote(r['prompt'], 400)} | {_quote(r['base'])} | {_quote(r['tuned'])} |" for r in shown]
        md.append("")
    md += ["## Per task", "", *_md_table(comparison["tasks"], "task", with_cluster=True), ""]
    if side:
        md += ["## Sample answers (held out)", "", "| task | prompt | reference | base | tuned |", "|---|---|---|---|---|"]
        for s in side:
            md.append(f"| {s['task']} | {_quote(s['prompt'], 400)} | {_quote(s['reference'])} | {_quote(s['base'])} "
                      f"| {_quote(s['tuned'])} |")
        md.append("")
    def rel(d: Path) -> str:
        return str(d / "predictions.jsonl").removeprefix(str(run) + "/")

    where_preds = " and ".join(f"`{rel(d)}`" for d in (base_dir if base else None, tuned_dir) if d is not None)
    md += [f"Every prediction, with its prompt, is in {where_preds}.", ""]
    path = run / "report.md"
    write_text_atomic(path, "\n".join(md))
    return path
