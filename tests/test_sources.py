"""Loaders for outside formats: exact field mapping per format, and one-line errors that say file, line and field."""

from __future__ import annotations

import json
import logging

import pytest

from instill.errors import InstillError
from instill.records import Conversation, Example, Message, to_conversations, write_conversations_jsonl
from instill.sources import SOURCE_FORMATS, load_source


def write_jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def write_json(path, data):
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def fails(*parts, **kwargs):
    """load_source must raise a one-line InstillError containing every part."""
    with pytest.raises(InstillError) as info:
        load_source(**kwargs)
    msg = str(info.value)
    assert "\n" not in msg, msg
    for part in parts:
        assert part in msg, f"{part!r} not in {msg!r}"
    return msg


ALPACA = [
    {"instruction": "Add the numbers.", "input": "2 3", "output": "5"},
    {"instruction": "Say hi.", "output": "hi", "task": "greet", "cluster": "chat", "extra": [1]},
    {"instruction": "Say bye.", "input": None, "output": "bye"},
]


# --- formats ---------------------------------------------------------------------------------------------------


def _one_file_of(fmt, tmp_path, write_sni):
    """A two-record file of a source format, and where its second record is (as errors name it)."""
    if fmt == "sni":
        write_sni(tmp_path, "task9_demo", n=2)
        path = tmp_path / "tasks" / "task9_demo.json"
        return str(path), f"{path}: instance 1"
    if fmt == "cot":
        path = tmp_path / "demo_train.tsv"
        path.write_text("Q1?\t1\tSo 1.\nQ2?\t2\tSo 2.\n", encoding="utf-8")
        return str(path), f"{path}: row 2"
    rows = {"alpaca": {"instruction": "Say hi.", "output": "hi"},
            "dolly": {"instruction": "Say hi.", "context": "", "response": "hi", "category": "chat"},
            "sharegpt": {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]},
            "openai": {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}}
    return write_jsonl(tmp_path / f"{fmt}.jsonl", [rows[fmt]] * 2), f"{tmp_path / f'{fmt}.jsonl'}:2"


@pytest.mark.parametrize("fmt", list(SOURCE_FORMATS))
def test_every_source_format_keeps_each_records_location(fmt, tmp_path, write_sni):
    """Each record, turned into the conversation training sees, says which file and line (or record) it came
    from: training and leak errors quote it."""
    path, second = _one_file_of(fmt, tmp_path, write_sni)
    convs = list(to_conversations(load_source(format=fmt, path=path)))
    assert len(convs) == 2 and convs[1].source == second


@pytest.mark.parametrize("fmt", list(SOURCE_FORMATS))
def test_a_recipe_accepts_every_registered_source_format(fmt, tmp_path):
    from instill.config import load_recipe

    assert load_recipe(None, [f"data.train=[{{format: {fmt}, path: x}}]"]).data.train[0].format == fmt


def test_cot_tsv_as_records(tmp_path):
    path = tmp_path / "math_train.tsv"
    path.write_text("What is 2 + 2?\t4\t2 plus 2 is 4.\n\nWhat is 1 + 1?\t2\tOne and one make 2.\n", encoding="utf-8")
    recs = load_source(format="cot", path=str(path))
    assert [(r.instruction, r.output, r.task) for r in recs] == [
        ("What is 2 + 2?", "2 plus 2 is 4.\nTherefore, the answer is 4.", "math"),
        ("What is 1 + 1?", "One and one make 2.\nTherefore, the answer is 2.", "math")]
    assert len(load_source(format="cot", path=str(path), limit=1)) == 1
    path.write_text("q\ta\tc\nq2\t\tc2\n", encoding="utf-8")
    fails("math_train.tsv:2: 'answer' is empty", format="cot", path=str(path))


@pytest.mark.parametrize("ext", [".jsonl", ".ndjson", ".json", ".JSONL"])
def test_alpaca_jsonl_and_json_array(tmp_path, ext):
    f = tmp_path / f"data{ext}"
    path = write_json(f, ALPACA) if ext == ".json" else write_jsonl(f, ALPACA)
    recs = load_source(format="alpaca", path=path)
    assert recs == [
        Example(instruction="Add the numbers.", input="2 3", output="5"),
        Example(instruction="Say hi.", input="", output="hi", task="greet", cluster="chat"),
        Example(instruction="Say bye.", input="", output="bye"),
    ]
    assert recs[1].meta == {}


def test_limit_keeps_first_records_and_stops_reading(tmp_path):
    path = write_jsonl(tmp_path / "data.jsonl", ALPACA + ["{broken"])
    recs = load_source(format="alpaca", path=path, limit=2)
    assert [r.output for r in recs] == ["5", "hi"]


def test_blank_lines_are_skipped_and_line_numbers_stay_true(tmp_path):
    path = write_jsonl(tmp_path / "data.jsonl", [ALPACA[0], "", "   ", {"instruction": "x"}])
    fails("data.jsonl:4: missing field 'output'", format="alpaca", path=path)
    ok = write_jsonl(tmp_path / "ok.jsonl", ["", ALPACA[0], "\t", ALPACA[1], ""])
    assert len(load_source(format="alpaca", path=ok)) == 2


def test_dolly(tmp_path):
    row = {"instruction": "Who wrote it?", "context": "Hamlet is a play by Shakespeare.",
           "response": "Shakespeare", "category": "closed_qa"}
    path = write_jsonl(tmp_path / "dolly.jsonl", [row, {**row, "context": ""}])
    recs = load_source(format="dolly", path=path)
    assert recs[0] == Example(instruction="Who wrote it?", input="Hamlet is a play by Shakespeare.",
                              output="Shakespeare", task="dolly", cluster="closed_qa")
    assert recs[1].input == ""


def test_dolly_missing_response_names_field(tmp_path):
    path = write_jsonl(tmp_path / "dolly.jsonl", [{"instruction": "x", "context": "", "category": "c"}])
    fails("dolly.jsonl:1", "'response'", format="dolly", path=path)


def test_sharegpt_role_mapping(tmp_path):
    convs = [
        [("system", "Be brief."), ("human", "hi"), ("gpt", "hello"), ("user", "2+2?"), ("ChatGPT", "4")],
        [("human", "a"), ("bard", "b"), ("human", "c"), ("bing", "d"), ("human", "e"), ("assistant", "f")],
    ]
    rows = [{"id": i, "conversations": [{"from": f, "value": v} for f, v in c]} for i, c in enumerate(convs)]
    path = write_jsonl(tmp_path / "sg.jsonl", rows)
    recs = load_source(format="sharegpt", path=path)
    assert all(isinstance(r, Conversation) for r in recs)
    assert [(m.role, m.content, m.loss) for m in recs[0].messages] == [
        ("system", "Be brief.", False), ("user", "hi", False), ("assistant", "hello", True),
        ("user", "2+2?", False), ("assistant", "4", True),
    ]
    assert [m.role for m in recs[1].messages] == ["user", "assistant"] * 3
    assert recs[0].source.endswith("sg.jsonl:1")


def test_sharegpt_json_array_and_train_on_last(tmp_path):
    row = {"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"},
                             {"from": "human", "value": "c"}, {"from": "gpt", "value": "d"}]}
    path = write_json(tmp_path / "sg.json", [row])
    [conv] = load_source(format="sharegpt", path=path, train_on="last")
    assert [m.loss for m in conv.messages] == [False, False, False, True]
    assert conv.source.endswith("sg.json: record 0")


def test_sharegpt_unknown_speaker(tmp_path):
    row = {"conversations": [{"from": "human", "value": "a"}, {"from": "robot", "value": "b"}]}
    path = write_jsonl(tmp_path / "sg.jsonl", [row])
    fails("sg.jsonl:1", "conversations[1]", "'robot'", "'from'", format="sharegpt", path=path)


def test_sharegpt_turn_missing_value(tmp_path):
    path = write_jsonl(tmp_path / "sg.jsonl", [{"conversations": [{"from": "human"}]}])
    fails("sg.jsonl:1", "conversations[0]", "'value'", format="sharegpt", path=path)


def test_openai_loss_flags_and_train_on(tmp_path):
    msgs = [{"role": "system", "content": "S"}, {"role": "user", "content": "a"},
            {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"},
            {"role": "assistant", "content": "d"}]
    explicit = [*msgs[:2], {**msgs[2], "loss": True}, msgs[3], {**msgs[4], "loss": False}]
    path = write_jsonl(tmp_path / "chat.jsonl", [
        {"messages": msgs, "task": "t1", "meta": {"k": 1}},
        {"messages": explicit},
    ])
    plain, flagged = load_source(format="openai", path=path)
    assert [m.loss for m in plain.messages] == [False, False, True, False, True]
    assert (plain.task, plain.meta) == ("t1", {"k": 1})
    assert plain.source.endswith("chat.jsonl:1")
    assert [m.loss for m in flagged.messages] == [False, False, True, False, False]

    plain, flagged = load_source(format="openai", path=path, train_on="last")
    assert [m.loss for m in plain.messages] == [False, False, False, False, True]
    assert [m.loss for m in flagged.messages] == [False, False, True, False, False]  # explicit loss wins


def test_openai_round_trips_instill_conversation_jsonl(tmp_path):
    conv = Conversation(
        messages=(Message("user", "q"), Message("assistant", "a1", loss=False), Message("user", "q2"),
                  Message("assistant", "a2", loss=True)),
        task="demo", meta={"cluster": "x"},
    )
    path = str(tmp_path / "convs.jsonl")
    write_conversations_jsonl([conv], path)
    [back] = load_source(format="openai", path=path)
    assert back.to_dict() == conv.to_dict()


@pytest.mark.parametrize(
    "message, expected",
    [
        ({"role": "assistant", "content": "b", "loss": "false"}, ["messages[1]", "'loss'", "boolean", "string"]),
        ({"role": "tool", "content": "b"}, ["messages[1]", "unknown role 'tool'"]),
        ({"role": "assistant", "content": None}, ["messages[1]", "'content'", "null"]),
        ({"role": "assistant"}, ["messages[1]", "missing field 'content'"]),
    ],
)
def test_openai_bad_message(tmp_path, message, expected):
    path = write_jsonl(tmp_path / "chat.jsonl", [{"messages": [{"role": "user", "content": "a"}, message]}])
    fails("chat.jsonl:1", *expected, format="openai", path=path)


def test_openai_validation_error_gets_location(tmp_path):
    ok = {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}
    bad = {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"},
                        {"role": "assistant", "content": "c"}]}
    empty = {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "  "}]}
    path = write_jsonl(tmp_path / "chat.jsonl", [ok, bad])
    fails("chat.jsonl:2: ", "two 'user' turns in a row", format="openai", path=path)
    path = write_jsonl(tmp_path / "chat.jsonl", [ok, ok, empty])
    fails("chat.jsonl:3: ", "assistant response is empty", format="openai", path=path)


# --- errors, shared by every file format ----------------------------------------------------------------------


def test_malformed_json_line(tmp_path):
    path = write_jsonl(tmp_path / "data.jsonl", [ALPACA[0], ALPACA[1], '{"instruction": "x" "output": "y"}'])
    fails("data.jsonl:3: invalid JSON: Expecting ',' delimiter (column 21)", format="alpaca", path=path)


def test_missing_output(tmp_path):
    path = write_jsonl(tmp_path / "data.jsonl", [ALPACA[0], {"instruction": "No answer."}])
    fails("data.jsonl:2: missing field 'output'", format="alpaca", path=path)


def test_empty_response_is_reraised_with_location(tmp_path):
    path = write_jsonl(tmp_path / "data.jsonl", [ALPACA[0], {"instruction": "x", "output": "  "}])
    fails("data.jsonl:2: field 'output' is empty", format="alpaca", path=path)


def test_non_object_line(tmp_path):
    path = write_jsonl(tmp_path / "data.jsonl", [ALPACA[0], "[1, 2]"])
    fails("data.jsonl:2: expected a JSON object, got array", format="alpaca", path=path)


def test_wrong_type(tmp_path):
    path = write_jsonl(tmp_path / "data.jsonl", [{"instruction": "x", "output": ["a", "b"]}])
    fails("data.jsonl:1: field 'output' must be a string, got array", format="alpaca", path=path)


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_empty_file(tmp_path, content):
    (tmp_path / "data.jsonl").write_text(content)
    fails("data.jsonl", "no records", format="alpaca", path=str(tmp_path / "data.jsonl"))


def test_not_utf8_names_line(tmp_path):
    f = tmp_path / "data.jsonl"
    f.write_bytes(json.dumps(ALPACA[0]).encode() + b'\n{"instruction": "\xff", "output": "y"}\n')
    fails("data.jsonl:2: not UTF-8", format="alpaca", path=str(f))


def test_json_array_record_index(tmp_path):
    path = write_json(tmp_path / "data.json", [ALPACA[0], ALPACA[1], ALPACA[2], {"instruction": "x", "output": 3}])
    fails("data.json: record 3: field 'output' must be a string, got number", format="alpaca", path=path)
    path = write_json(tmp_path / "data.json", [ALPACA[0], "text"])
    fails("data.json: record 1: expected a JSON object, got string", format="alpaca", path=path)


@pytest.mark.parametrize(
    "text, expected",
    [('{"instruction": "x"}', "expected a JSON array of records, got object"), ("[]", "no records"),
     ('[{"a": 1},\n  {"b": 2}\n  {"c": 3}]', ":3: invalid JSON: Expecting ',' delimiter (column 3)")],
)
def test_json_array_file_errors(tmp_path, text, expected):
    (tmp_path / "data.json").write_text(text)
    fails("data.json", expected, format="alpaca", path=str(tmp_path / "data.json"))


def test_unknown_extension(tmp_path):
    path = write_jsonl(tmp_path / "data.txt", ALPACA)
    fails("data.txt", "'.txt'", ".jsonl", format="alpaca", path=path)


def test_file_not_found_and_directory(tmp_path):
    fails(f"{tmp_path / 'nope.jsonl'}: file not found", format="alpaca", path=str(tmp_path / "nope.jsonl"))
    fails("nope.json: file not found", format="sni", path=str(tmp_path / "nope.json"))
    (tmp_path / "d.jsonl").mkdir()
    fails("d.jsonl: a folder with no .json, .jsonl or .ndjson file", format="alpaca", path=str(tmp_path / "d.jsonl"))


def test_unknown_format_suggests_closest(tmp_path):
    msg = fails("unknown format 'alpca'", "did you mean 'alpaca'?", format="alpca", path="x.jsonl")
    assert all(name in msg for name in SOURCE_FORMATS)


@pytest.mark.parametrize("kwargs", [{}, {"path": "a.jsonl", "hub": "org/ds"}])
def test_exactly_one_of_path_and_hub(kwargs):
    fails("exactly one of 'path' and 'hub'", format="alpaca", **kwargs)


@pytest.mark.parametrize("limit", [0, -1, 1.5, True])
def test_bad_limit(tmp_path, limit):
    fails("limit must be a positive integer", format="alpaca", path="x.jsonl", limit=limit)


def test_bad_train_on():
    fails("train_on must be 'all' or 'last'", format="openai", path="x.jsonl", train_on="first")


def test_subset_needs_hub():
    fails("'subset' only applies to hub", format="alpaca", path="x.jsonl", subset="en")


@pytest.mark.parametrize("name", ["nonexistent", "../records", "a/b"])
def test_unknown_builtin_lists_available(name):
    fails(f"unknown builtin dataset '{name}'", "available:", format="alpaca", path=f"builtin:{name}")


# --- Super-NaturalInstructions ---------------------------------------------------------------------------------


def sni_task(instances, **overrides):
    task = {
        "Contributors": ["someone"],
        "Categories": ["Cause Effect Classification", "Other"],
        "Definition": ["Pick the cause. ", "Answer A or B."],
        "Positive Examples": [{"input": "P1", "output": "A", "explanation": "because"},
                              {"input": "P2", "output": "B", "explanation": "since"}],
        "Negative Examples": [{"input": "N1", "output": "C", "explanation": "no"}],
        "Input_language": ["English"],
        "Domains": ["Web"],
        "Instances": instances,
    }
    task.update(overrides)
    return task


def inst(i, outputs):
    return {"id": f"task1-{i}", "input": f"premise {i}", "output": outputs}


def test_sni_instance_mapping(tmp_path):
    path = write_json(tmp_path / "task1_copa_completion.json", sni_task([inst(0, ["A", "a"]), inst(1, ["B"])]))
    first, second = load_source(format="sni", path=path)
    assert first == Example(
        instruction="Pick the cause.  Answer A or B.",
        input="premise 0",
        output="A",
        task="task1_copa_completion",
        cluster="Cause Effect Classification",
        meta={
            "id": "task1-0",
            "references": ["A", "a"],
            "positive_examples": [{"input": "P1", "output": "A"}, {"input": "P2", "output": "B"}],
            "categories": ["Cause Effect Classification", "Other"],
        },
    )
    assert (second.output, second.meta["references"], second.meta["id"]) == ("B", ["B"], "task1-1")


def test_sni_no_categories_means_no_cluster(tmp_path):
    path = write_json(tmp_path / "t.json", sni_task([inst(0, ["A"])], Categories=[]))
    [ex] = load_source(format="sni", path=path)
    assert ex.cluster is None and ex.meta["categories"] == []


def test_sni_limit(tmp_path):
    path = write_json(tmp_path / "t.json", sni_task([inst(i, [str(i)]) for i in range(50)]))
    recs = load_source(format="sni", path=path, limit=3)
    assert [r.meta["id"] for r in recs] == ["task1-0", "task1-1", "task1-2"]


def test_sni_skips_instances_without_output_and_warns(tmp_path, caplog):
    instances = [inst(0, ["A"]), inst(1, []), inst(2, [""]), inst(3, ["B"]), inst(4, [])]
    path = write_json(tmp_path / "t.json", sni_task(instances))
    with caplog.at_level(logging.WARNING, logger="instill.sources"):
        recs = load_source(format="sni", path=path)
    assert [r.meta["id"] for r in recs] == ["task1-0", "task1-3"]
    [record] = [r for r in caplog.records if r.name == "instill.sources"]
    assert record.levelno == logging.WARNING
    assert "t.json" in record.getMessage() and "skipped 3 instance(s)" in record.getMessage()


def test_sni_limit_counts_kept_instances(tmp_path, caplog):
    path = write_json(tmp_path / "t.json", sni_task([inst(0, []), inst(1, ["A"]), inst(2, ["B"]), inst(3, [])]))
    with caplog.at_level(logging.WARNING, logger="instill.sources"):
        recs = load_source(format="sni", path=path, limit=2)
    assert [r.output for r in recs] == ["A", "B"]
    assert "skipped 1 instance(s)" in caplog.text


def test_sni_all_empty_is_an_error(tmp_path):
    path = write_json(tmp_path / "t.json", sni_task([inst(0, []), inst(1, [])]))
    fails("t.json: no records", format="sni", path=path)


@pytest.mark.parametrize(
    "task, expected",
    [
        (sni_task([inst(0, "A")]) | {"Instances": {"a": 1}}, "t.json: 'Instances' must be an array"),
        ({k: v for k, v in sni_task([inst(0, ["A"])]).items() if k != "Definition"},
         "t.json: missing field 'Definition'"),
        (sni_task([inst(0, ["A"]), inst(1, [1])]), "t.json: instance 1: 'output' must be a list of strings"),
        (sni_task([inst(0, ["A"]), {"id": "x", "output": ["B"]}]), "t.json: instance 1: field 'input'"),
        (sni_task([inst(0, ["A"]), inst(1, ["B"]) | {"id": 17}]), "t.json: instance 1: field 'id' must be a string"),
        (sni_task([]), "t.json: no records"),
        ([inst(0, ["A"])], "t.json: expected a JSON object"),
    ],
)
def test_sni_errors(tmp_path, task, expected):
    fails(expected, format="sni", path=write_json(tmp_path / "t.json", task))


def test_sni_from_hub_is_refused():
    fails("sni from the hub is not supported", format="sni", hub="Muennighoff/natural-instructions")


# --- hub (offline: `datasets` reads a local data folder) ---------------------------------------------------------


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")


def test_hub_local_folder(tmp_path, hub_cache):
    (tmp_path / "ds").mkdir()
    write_jsonl(tmp_path / "ds" / "train.jsonl", ALPACA)
    recs = load_source(format="alpaca", hub=str(tmp_path / "ds"))
    assert [(r.instruction, r.input, r.output) for r in recs] == [
        ("Add the numbers.", "2 3", "5"), ("Say hi.", "", "hi"), ("Say bye.", "", "bye")]
    assert (recs[1].task, recs[1].cluster) == ("greet", "chat")
    assert len(load_source(format="alpaca", hub=str(tmp_path / "ds"), limit=1)) == 1


def test_hub_row_error_names_row(tmp_path, hub_cache):
    (tmp_path / "ds").mkdir()
    write_jsonl(tmp_path / "ds" / "train.jsonl", [ALPACA[0], {"instruction": "x"}])
    fails("ds[train]: row 1: ", "'output'", format="alpaca", hub=str(tmp_path / "ds"))


def test_hub_load_failure_is_wrapped(tmp_path, hub_cache):
    (tmp_path / "ds").mkdir()
    write_jsonl(tmp_path / "ds" / "train.jsonl", ALPACA)
    fails(f"could not load dataset '{tmp_path / 'ds'}' (split 'validation'): ",
          format="alpaca", hub=str(tmp_path / "ds"), split="validation")
