"""train.report_to: TensorBoard and W&B (offline) get metrics.jsonl's rows and the recipe, read back from their files."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from instill.config import Recipe, load_recipe
from instill.errors import InstillError
from instill.train import tracking
from instill.train.loop import train


def _rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _tensorboard_scalars(folder: Path) -> dict[str, dict[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder))
    acc.Reload()
    return {tag: {e.step: e.value for e in acc.Scalars(tag)} for tag in acc.Tags()["scalars"]}


def _tensorboard_hparams(folder: Path) -> dict[str, object]:
    """The hparams summary accelerate's add_hparams writes, in a sub-folder of the run's (another one holds
    hparams.yml)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    (sub,) = {p.parent for p in folder.glob("*/events.out.tfevents.*")}
    acc = EventAccumulator(str(sub))
    acc.Reload()
    data = plugin_data_pb2.HParamsPluginData.FromString(acc.PluginTagToContent("hparams")["_hparams_/session_start_info"])
    found = {}
    for key, value in data.session_start_info.hparams.items():
        kind = value.WhichOneof("kind")
        found[key] = getattr(value, kind)
    return found


def _wandb_records(path: Path) -> list:
    """Records of a W&B run file: a 7-byte file header, then LevelDB-log chunks (crc32 4, length 2, type 1) in blocks
    of 32 KiB whose payloads (FULL=1, or FIRST=2 MIDDLE=3 LAST=4) join into protobuf Records."""
    from wandb.proto import wandb_internal_pb2

    data, block, pos, records, parts = path.read_bytes(), 32768, 7, [], b""
    assert data[:4] == b":W&B"
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        length, kind = struct.unpack("<HB", data[pos + 4 : pos + 7])
        parts += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            records.append(wandb_internal_pb2.Record.FromString(parts))
            parts = b""
        elif kind == 0:
            break
    return records


def test_tensorboard_and_wandb_get_metrics_and_recipe(tmp_path, tiny_llama_dir, alpaca_file, make_recipe):
    cfg = make_recipe(tmp_path / "run", alpaca_file, str(tiny_llama_dir), max_steps=4, log_every=2, eval_every=2,
                      report_to=["tensorboard", "wandb"], tracking={"project": "proj", "wandb_mode": "offline"})
    cfg["data"]["validation_fraction"] = 0.25
    train(Recipe.model_validate(cfg))
    rows = _rows(tmp_path / "run")
    expected: dict[str, dict[int, float]] = {}
    for row in rows:
        for key, value in row.items():
            if key != "step":
                expected.setdefault(key, {})[row["step"]] = value
    assert set(expected) == {"loss", "lr", "tokens_per_s", "val_loss"} and len(expected["val_loss"]) == 2

    # TensorBoard: the same rows at the same steps (stored as float32), the recipe as hyper-parameters
    board = tmp_path / "run" / tracking.TENSORBOARD_DIR / "proj"
    scalars = _tensorboard_scalars(board)
    assert set(scalars) == set(expected)
    for key, by_step in expected.items():
        assert scalars[key] == pytest.approx(by_step, rel=1e-6)
    hparams = _tensorboard_hparams(board)
    assert hparams["train.lr"] == pytest.approx(1e-2) and hparams["train.max_steps"] == 4
    assert hparams["train.report_to"] == '["tensorboard", "wandb"]' and hparams["model.name"] == str(tiny_llama_dir)

    # W&B offline: a run file under run_dir/wandb with the same history rows and the recipe as its config
    (run_file,) = (tmp_path / "run" / "wandb").glob("offline-run-*/run-*.wandb")
    records = _wandb_records(run_file)
    history: dict[str, dict[int, float]] = {}
    for r in records:
        if r.WhichOneof("record_type") == "history":
            items = {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in r.history.item}
            for key, value in items.items():
                if not key.startswith("_"):  # wandb's own _step, _runtime, _timestamp
                    history.setdefault(key, {})[items["_step"]] = value
    assert history == expected
    config = {i.key: json.loads(i.value_json) for r in records if r.WhichOneof("record_type") == "config"
              for i in r.config.update}
    assert config["train.lr"] == 1e-2 and config["train.tracking.wandb_mode"] == "offline"
    run = next(r.run for r in records if r.WhichOneof("record_type") == "run")
    assert run.project == "proj" and run.display_name == "run"


def test_report_to_is_validated(tmp_path):
    base = ["data.train=[{format: alpaca, path: a.jsonl}]"]
    with pytest.raises(InstillError, match=r"train.report_to.*'tensorboard', 'wandb' or 'mlflow'"):
        load_recipe(None, [*base, "train.report_to=[tensorbord]"])
    with pytest.raises(InstillError, match="train: report_to lists wandb more than once"):
        load_recipe(None, [*base, "train.report_to=[wandb, tensorboard, wandb]"])
    with pytest.raises(InstillError, match=r"unknown field 'train.tracking.wandb_mod' \(did you mean 'train.tracking.wandb_mode'"):
        load_recipe(None, [*base, "train.tracking.wandb_mod=offline"])
    assert load_recipe(None, [*base, "train.report_to=[mlflow]"]).train.report_to == ["mlflow"]


def test_a_tracker_that_is_not_installed_is_one_line(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    with pytest.raises(InstillError, match=r"^train.report_to: mlflow is not installed; pip install 'instill\[mlflow\]'"):
        tracking.check_installed(["tensorboard", "mlflow"])
