"""Experiment trackers (TensorBoard, W&B, MLflow) through accelerate's trackers.

metrics.jsonl stays the record of a run: the trackers get the same rows (loss, lr, tokens_per_s, val_loss, under
the same names and steps) and the resolved recipe as hyper-parameters, for the dashboards teams already use.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from instill.config import Recipe
from instill.errors import InstillError

# the module each tracker imports, and the extra that installs it
_MODULES = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}
TENSORBOARD_DIR = "tensorboard"  # under run_dir; accelerate adds a folder named after train.tracking.project


def check_installed(report_to: list[str]) -> None:
    """Raises:
        InstillError: naming train.report_to and the extra to install, for the first tracker that is missing."""
    for name in report_to:
        if importlib.util.find_spec(_MODULES[name]) is None:
            raise InstillError(f"train.report_to: {name} is not installed; pip install 'instill[{name}]' "
                               f"or remove it from train.report_to")


def hyperparameters(recipe: Recipe) -> dict[str, str | int | float | bool]:
    """The resolved recipe as flat `section.field` keys with scalar values (what every tracker accepts): mappings
    become dotted keys; lists, empty mappings and nulls are written as JSON text.

    >>> hp = hyperparameters(Recipe.model_validate({"data": {"train": [{"format": "alpaca", "path": "a.jsonl"}]}}))
    >>> hp["train.lr"], hp["train.max_steps"], hp["data.train"][:20], hp["model.tiny.hidden_size"]
    (2e-05, 'null', '[{"format": "alpaca"', 128)
    """
    flat: dict[str, str | int | float | bool] = {}

    def walk(node: dict[str, Any], prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, dict) and value:
                walk(value, f"{prefix}{key}.")
            elif isinstance(value, (str, int, float, bool)):
                flat[prefix + key] = value
            else:
                flat[prefix + key] = json.dumps(value)

    walk(recipe.model_dump(mode="json"), "")
    return flat


def accelerator_kwargs(recipe: Recipe) -> dict[str, Any]:
    """Accelerator(...) arguments for train.report_to: the trackers, and where TensorBoard writes."""
    from accelerate.utils import ProjectConfiguration

    report_to = recipe.train.report_to
    if not report_to:
        return {}
    check_installed(report_to)
    run_dir = Path(recipe.run_dir)
    return {"log_with": list(report_to),
            "project_config": ProjectConfiguration(project_dir=str(run_dir), logging_dir=str(run_dir / TENSORBOARD_DIR))}


def start(accelerator: Any, recipe: Recipe) -> None:
    """Open each tracker's run (main process only: accelerate's trackers start there) with the recipe as its
    hyper-parameters. W&B writes under run_dir/wandb, in train.tracking.wandb_mode; MLflow goes where its tracking
    URI points (MLFLOW_TRACKING_URI, read by mlflow itself)."""
    if not recipe.train.report_to:
        return
    run_dir, tracking = Path(recipe.run_dir), recipe.train.tracking
    name = run_dir.name
    init_kwargs = {
        "wandb": {"mode": tracking.wandb_mode, "dir": str(run_dir), "name": name},
        "mlflow": {"run_name": name},
    }
    accelerator.init_trackers(tracking.project, config=hyperparameters(recipe), init_kwargs=init_kwargs)


def log(accelerator: Any, record: dict[str, Any]) -> None:
    """One metrics.jsonl row to every tracker, at its step (its null values left out)."""
    if accelerator.trackers:
        values = {k: v for k, v in record.items() if k != "step" and v is not None}
        accelerator.log(values, step=record["step"])


def finish(accelerator: Any) -> None:
    """Close every tracker's run. Not accelerator.end_training(): that also ends the process group, which a
    process running several trainings (tests, sweeps) or evaluating afterwards still needs."""
    for tracker in accelerator.trackers:
        tracker.finish()
    accelerator.trackers = []
