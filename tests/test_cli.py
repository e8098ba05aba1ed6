"""The `instill` command as a user meets it: real subprocesses, real exit codes, real stderr.

A user mistake must end in exit code 1 and one line on stderr, `error: ...`, that says where the problem is; a
traceback there would mean the mistake was treated as a bug.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

TINY = ["model.name=tiny", "model.tiny.hidden_size=16", "model.tiny.num_layers=1", "model.tiny.num_heads=2",
        "model.tiny.intermediate_size=32", "model.tiny.vocab_size=300"]


def instill(cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "PYTHONWARNINGS")}
    # wide, colourless help; nothing may reach for the network
    env.update(COLUMNS="200", NO_COLOR="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", "instill.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def assert_user_error(res: subprocess.CompletedProcess, *parts: str) -> str:
    """Exit code != 0, no traceback, and exactly one line on stderr: `error: ...` containing every part."""
    assert res.returncode != 0, res
    assert "Traceback" not in res.stderr, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    line = lines[0]
    assert line.startswith("error: "), line
    for part in parts:
        assert part in line, f"{part!r} not in {line!r}"
    return line


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


GOOD = {"instruction": "What is the capital of France?", "input": "", "output": "Paris is the capital."}


# --- user mistakes ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rows, parts", [
    pytest.param([GOOD, '{"instruction": "Say hi.", "output": ', GOOD], ["data.jsonl:2:", "invalid JSON"],
                 id="malformed-json-line"),
    pytest.param([GOOD, GOOD, {"instruction": "Say hi."}], ["data.jsonl:3:", "'output'"], id="missing-output"),
    pytest.param([{"instruction": "Say hi.", "output": "  "}], ["data.jsonl:1:", "'output'", "empty"],
                 id="empty-output"),
])
def test_bad_training_data_is_one_line_error(tmp_path, rows, parts):
    write_jsonl(tmp_path / "data.jsonl", rows)
    (tmp_path / "recipe.yaml").write_text(
        "data:\n  train: [{format: alpaca, path: builtin:quickstart}]\n", encoding="utf-8")
    res = instill(tmp_path, "train", "recipe.yaml", "data.train=[{format: alpaca, path: data.jsonl}]",
                  f"run_dir={tmp_path / 'run'}", *TINY)
    assert_user_error(res, *parts)
    assert not (tmp_path / "run" / "model").exists()


def test_unknown_recipe_field_is_one_line_error(tmp_path):
    (tmp_path / "recipe.yaml").write_text(
        "data:\n  train: [{format: alpaca, path: data.jsonl}]\ntrain:\n  lrr: 0.1\n", encoding="utf-8")
    res = instill(tmp_path, "train", "recipe.yaml")
    assert_user_error(res, "recipe.yaml", "unknown field 'train.lrr'", "did you mean 'train.lr'")


def test_missing_model_path_in_recipe_is_one_line_error(tmp_path):
    write_jsonl(tmp_path / "data.jsonl", [GOOD])
    (tmp_path / "recipe.yaml").write_text(
        "model:\n  name: ./no/such/model\ndata:\n  train: [{format: alpaca, path: data.jsonl}]\n", encoding="utf-8")
    res = instill(tmp_path, "train", "recipe.yaml", f"run_dir={tmp_path / 'run'}")
    assert_user_error(res, "./no/such/model", "does not exist")


def test_generate_with_missing_model_is_one_line_error(tmp_path):
    res = instill(tmp_path, "generate", "--model", "./missing", "hi")
    assert_user_error(res, "./missing", "does not exist")


# --- help ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("args, words", [
    ([], ["train", "generate", "chat", "data"]),
    (["train"], ["YAML recipe", "key=value", "train.lr=3e-4", "accelerate launch"]),
    (["generate"], ["--model", "--max-new-tokens", "--temperature", "--system", "--raw"]),
    (["chat"], ["--model", "/reset", "/exit", "--max-new-tokens"]),
    (["data", "preview"], ["YAML recipe", "key=value", "[[", "-n"]),
])
def test_help(tmp_path, args, words):
    res = instill(tmp_path, *args, "--help")
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    text = res.stdout
    for word in words:
        assert word.lower() in text.lower(), f"{word!r} not in help for {args}:\n{text}"


# --- working commands ---------------------------------------------------------------------------------------------


def test_data_preview_marks_loss_on_responses(tmp_path):
    write_jsonl(tmp_path / "data.jsonl", [
        GOOD,
        {"instruction": "Reverse the words.", "input": "red green blue", "output": "blue green red"},
        {"instruction": "Not shown.", "output": "Never printed."},
    ])
    (tmp_path / "recipe.yaml").write_text(
        "data:\n  train:\n    - format: alpaca\n      path: data.jsonl\n  max_length: 64\n", encoding="utf-8")
    res = instill(tmp_path, "data", "preview", "recipe.yaml", *TINY, "-n", "2")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert out.count("--- sequence") == 2
    spans = re.findall(r"\[\[(.*?)\]\]", out, flags=re.S)
    assert len(spans) == 2, out
    assert "Paris is the capital." in spans[0] and "blue green red" in spans[1]
    outside = re.sub(r"\[\[.*?\]\]", "", out, flags=re.S)
    for user_text in ("What is the capital of France?", "Reverse the words.", "red green blue"):
        assert user_text in outside, out
        assert not any(user_text in s for s in spans), out
    assert "Never printed." not in out


def test_generate_runs_on_a_saved_model(tmp_path, tiny_llama_dir):
    from instill.inference.chat_model import load_chat_model
    from instill.inference.engine import generate
    from instill.inference.sampling import SamplingParams

    res = instill(tmp_path, "generate", "--model", str(tiny_llama_dir), "hello", "--max-new-tokens", "5")
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    assert res.stdout.endswith("\n")
    # greedy: the streamed reply is the library's reply to the same one-turn chat
    cm = load_chat_model(str(tiny_llama_dir))
    expected = generate(cm, cm.chat_ids([{"role": "user", "content": "hello"}]), SamplingParams(max_tokens=5)).text
    assert res.stdout.strip() == expected.strip()


# --- files that are not UTF-8, recipes with several mistakes --------------------------------------------------------


def test_a_recipe_that_is_not_utf8_is_one_line_naming_file_and_byte(tmp_path):
    (tmp_path / "r.yaml").write_bytes(b"# caf\xe9\nmodel: {name: tiny}\n")
    assert_user_error(instill(tmp_path, "train", "r.yaml"), "r.yaml:1:", "not UTF-8", "byte 5")


@pytest.mark.parametrize("kind, args", [
    ("task card", ["data", "tasks", "--cards", "bad.yaml"]),
    ("sweep file", ["sweep", "bad.yaml"]),
])
def test_other_yaml_files_that_are_not_utf8_are_one_line(tmp_path, kind, args):
    (tmp_path / "bad.yaml").write_bytes(b"cluster: x\nname: \xff\xfe\n")
    assert_user_error(instill(tmp_path, *args), "bad.yaml:2:", f"this {kind} is not UTF-8")


def test_model_string_shorthand_and_every_recipe_error_at_once(tmp_path):
    from instill.config import load_recipe
    from instill.errors import InstillError

    (tmp_path / "r.yaml").write_text("model: tiny\ndata: {train: [{format: alpaca, path: x.json}]}\n")
    assert load_recipe(tmp_path / "r.yaml").model.name == "tiny"
    (tmp_path / "bad.yaml").write_text("model: tiny\ntrain: {lr: -1, batch_size: 0, epochs: 1}\n"
                                       "data: {train: [{format: alpaca, path: x.json}]}\n")
    with pytest.raises(InstillError) as e:
        load_recipe(tmp_path / "bad.yaml")
    assert "train.lr" in str(e.value) and "train.batch_size" in str(e.value) and "\n" not in str(e.value)


def test_tk_instruct_adds_a_period_unless_any_punctuation_ends_the_field():
    from instill.formats import _tk_field

    assert _tk_field("take place:") == "take place:"  # task1540's definition; Tk-Instruct checks string.punctuation
    assert _tk_field("Answer (yes/no)") == "Answer (yes/no)"
    assert _tk_field("Say it") == "Say it."


def test_eval_per_task_takes_a_number_and_show_tasks_prints_the_table(tmp_path, tiny_llama_dir):
    res = instill(tmp_path, "eval", "-m", str(tiny_llama_dir), "--tasks", "uppercase", "--per-task", "2",
                  "--show-tasks", "--precision", "fp32", "--out", str(tmp_path / "ev"))
    assert res.returncode == 0, res.stderr[-1500:]
    preds = (tmp_path / "ev" / "predictions.jsonl").read_text().splitlines()
    assert len(preds) == 2 and "uppercase" in res.stdout


def test_eval_options_take_their_defaults_from_the_schemas():
    """`instill eval`'s options are read from EvalConfig and MixtureConfig (eval_format, eval_per_task): with the
    schema's defaults changed before the command is built, every option follows."""
    changed = {"EvalConfig": {"options": "generate", "normalize": "chars", "prompt_style": "raw", "max_new_tokens": 7,
                              "cot_max_new_tokens": 9, "batch_size": 3, "precision": "bf16"},
               "MixtureConfig": {"eval_format": "few_shot", "eval_per_task": 5}}
    flag = {"eval_format": "fmt", "eval_per_task": "per_task"}
    code = f"""
import inspect, json
from instill import config
for schema, fields in {changed!r}.items():
    for name, value in fields.items():
        getattr(config, schema).model_fields[name].default = value
from instill.cli import eval_cmd
print(json.dumps({{n: p.default.default for n, p in inspect.signature(eval_cmd).parameters.items()}}, default=str))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    defaults = json.loads(out.stdout.splitlines()[-1])
    want = {flag.get(n, n): v for fields in changed.values() for n, v in fields.items()}
    assert {n: defaults[n] for n in want} == want


def test_openai_content_parts_are_joined_and_an_image_part_is_one_line(tmp_path):
    from instill.sources import load_source

    text = {"messages": [{"role": "user", "content": [{"type": "text", "text": "Say hi."}]},
                         {"role": "assistant", "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "!"}]}]}
    path = write_jsonl(tmp_path / "chats.jsonl", [text])
    (conv,) = list(load_source(format="openai", path=str(path)))
    assert [m.content for m in conv.messages] == ["Say hi.", "Hi\n!"]
    image = {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x.png"}}]},
                          {"role": "assistant", "content": "A cat."}]}
    write_jsonl(tmp_path / "chats.jsonl", [text, image])
    (tmp_path / "r.yaml").write_text("model: {name: tiny}\ndata: {train: [{format: openai, path: chats.jsonl}]}\n")
    assert_user_error(instill(tmp_path, "train", "r.yaml", *TINY), "chats.jsonl:2:", "messages[0]", "content[0]",
                      "'image_url'")


def test_a_data_folder_reads_its_files_and_an_empty_one_says_it_is_a_folder(tmp_path):
    from instill.errors import InstillError
    from instill.sources import load_source

    folder = tmp_path / "data"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", [GOOD])
    write_jsonl(folder / "b.jsonl", [{**GOOD, "output": "Paris."}])
    (folder / "notes.txt").write_text("not data")
    records = list(load_source(format="alpaca", path=str(folder)))
    assert [r.output for r in records] == ["Paris is the capital.", "Paris."]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InstillError, match="a folder with no .json, .jsonl or .ndjson file"):
        list(load_source(format="alpaca", path=str(empty)))


def test_a_card_whose_template_the_sandbox_blocks_is_refused_when_it_loads(tmp_path):
    (tmp_path / "cards").mkdir()
    (tmp_path / "cards" / "evil.yaml").write_text(
        "cluster: misc\nanswer_field: b\ninstances: {inline: {train: [{a: hi, b: there}]}}\n"
        "templates:\n  - \"{{ a.__class__.__mro__ }} ||| {{ b }}\"\n", encoding="utf-8")
    assert_user_error(instill(tmp_path, "data", "tasks", "--cards", "cards"), "evil.yaml", "template evil/1",
                      "blocked by the template sandbox")
