"""`instill run RECIPE`: data -> train -> evaluate base and tuned -> report, all in the recipe's run_dir.

Each stage is a small function, and one record says which are done: `run_dir/stages.json` holds, per stage, a
fingerprint of what its result depends on (the recipe fields of `STAGE_FIELDS` for data and training; the model, its
weights, the items and how they are asked for an evaluation) and whether it finished. A finished stage with the same
fingerprint is skipped; a training cut short resumes from its last checkpoint; data or training whose recipe fields
changed is refused rather than silently mixed with the old outputs, while an evaluation whose settings or weights
changed is run again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from instill.config import Recipe
from instill.errors import InstillError
from instill.files import write_text_atomic

log = logging.getLogger(__name__)

STAGES_FILE = "stages.json"
# the recipe fields each stage's result depends on (dotted: one field of a section)
STAGE_FIELDS = {
    "data": ("seed", "mixture", "data.system_prompt"),
    "train": ("seed", "mixture", "data", "model", "chat", "train"),
}
# what older instill fingerprinted: the whole data section (data.max_length among it), though the mixture does not
# depend on it; a run folder recorded that way is still accepted
_OLD_STAGE_FIELDS = {"data": ("seed", "mixture", "data")}


def fingerprint(recipe: Recipe, fields: tuple[str, ...]) -> str:
    """A short hash of some recipe fields (train.resume and the trackers left out: they do not change the result)."""
    include: dict[str, Any] = {}
    for name in fields:
        section, _, key = name.partition(".")
        include[section] = include.get(section, set()) | {key} if key else True
    dumped = recipe.model_dump(mode="json", include=include)
    for key in ("resume", "report_to", "tracking"):
        dumped.get("train", {}).pop(key, None)
    return _hash(dumped)


def _hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


class Stages:
    """The one resume record: per stage, its fingerprint and whether it finished, written as each starts and ends."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / STAGES_FILE
        self.done: dict[str, Any] = json.loads(self.path.read_text()) if self.path.is_file() else {}

    def finished(self, name: str, fp: str) -> bool:
        entry = self.done.get(name, {})
        return entry.get("fingerprint") == fp and entry.get("finished", False)

    def check(self, name: str, fp: str, outputs_exist: bool, old_fp: str | None = None) -> bool:
        """True when the stage finished with this fingerprint; an error when it ran (or started) with another.
        `old_fp`: the fingerprint older instill recorded for the same recipe, accepted (and rewritten as `fp`)."""
        entry = self.done.get(name, {})
        if old_fp is not None and entry.get("fingerprint") == old_fp != fp:
            entry["fingerprint"] = fp
            self._write()
        recorded = entry.get("fingerprint")
        if recorded is not None and recorded != fp and outputs_exist:
            raise InstillError(
                f"{self.path.parent}: stage '{name}' was run with a different recipe (one of {', '.join(STAGE_FIELDS[name])} "
                f"changed); use another run_dir, or delete {self.path.parent} to start over")
        return self.finished(name, fp) and outputs_exist

    def start(self, name: str, fp: str) -> None:
        """Record that a stage began, so a crash leaves a fingerprint a resume can be checked against."""
        self.done[name] = {"fingerprint": fp, "finished": False}
        self._write()

    def finish(self, name: str, fp: str, seconds: float) -> None:
        self.done[name] = {"fingerprint": fp, "finished": True, "seconds": round(seconds, 1)}
        self._write()

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.path, json.dumps(self.done, indent=1))


@dataclass
class RunState:
    """What the stages of one `instill run` share: the recipe, its folder, the record, and each stage's seconds."""

    recipe: Recipe
    run_dir: Path
    stages: Stages
    progress: bool = True
    timings: dict[str, float] = field(default_factory=dict)


def _timed(label: str, fn: Callable[[], Any]) -> tuple[Any, float]:
    log.info("== %s", label)
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def base_model_of(recipe: Recipe) -> str:
    """The model the tuned one is compared with."""
    from instill.train.loop import BASE_MODEL_DIR

    if recipe.eval.base_model:
        return recipe.eval.base_model
    if recipe.model.name == "tiny":
        return str(Path(recipe.run_dir) / BASE_MODEL_DIR)
    return recipe.model.name


def _train_speed(run_dir: Path) -> dict[str, Any]:
    """Training tokens per second (mean over logged windows) and steps, from metrics.jsonl."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return {}
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    rates = [r["tokens_per_s"] for r in rows if "tokens_per_s" in r]
    if not rates:
        return {}
    return {"train_tokens_per_s": round(sum(rates) / len(rates), 1), "train_steps": max(r["step"] for r in rows)}


def _showcase(recipe: Recipe, evals: dict[str, str], items: list, held_tasks: list[str], run_dir: Path) -> None:
    """Base raw continuations beside tuned answers for the recipe's prompts and the first held-out item."""
    from instill.evaluate.runner import model_stamp
    from instill.evaluate.showcase import SHOWCASE_FILE, read_showcase, showcase, write_showcase

    prompts = list(recipe.eval.showcase)
    first_held = next((it for it in items if it.task in held_tasks), None)
    if first_held is not None:
        prompts.append(first_held.prompt)
    settings = {"prompts": prompts, "base": model_stamp(evals["base"]), "tuned": model_stamp(evals["tuned"]),
                "max_new_tokens": recipe.eval.max_new_tokens, "precision": recipe.eval.precision}
    path = run_dir / "eval" / SHOWCASE_FILE
    if read_showcase(path, settings) is None:
        rows = showcase(evals["base"], evals["tuned"], prompts, recipe.eval.max_new_tokens, recipe.eval.precision)
        write_showcase(path, rows, settings)


def _eval_done(run_dir: Path, name: str, settings: dict[str, Any]) -> bool:
    """True when run_dir's evaluation `name` finished with these settings, by run_dir's stages.json. A folder that
    older instill evaluated (no record of the stage) counts when its metrics.json holds these settings."""
    from instill.evaluate.runner import PREDICTIONS, is_done

    stages, out = Stages(run_dir), run_dir / "eval" / name
    if f"eval_{name}" not in stages.done:
        return is_done(out, settings)
    return stages.finished(f"eval_{name}", _hash(settings)) and (out / PREDICTIONS).is_file()


def _copy_finished_eval(settings: dict[str, Any], others: Sequence[Path], out: Path) -> bool:
    """Copy an evaluation with the same settings (model, weights, items, how asked) from another run's folder, so a
    sweep evaluates its base model once, not once per point. True when one was found."""
    for other in others:
        src = other / "eval" / out.name
        if src.resolve() != out.resolve() and _eval_done(other, out.name, settings):
            tmp = out.with_name(out.name + ".partial")
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(src, tmp)
            shutil.rmtree(out, ignore_errors=True)
            tmp.rename(out)
            log.info("eval %s: the same as in %s; copied", out.name, src)
            return True
    return False


def data_stage(st: RunState) -> Any:
    """The mixture, built in memory every time (seconds, and training needs it); written once per fingerprint."""
    from instill.build import write_mixture
    from instill.evaluate.items import eval_file_is_current
    from instill.mixture import build_mixture

    recipe = st.recipe
    mix, dt = _timed("data", lambda: build_mixture(recipe.mixture, recipe.seed, recipe.data.system_prompt,
                                                   progress=st.progress))
    fp = fingerprint(recipe, STAGE_FIELDS["data"])
    old_fp = fingerprint(recipe, _OLD_STAGE_FIELDS["data"])
    # an eval set older instill wrote is written again from the mixture (rebuilt in memory on every run anyway)
    if not st.stages.check("data", fp, eval_file_is_current(st.run_dir / "data" / "eval.jsonl"), old_fp):
        write_mixture(recipe, mix)
        st.stages.finish("data", fp, dt)
    st.timings["data"] = dt
    if not mix.eval:
        raise InstillError("the mixture has no evaluation rows: hold a cluster out (mixture.held_out_clusters) "
                           "or set mixture.eval_seen_tasks=true")
    return mix


def train_stage(st: RunState, mix: Any) -> Path:
    """The tuned model: skipped when this recipe's training finished, resumed from a checkpoint when one exists."""
    fp = fingerprint(st.recipe, STAGE_FIELDS["train"])
    run_dir, stages = st.run_dir, st.stages
    model_dir = run_dir / "model"
    started = any((run_dir / n).exists() for n in ("metrics.jsonl", "checkpoints", "model"))
    if model_dir.is_dir() and not stages.check("train", fp, started):
        if stages.done.get("train", {}).get("fingerprint") != fp:  # trained by hand, or by an older instill
            raise InstillError(f"{model_dir} exists but this run did not finish training it; use another run_dir")
        # this recipe's training was under way and the final save is atomic, so the folder is whole: only the
        # record after it was missed (killed in between)
        log.info("train: the model was saved whole before the run stopped (%s)", model_dir)
        stages.finish("train", fp, 0.0)
    if stages.check("train", fp, started) and model_dir.is_dir():
        log.info("train: done already (%s)", model_dir)
        return model_dir
    from instill.train.loop import train

    stages.start("train", fp)
    r = st.recipe.model_copy(deep=True)
    r.train.resume = started  # a training cut short continues from its newest checkpoint
    _, dt = _timed("train", lambda: train(r, mix))
    stages.finish("train", fp, dt)
    st.timings["train"] = dt
    return model_dir


def eval_stage(st: RunState, name: str, model: str, items: list, share_evals_from: Sequence[Path]) -> None:
    """Evaluate `model` into run_dir/eval/NAME, unless done with the same settings here (or in a shared folder,
    copied); its fingerprint is the settings' hash, so changed settings or weights run it again."""
    from instill.evaluate.runner import METRICS, evaluate_model, settings_of

    out, stage = st.run_dir / "eval" / name, f"eval_{name}"
    settings = settings_of(model, items, st.recipe.eval)
    fp = _hash(settings)
    if _eval_done(st.run_dir, name, settings) or _copy_finished_eval(settings, share_evals_from, out):
        log.info("eval %s: done already (%s)", name, out)
    else:
        st.stages.start(stage, fp)
        _, st.timings[stage] = _timed(f"eval {name} ({model})", lambda: evaluate_model(
            model, items, st.recipe.eval, out, st.progress))
    if not st.stages.finished(stage, fp):
        # the seconds it took where it ran (a copied evaluation: in the folder it came from)
        st.stages.finish(stage, fp, json.loads((out / METRICS).read_text(encoding="utf-8")).get("seconds", 0.0))


def run(recipe: Recipe, progress: bool = True, share_evals_from: Sequence[Path] = ()) -> Path:
    """Run every stage that is not done yet; returns the path of report.md.

    `share_evals_from`: other run folders (a sweep's earlier points) whose finished evaluation is copied instead of
    run again when its settings are the same (in practice the base model's, on the same items)."""
    from instill.config import save_recipe
    from instill.evaluate.items import read_eval_jsonl
    from instill.evaluate.report import write_report

    if recipe.mixture is None:
        raise InstillError("instill run needs a recipe with a 'mixture' section: the held-out tasks it evaluates "
                           "come from it (see recipes/quickstart.yaml)")
    run_dir = Path(recipe.run_dir)
    st = RunState(recipe, run_dir, Stages(run_dir), progress)
    t_start = time.perf_counter()
    mix = data_stage(st)
    evals = {"tuned": str(train_stage(st, mix))}
    save_recipe(recipe, run_dir / "config.yaml")
    if recipe.eval.base:
        evals["base"] = base_model_of(recipe)
    items = read_eval_jsonl(run_dir / "data" / "eval.jsonl")
    for name, model in evals.items():
        eval_stage(st, name, model, items, share_evals_from)
    held = mix.held_out_tasks  # held-out clusters' tasks and evaluation-only tasks (SNI test tasks): never trained on
    if recipe.eval.showcase and "base" in evals:
        _, st.timings["showcase"] = _timed("showcase", lambda: _showcase(recipe, evals, items, held, run_dir))
    total = time.perf_counter() - t_start
    extra = {"stage_seconds": {k: round(v, 1) for k, v in st.timings.items()},
             "wall_seconds_this_call": round(total, 1), **_train_speed(run_dir)}
    return write_report(run_dir, run_dir / "eval" / "base" if "base" in evals else None, run_dir / "eval" / "tuned",
                        held, recipe.eval.samples, extra=extra)
