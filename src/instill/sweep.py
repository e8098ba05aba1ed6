"""`instill sweep FILE`: several `instill run`s that differ in a few recipe fields, and one plot across them.

FLAN's figure (held-out score against the number of training clusters) and a model-size sweep are both sweeps:
a base recipe, one list of overrides per point, and the held-out score of each point plotted against its x value.

```yaml
recipe: quickstart.yaml          # relative to this file
run_dir: runs/cluster_sweep      # each point runs in run_dir/<label>
overrides: [train.epochs=2]      # applied to every point
x_label: clusters trained on
points:
  - {label: c1, x: 1, overrides: ["mixture.tasks=[cluster:arithmetic]"]}
  - {label: c2, x: 2, overrides: ["mixture.tasks=[cluster:arithmetic, cluster:sentiment]"]}
```
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, PrivateAttr, ValidationError

from instill.config import Recipe, Strict, load_recipe
from instill.errors import InstillError
from instill.files import invalid_yaml, read_utf8, write_text_atomic, yaml_kind


class SweepPoint(Strict):
    label: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="the point's folder name under run_dir")
    x: float = Field(description="its position on the plot's x axis")
    overrides: list[str] = Field(default_factory=list)


class Sweep(Strict):
    recipe: str = Field(description="the base recipe, relative to the sweep file")
    run_dir: str
    overrides: list[str] = Field(default_factory=list, description="applied to every point, before its own")
    x_label: str = "x"
    x_log: bool = Field(False, description="log-scale x axis (model sizes)")
    title: str = "held-out score"
    points: list[SweepPoint] = Field(min_length=1)
    _file: str = PrivateAttr("sweep")  # where it was read, for messages


def load_sweep(path: str | Path) -> Sweep:
    p = Path(path)
    if not p.is_file():
        raise InstillError(f"{p}: sweep file not found")
    try:
        tree = yaml.safe_load(read_utf8(p, "sweep file")) or {}
        if not isinstance(tree, dict):
            raise InstillError(f"{p}: a sweep file must be a mapping of fields at its top level, got "
                               f"{yaml_kind(tree)}")
        sweep = Sweep.model_validate(tree)
    except yaml.YAMLError as e:
        raise invalid_yaml(p, e) from None
    except ValidationError as e:
        first = e.errors()[0]
        raise InstillError(f"{p}: {'.'.join(str(x) for x in first['loc'])}: {first['msg']}") from None
    recipe = (p.parent / sweep.recipe).resolve()
    if not recipe.is_file():
        raise InstillError(f"{p}: recipe: '{sweep.recipe}' not found (looked for {recipe}; a recipe path is "
                           "relative to the sweep file)")
    sweep.recipe = str(recipe)
    if len({pt.label for pt in sweep.points}) != len(sweep.points):
        raise InstillError(f"{p}: two points share a label")
    sweep._file = str(p)
    return sweep


def point_recipes(sweep: Sweep, extra_overrides: list[str] = ()) -> list[Recipe]:
    """Every point's recipe, checked before the first run starts (a bad override in the last point is an error
    at once, naming the sweep file and the point, not after the other points have run)."""
    out = []
    for i, pt in enumerate(sweep.points):
        overrides = [*sweep.overrides, *pt.overrides, *extra_overrides, f"run_dir={Path(sweep.run_dir) / pt.label}"]
        try:
            out.append(load_recipe(sweep.recipe, overrides))
        except InstillError as e:
            raise InstillError(f"{sweep._file}: points.{i} ({pt.label}): {e}") from None
    return out


def run_sweep(sweep: Sweep, extra_overrides: list[str] = (), progress: bool = True) -> Path:
    """Run (or resume) every point, then write sweep.json, sweep.md and sweep.png under the sweep's run_dir."""
    from instill.run import run

    out = Path(sweep.run_dir)
    results: list[dict[str, Any]] = []
    for pt, recipe in zip(sweep.points, point_recipes(sweep, extra_overrides)):
        run_dir = out / pt.label
        run(recipe, progress=progress, share_evals_from=[out / done["label"] for done in results])
        report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
        held = report["overall"].get("held_out") or {}
        seen = report["overall"].get("seen") or {}
        train_stats = json.loads((run_dir / "data" / "stats.json").read_text(encoding="utf-8"))
        results.append({"label": pt.label, "x": pt.x, "held_out_tuned": held.get("tuned"), "held_out_base": held.get("base"),
                        "held_out_n": held.get("n"), "held_out_delta_ci95": held.get("delta_ci95"),
                        "wall_seconds": _wall_seconds(run_dir),
                        "seen_tuned": seen.get("tuned"), "train_examples": train_stats["examples"],
                        "train_clusters": len(train_stats["clusters"]), "report": str(run_dir / "report.md")})
    write_text_atomic(out / "sweep.json", json.dumps({"title": sweep.title, "x_label": sweep.x_label,
                                                       "points": results}, indent=1))
    _plot(sweep, results, out / "sweep.png")
    md = [f"# {sweep.title}", "", f"| {sweep.x_label} | label | training examples | held-out items | held-out base "
          "| held-out tuned | Δ 95% interval | seen tuned | seconds (data + train + evals) |", "|---|---|---|---|---|---|---|---|---|"]
    fmt = lambda v: "–" if v is None else f"{v:.1f}"  # noqa: E731
    for r in results:
        ci = r["held_out_delta_ci95"]
        md.append(f"| {r['x']:g} | [{r['label']}]({r['label']}/report.md) | {r['train_examples']} | "
                  f"{r['held_out_n'] or '–'} | {fmt(r['held_out_base'])} | {fmt(r['held_out_tuned'])} | "
                  f"{'–' if ci is None else f'{ci[0]:+.1f} to {ci[1]:+.1f}'} | {fmt(r['seen_tuned'])} | "
                  f"{fmt(r['wall_seconds'])} |")
    md += ["", "![sweep](sweep.png)", ""]
    write_text_atomic(out / "sweep.md", "\n".join(md))
    return out / "sweep.md"


def _wall_seconds(run_dir: Path) -> float:
    """The seconds a point's stages took when they ran, whichever call of `instill run` ran them: `run` has just
    recorded every stage, evaluations included, in stages.json (a copied evaluation with the time it took where it
    ran)."""
    stages = json.loads((run_dir / "stages.json").read_text(encoding="utf-8"))
    return round(sum(s.get("seconds", 0.0) for s in stages.values()), 1)


def _plot(sweep: Sweep, results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [r["x"] for r in results]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(xs, [r["held_out_tuned"] for r in results], "o-", label="instruction-tuned")
    if any(r["held_out_base"] is not None for r in results):
        ax.plot(xs, [r["held_out_base"] for r in results], "s--", color="#9e9e9e", label="base (untuned)")
    if sweep.x_log:
        ax.set_xscale("log")
    ax.set_xlabel(sweep.x_label)
    ax.set_ylabel("held-out score (x100)")
    ax.set_title(sweep.title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
