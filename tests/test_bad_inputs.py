"""Every kind of file the `instill` command reads, broken on purpose: each must end in exit code 1 and exactly one
line on stderr that names the file and the line or field at fault, with no traceback, and leave nothing behind
that trips up a second run of the same command (it must fail the same way).

The command runs in this process, through `instill.cli.main` as the console script runs it (sys.argv, the
InstillError handler, log lines on stderr), so forty cases take seconds rather than a fresh interpreter each.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from instill.cli import main

J = json.dumps
TINY = "{name: tiny, tiny: {hidden_size: 16, num_layers: 1, num_heads: 2, intermediate_size: 32, vocab_size: 300}}"
RECIPE = f"""run_dir: run
model: {TINY}
data:
  train: [{{format: alpaca, path: good.jsonl}}]
  max_length: 64
train: {{epochs: 1, batch_size: 2}}
"""
GOOD = {"instruction": "Say hi to the reader.", "input": "", "output": "Hi there, reader."}
GOOD_FILES = {"recipe.yaml": RECIPE, "good.jsonl": (J(GOOD) + "\n") * 4}
CARD = """cluster: demo
answer_field: label
options: [good, bad]
instances: {inline: {train: [{text: "nice", label: good}], test: [{text: "awful", label: bad}]}}
templates:
  - "Is this good or bad? {{text}} ||| {{label}}"
"""
SEED = {"id": "seed_task_0", "name": "greet", "instruction": "Write a greeting for a friend.",
        "instances": [{"input": "", "output": "Hello, friend!"}], "is_classification": False}
EVAL_ROW = {"task": "t", "cluster": "c", "messages": [{"role": "user", "content": "Is it good?"}], "references": ["yes"],
            "answer": "yes", "options": ["yes", "no"], "format": "zero_shot", "instance_id": None, "template": None,
            "split": None, "index": None}
SNI = {"Definition": ["Say if the review is good."], "Categories": ["Sentiment Analysis"],
       "Positive Examples": [], "Instances": [{"id": "task1-0", "input": "great", "output": ["good"]}]}


def train_on(fmt: str, path: str) -> list[str]:
    return ["train", "recipe.yaml", f"data.train=[{{format: {fmt}, path: {path}}}]"]


def lines(*rows: object) -> str:
    return "".join((r if isinstance(r, str) else J(r)) + "\n" for r in rows)


SI = ["selfinstruct", "generate", "--backend", "openai", "--base-url", "http://127.0.0.1:9/v1", "--model", "m",
      "--out", "si", "--no-progress"]
EVAL = ["eval", "-m", "tiny", "--data", "eval.jsonl", "--out", "ev"]
CARDS = ["data", "tasks", "--no-builtin", "--cards", "cards"]
PREVIEW = ["data", "preview", "recipe.yaml", "-n", "1"]


@dataclass
class Case:
    id: str
    files: dict[str, str | bytes]
    args: list[str]
    expect: list[str]  # each must appear in the one stderr line: the file, and the line or field


CASES = [
    # --- recipes ---------------------------------------------------------------------------------------------------
    Case("recipe-yaml-syntax", {"recipe.yaml": "data:\n  train: [{format: alpaca, path: good.jsonl}\ntrain: {}\n"},
         ["train", "recipe.yaml"], ["recipe.yaml:3:1: invalid YAML: expected ',' or ']'", "began on line 2"]),
    Case("recipe-not-a-mapping", {"recipe.yaml": "- train\n- data\n"}, ["train", "recipe.yaml"],
         ["recipe.yaml: ", "at its top level, got a list"]),
    Case("recipe-unknown-field", {"recipe.yaml": RECIPE + "eval: {max_new_tokns: 4}\n"}, ["train", "recipe.yaml"],
         ["recipe.yaml", "eval.max_new_tokns", "eval.max_new_tokens"]),
    Case("recipe-wrong-type", {"recipe.yaml": RECIPE.replace("epochs: 1", "epochs: many")}, ["train", "recipe.yaml"],
         ["recipe.yaml", "train.epochs"]),
    Case("recipe-source-without-path", {"recipe.yaml": RECIPE.replace("path: good.jsonl", "split: train")},
         ["train", "recipe.yaml"], ["recipe.yaml", "data.train.0", "'path' or 'hub'"]),
    Case("recipe-not-utf8", {"recipe.yaml": RECIPE.encode() + b"seed: caf\xe9\n"}, ["train", "recipe.yaml"],
         ["recipe.yaml:7:", "not UTF-8", "byte"]),
    Case("recipe-data-file-missing", {"recipe.yaml": RECIPE.replace("good.jsonl", "gone.jsonl")},
         ["train", "recipe.yaml"], ["gone.jsonl", "not found"]),
    # --- data files, one per format ----------------------------------------------------------------------------------
    Case("alpaca-jsonl-broken-line", {"a.jsonl": lines(GOOD, '{"instruction": "Hi", "output": ', GOOD)},
         train_on("alpaca", "a.jsonl"), ["a.jsonl:2:", "JSON"]),
    Case("alpaca-missing-output", {"a.jsonl": lines(GOOD, {"instruction": "Say hi."})},
         train_on("alpaca", "a.jsonl"), ["a.jsonl:2:", "'output'"]),
    Case("alpaca-output-not-text", {"a.jsonl": lines({"instruction": "Add 2 and 3.", "output": 5})},
         train_on("alpaca", "a.jsonl"), ["a.jsonl:1:", "'output'"]),
    Case("alpaca-json-array-with-a-string", {"a.json": J([GOOD, "not a record"])},
         train_on("alpaca", "a.json"), ["a.json: record 1:", "JSON object"]),  # records count from 0
    Case("dolly-missing-response", {"d.jsonl": lines({"instruction": "Name a color.", "context": "",
                                                      "category": "open_qa"})},
         train_on("dolly", "d.jsonl"), ["d.jsonl:1:", "'response'"]),
    Case("sharegpt-unknown-speaker", {"s.jsonl": lines({"conversations": [{"from": "human", "value": "hi"},
                                                                         {"from": "robot", "value": "hello"}]})},
         train_on("sharegpt", "s.jsonl"), ["s.jsonl:1:", "robot"]),
    Case("sharegpt-conversations-not-a-list", {"s.jsonl": lines({"conversations": "hi"})},
         train_on("sharegpt", "s.jsonl"), ["s.jsonl:1:", "'conversations'"]),
    Case("openai-unknown-role", {"o.jsonl": lines({"messages": [{"role": "human", "content": "hi"},
                                                               {"role": "assistant", "content": "hello"}]})},
         train_on("openai", "o.jsonl"), ["o.jsonl:1:", "human"]),
    Case("openai-two-user-turns", {"o.jsonl": lines({"messages": [{"role": "user", "content": "hi"},
                                                                 {"role": "user", "content": "hi again"},
                                                                 {"role": "assistant", "content": "hello"}]})},
         train_on("openai", "o.jsonl"), ["o.jsonl:1:", "messages 0 and 1"]),
    Case("openai-not-utf8", {"o.jsonl": lines({"messages": [{"role": "user", "content": "hi"},
                                                           {"role": "assistant", "content": "yo"}]}).encode()
                                        + b'{"messages": [{"role": "user", "content": "caf\xe9"}]}\n'},
         train_on("openai", "o.jsonl"), ["o.jsonl:2:", "UTF-8"]),
    Case("sni-instances-not-a-list", {"task1.json": J(SNI | {"Instances": {"id": "x"}})},
         train_on("sni", "task1.json"), ["task1.json", "'Instances'"]),
    Case("sni-instance-without-input", {"task1.json": J(SNI | {"Instances": [{"id": "task1-0", "output": ["x"]}]})},
         train_on("sni", "task1.json"), ["task1.json", "instance 0", "'input'"]),
    Case("sni-task-is-a-list", {"task1.json": J([SNI])}, train_on("sni", "task1.json"), ["task1.json", "object"]),
    Case("cot-empty-file", {"g.tsv": "\n\n"}, train_on("cot", "g.tsv"), ["g.tsv", "no records"]),
    Case("sni-not-json", {"task1.json": J(SNI)[:-20]}, train_on("sni", "task1.json"),
         ["task1.json:1:", "invalid JSON"]),
    Case("cot-two-columns", {"g.tsv": "What is 2+2?\t4\tTwo and two make four.\nWhat is 3+3?\t6\n"},
         train_on("cot", "g.tsv"), ["g.tsv:2:", "3 tab-separated columns"]),
    Case("cot-empty-answer", {"g.tsv": "What is 2+2?\t \tTwo and two make four.\n"}, train_on("cot", "g.tsv"),
         ["g.tsv:1:", "'answer'"]),
    # --- task cards ---------------------------------------------------------------------------------------------------
    Case("card-yaml-syntax", {"cards/demo.yaml": CARD.replace("options: [good, bad]", "options: [good, bad")},
         CARDS, ["cards/demo.yaml:4:10: invalid YAML", "began on line 3"]),
    Case("card-unknown-key", {"cards/demo.yaml": CARD + "colour: red\n"}, CARDS, ["demo.yaml", "'colour'"]),
    Case("card-template-names-a-missing-field", {"cards/demo.yaml": CARD.replace("{{text}}", "{{review}}")}, CARDS,
         ["demo.yaml", "template 1", "review"]),
    Case("card-template-jinja-syntax", {"cards/demo.yaml": CARD.replace("{{text}}", "{{text}")}, CARDS,
         ["demo.yaml", "template 1"]),
    Case("card-options-and-options-field", {"cards/demo.yaml": CARD + "options_field: label\n"}, CARDS,
         ["demo.yaml", "options_field"]),
    Case("card-instances-file-broken-line",
         {"cards/demo.yaml": CARD.replace('{inline: {train: [{text: "nice", label: good}], test: [{text: "awful", '
                                          'label: bad}]}}', "{path: rows.jsonl}"),
          "cards/rows.jsonl": lines({"text": "nice", "label": "good"}, '{"text": "awful", ')},
         CARDS, ["rows.jsonl:2:", "demo.yaml"]),
    Case("card-not-a-mapping", {"cards/demo.yaml": "- cluster: demo\n"}, CARDS,
         ["cards/demo.yaml: ", "at its top level, got a list"]),
    # --- Self-Instruct seeds and config -----------------------------------------------------------------------------
    Case("seeds-broken-line", {"seeds.jsonl": lines(SEED, '{"id": "seed_task_1", ')}, [*SI, "--seeds", "seeds.jsonl"],
         ["seeds.jsonl:2:", "JSON"]),
    Case("seeds-missing-instruction", {"seeds.jsonl": lines({k: v for k, v in SEED.items() if k != "instruction"})},
         [*SI, "--seeds", "seeds.jsonl"], ["seeds.jsonl:1:", "'instruction'"]),
    Case("seeds-instances-empty", {"seeds.jsonl": lines(SEED | {"instances": []})}, [*SI, "--seeds", "seeds.jsonl"],
         ["seeds.jsonl:1:", "'instances'"]),
    Case("seeds-line-not-an-object", {"seeds.jsonl": lines(SEED, ["seed_task_1"])}, [*SI, "--seeds", "seeds.jsonl"],
         ["seeds.jsonl:2:", "object"]),
    Case("seeds-empty-file", {"seeds.jsonl": "\n"}, [*SI, "--seeds", "seeds.jsonl"], ["seeds.jsonl", "no"]),
    Case("si-config-yaml-syntax", {"si.yaml": "target: 10\nfilters: {novelty_threshold: 0.7\n"},
         [*SI, "--config", "si.yaml"], ["si.yaml:3:1: invalid YAML", "began on line 2"]),
    Case("si-config-unknown-field", {"si.yaml": "target: 10\nfilters: {novelty_treshold: 0.6}\n"},
         [*SI, "--config", "si.yaml"], ["si.yaml", "filters.novelty_treshold"]),
    Case("si-config-wrong-type", {"si.yaml": "instructions: {temperature: hot}\n"}, [*SI, "--config", "si.yaml"],
         ["si.yaml", "instructions.temperature"]),
    Case("si-config-not-a-mapping", {"si.yaml": "- target\n"}, [*SI, "--config", "si.yaml"],
         ["si.yaml: ", "at its top level, got a list"]),
    # --- evaluation data ----------------------------------------------------------------------------------------------
    Case("eval-empty-file", {"eval.jsonl": "\n"}, EVAL, ["eval.jsonl", "no evaluation rows"]),
    Case("eval-old-conversation-row", {"eval.jsonl": lines({"messages": [{"role": "user", "content": "hi"},
                                                                        {"role": "assistant", "content": "yes"}],
                                                           "meta": {"answer": "yes"}})},
         EVAL, ["eval.jsonl:1:", "older instill", "instill data build"]),
    Case("eval-broken-line", {"eval.jsonl": lines(EVAL_ROW, "{oops")}, EVAL, ["eval.jsonl:2:", "JSON"]),
    Case("eval-answer-not-an-option", {"eval.jsonl": lines(EVAL_ROW | {"answer": "maybe"})},
         EVAL, ["eval.jsonl:1:", "'maybe'", "options"]),
    Case("eval-missing-field", {"eval.jsonl": lines({k: v for k, v in EVAL_ROW.items() if k != "references"})},
         EVAL, ["eval.jsonl:1:", "missing field 'references'"]),
    Case("eval-references-not-a-list", {"eval.jsonl": lines(EVAL_ROW | {"references": "yes"})}, EVAL,
         ["eval.jsonl:1:", "'references' must be an array"]),
    Case("eval-messages-not-a-list", {"eval.jsonl": lines(EVAL_ROW | {"messages": "Is it good?"})}, EVAL,
         ["eval.jsonl:1:", "'messages' must be an array"]),
    Case("eval-row-not-an-object", {"eval.jsonl": lines(EVAL_ROW, ["Is it good?", "yes"])}, EVAL,
         ["eval.jsonl:2:", "object"]),
    Case("eval-message-without-content", {"eval.jsonl": lines(EVAL_ROW | {"messages": [{"role": "user"}]})},
         EVAL, ["eval.jsonl:1:", "content"]),
    # --- sweep files --------------------------------------------------------------------------------------------------
    Case("sweep-yaml-syntax", {"sweep.yaml": "recipe: recipe.yaml\nrun_dir: sw\npoints: [{label: a, x: 1}\n"},
         ["sweep", "sweep.yaml"], ["sweep.yaml:4:1: invalid YAML", "began on line 3"]),
    Case("sweep-no-points", {"sweep.yaml": "recipe: recipe.yaml\nrun_dir: sw\npoints: []\n"}, ["sweep", "sweep.yaml"],
         ["sweep.yaml", "points"]),
    Case("sweep-bad-label", {"sweep.yaml": "recipe: recipe.yaml\nrun_dir: sw\npoints: [{label: a/b, x: 1}]\n"},
         ["sweep", "sweep.yaml"], ["sweep.yaml", "points.0.label"]),
    Case("sweep-recipe-missing", {"sweep.yaml": "recipe: nope.yaml\nrun_dir: sw\npoints: [{label: a, x: 1}]\n"},
         ["sweep", "sweep.yaml"], ["sweep.yaml", "recipe", "nope.yaml"]),
    Case("sweep-not-a-mapping", {"sweep.yaml": "- recipe.yaml\n"}, ["sweep", "sweep.yaml"],
         ["sweep.yaml: ", "at its top level, got a list"]),
    Case("sweep-point-override-unknown-field",
         {"sweep.yaml": "recipe: recipe.yaml\nrun_dir: sw\npoints: [{label: a, x: 1, overrides: [train.lrr=1]}]\n"},
         ["sweep", "sweep.yaml"], ["sweep.yaml: points.0 (a): override 'train.lrr=1': unknown field 'train.lrr'"]),
    # --- chat templates -----------------------------------------------------------------------------------------------
    Case("template-jinja-syntax", {"chat.jinja": "{% for m in messages %}\n{{ m['content'] }\n{% endfor %}\n"},
         [*PREVIEW, "chat.template=chat.jinja"], ["chat.jinja:2:", "not a valid Jinja template"]),
    Case("template-not-utf8", {"chat.jinja": b"{% for m in messages %}{{ m['content'] }}\xff{% endfor %}"},
         [*PREVIEW, "chat.template=chat.jinja"], ["chat.jinja:1:", "UTF-8"]),
    Case("template-file-missing", {}, [*PREVIEW, "chat.template=chats/chat.jinja"],
         ["chat.template", "chats/chat.jinja"]),
]


@dataclass
class Ran:
    code: int | None
    stderr: list[str]
    traceback: str | None


def run_cli(args: list[str]) -> Ran:
    """`instill ARGS` as the console script runs it: `main()` over sys.argv, log records and warnings on stderr."""
    runner = CliRunner()
    root = logging.getLogger()
    handlers, level, argv = list(root.handlers), root.level, sys.argv
    code, tb = None, None
    with runner.isolation(env={"COLUMNS": "200", "NO_COLOR": "1", "HF_HUB_OFFLINE": "1"}) as (_, err, _):
        log_line = logging.StreamHandler(sys.stderr)  # the isolated stderr, as main's basicConfig would use
        log_line.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(log_line)
        root.setLevel(logging.INFO)
        sys.argv = ["instill", *args]
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("default")  # Python's defaults: deprecations stay quiet
                for quiet in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
                    warnings.simplefilter("ignore", quiet)
                try:
                    main()
                except SystemExit as e:
                    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except Exception:  # noqa: BLE001 - what a user would see as a traceback
            tb = traceback.format_exc()
        finally:
            sys.argv = argv
            root.setLevel(level)
            for h in root.handlers[:]:
                if h not in handlers:
                    root.removeHandler(h)
        sys.stderr.flush()
        text = err.getvalue().decode("utf-8", "replace")
    text += "".join(f"{w.category.__name__}: {w.message}\n" for w in caught)
    return Ran(code, [ln for ln in text.splitlines() if ln.strip()], tb)


def leftovers(folder: Path) -> list[str]:
    """Half-written files a kill-safe writer would have renamed or removed."""
    return [str(p.relative_to(folder)) for p in folder.rglob("*") if p.name.endswith((".tmp", ".partial"))]


def test_at_least_thirty_cases_over_every_kind_of_file():
    kinds = {c.id.split("-")[0] for c in CASES}
    assert len(CASES) >= 30 and len({c.id for c in CASES}) == len(CASES)
    assert kinds >= {"recipe", "alpaca", "dolly", "sharegpt", "openai", "sni", "cot", "card", "seeds", "si",
                     "eval", "sweep", "template"}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_bad_file_is_one_line_naming_it_and_exit_1(case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("INSTILL_API_KEY", raising=False)
    for name, content in {**GOOD_FILES, **case.files}.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    first = run_cli(case.args)
    assert first.traceback is None, first.traceback
    assert first.code == 1, (first.code, first.stderr)
    assert len(first.stderr) == 1, first.stderr
    line = first.stderr[0]
    assert line.startswith("error: "), line
    for part in case.expect:
        assert part in line, f"{part!r} not in {line!r}"
    assert not leftovers(tmp_path)
    again = run_cli(case.args)  # nothing the first run left behind changes what the second one says
    assert (again.code, again.stderr, again.traceback) == (first.code, first.stderr, first.traceback)
