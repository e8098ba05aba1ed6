"""Tasks, templates, task cards and formats: the bundled collection renders, options agree, sandbox holds."""

import json
import random
import textwrap

import pytest

from instill import formats
from instill.config import MixtureConfig
from instill.errors import InstillError
from instill.formats import COT_ANSWER, OPTION_STYLES, PROMPT_FORMATS, parse_cot_answer, render_options, tk_instruct_prompt
from instill.tasks import builtin_cards, load_card, load_tasks
from instill.tasks.collections import cot_task, sni_tasks
from instill.tasks.template import Template


def render(*args, shots=MixtureConfig().shots, max_chars=MixtureConfig().max_prompt_chars, **kwargs):
    """`formats.render` with a recipe's default budget (render itself takes both explicitly)."""
    return formats.render(*args, shots=shots, max_chars=max_chars, **kwargs)


@pytest.fixture(scope="module")
def bundled():
    return load_tasks()


def card(tmp_path, text, name="mytask.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# --- the bundled collection ---------------------------------------------------------------------------------------

def test_bundled_collection_size(bundled):
    clusters = {t.cluster for t in bundled.values()}
    assert len(bundled) >= 40 and len(clusters) >= 10, (len(bundled), sorted(clusters))
    for t in bundled.values():
        assert len(t.templates) >= 10, t.name
    assert sum(any(tpl.inverted for tpl in t.templates) for t in bundled.values()) >= len(bundled) // 2
    assert any(t.has_options for t in bundled.values()) and any(t.has_cot for t in bundled.values())


def test_every_bundled_template_renders_on_every_split(bundled):
    """Each template, each instance of each split, with options in every style; the options/target agreement of
    every options task is checked on the same renders."""
    styles = list(OPTION_STYLES)
    for t in bundled.values():
        splits = t.splits()
        assert all(splits[s] for s in ("train", "validation", "test")), t.name
        for split, rows in splits.items():
            for i, inst in enumerate(rows):
                for j, tpl in enumerate(t.templates):
                    r = render(t, inst, tpl, "zero_shot", random.Random(0), style=styles[(i + j) % len(styles)])
                    assert r.prompt.strip() and r.target.strip(), (t.name, tpl.name, split, i)
                    if t.has_options and not tpl.inverted:
                        assert r.target in r.options and r.target == r.answer, (t.name, tpl.name, r.target)
                        plain = t.options_for(inst)
                        assert plain[r.options.index(r.target)] == t.answer(inst), (t.name, tpl.name)


def test_bundled_splits_do_not_overlap(bundled):
    for t in bundled.values():
        seen = {}
        for split, rows in t.splits().items():
            for inst in rows:
                key = json.dumps(inst, sort_keys=True)
                assert seen.setdefault(key, split) == split, (t.name, inst)


def test_bundled_instances_are_deterministic():
    a = load_tasks()["addition"].split("test")
    b = load_tasks()["addition"].split("test")
    assert a == b and len(a) == 50


def test_builtin_cards_are_packaged():
    assert all(p.suffix == ".yaml" for p in builtin_cards()) and len(builtin_cards()) >= 40


# --- templates and the sandbox ------------------------------------------------------------------------------------

@pytest.mark.parametrize("attack", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.system('echo pwned') }}",
    "{{ namespace.__init__.__globals__ }}",
    "{% set x = [].append(1) %}{{ x }}",  # the immutable sandbox refuses to mutate too
])
def test_sandbox_escape_fails(attack):
    tpl = Template.parse(attack + " ||| x")
    with pytest.raises(InstillError, match="sandbox|unsafe"):
        tpl.render({})


def test_template_with_unknown_field_fails_at_load_naming_card_and_field(tmp_path):
    path = card(tmp_path, """\
        cluster: demo
        answer_field: y
        instances: {inline: {train: [{x: a, y: b}], test: [{x: c, y: d}]}}
        templates:
          - "Say {{x}} ||| {{y}}"
          - "Say {{ colour }} ||| {{y}}"
        """)
    with pytest.raises(InstillError) as info:
        load_card(path)
    msg = str(info.value)
    assert str(path) in msg and "template 2" in msg and "'colour'" in msg


@pytest.mark.parametrize("text, expected", [
    ("cluster: c\ninstances: {inline: {train: [{x: a}]}}\ntemplates: ['{{x}} ||| {{x}}']\nextra: 1\n", "unknown key 'extra'"),
    ("cluster: c\ninstances: {nowhere: 1}\ntemplates: ['{{x}} ||| {{x}}']\n", "instances needs one of"),
    ("cluster: c\ninstances: {inline: {train: [{x: a}]}}\ntemplates: ['no separator']\n", "exactly one '|||'"),
    ("cluster: c\ninstances: {inline: {train: [{x: a}]}}\ntemplates: ['{{x ||| y']\n", "Jinja syntax error"),
    ("cluster: c\noptions: [a, b]\ninstances: {inline: {train: [{x: a}]}}\ntemplates: ['{{x}} ||| {{x}}']\n",
     "needs 'answer_field'"),
    ("cluster: c\ninstances: {generator: no_such_gen}\ntemplates: ['{{x}} ||| {{x}}']\n", "unknown generator"),
    ("cluster: c\ninstances: {inline: {train: [{x: a}]}}\ntemplates:\n  - {prompt: '{{x}}', target: '{{x}}', inverted: true}\n",
     "every template is inverted"),
    ("- just a list\n", "must be a mapping"),
    ("cluster: c\ninstances: {inline: {train: [{x: a}]}}\ntemplates: ['{{x}} {{options}} ||| {{x}}']\n",
     "the task has no 'options'"),
])
def test_bad_cards_fail_with_the_card_and_the_reason(tmp_path, text, expected):
    path = card(tmp_path, text)
    with pytest.raises(InstillError) as info:
        load_card(path)
    assert str(path) in str(info.value) and expected in str(info.value), str(info.value)


def test_user_card_from_jsonl_file_with_split_fractions(tmp_path):
    rows = [{"word": f"w{i}", "upper": f"W{i}"} for i in range(50)] + [{"word": "z", "upper": "Z", "split": "test"}]
    (tmp_path / "words.jsonl").write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    path = card(tmp_path, """\
        cluster: string_editing
        answer_field: upper
        instances: {path: words.jsonl, fractions: {train: 0.8, validation: 0.2}}
        templates: ["Uppercase {{word}} ||| {{upper}}"]
        """)
    t = load_card(path)
    assert (len(t.split("train")), len(t.split("validation")), t.split("test")) == (40, 10, [{"word": "z", "upper": "Z"}])
    assert t.name == "mytask" and render(t, t.split("test")[0], t.templates[0]).target == "Z"


def test_registry_rejects_duplicate_task_names(tmp_path):
    card(tmp_path, "name: addition\ncluster: c\ninstances: {inline: {train: [{x: a}]}}\ntemplates: ['{{x}} ||| {{x}}']\n")
    with pytest.raises(InstillError, match="already defined"):
        load_tasks([tmp_path])


# --- options and formats ------------------------------------------------------------------------------------------

def test_flan_option_block():
    assert render_options(["yes", "no"]) == ("OPTIONS:\n- yes\n- no", ["yes", "no"])
    block, targets = render_options(["yes", "no", "maybe"], "numbers")
    assert block == "Choose from:\n1. yes\n2. no\n3. maybe" and targets[2] == "3. maybe"


def test_target_follows_the_option_style(bundled):
    t = bundled["even_odd"]
    inst = t.split("test")[0]
    r = render(t, inst, t.templates[0], style="letters")
    assert "(A) even\n(B) odd" in r.prompt and r.target == ("(A) even" if inst["answer"] == "even" else "(B) odd")


def test_target_outside_the_options_is_an_error(tmp_path):
    path = card(tmp_path, """\
        cluster: c
        answer_field: y
        options: [yes, no]
        instances: {inline: {train: [{x: a, y: maybe}]}}
        templates: ["{{x}}\\n{{options}} ||| {{y}}"]
        """)
    t = load_card(path)
    with pytest.raises(InstillError, match="not one of the options"):
        render(t, t.split("train")[0], t.templates[0])


def test_few_shot_never_includes_the_asked_instance(bundled):
    t = bundled["addition"]
    pool = t.split("train")[:4]
    for seed in range(30):
        asked = pool[seed % 4]
        r = render(t, asked, t.templates[0], "few_shot", random.Random(seed), shots=3, exemplar_pool=pool)
        question = t.templates[0].render(asked)[0]
        assert r.meta["shots"] == 3 and r.prompt.count(question) == 1 and r.prompt.endswith(question)


def test_few_shot_separators_and_budget_drop_exemplars_not_the_question(bundled):
    t = bundled["addition"]
    asked = t.split("test")[0]
    question = t.templates[0].render(asked)[0]
    full = render(t, asked, t.templates[0], "few_shot", random.Random(0), shots=3)
    blocks = full.prompt[: -len(question)].split("\n\n\n")
    assert len(blocks) == 4 and blocks[-1] == "" and all("\n\n" in b for b in blocks[:3])
    tight = render(t, asked, t.templates[0], "few_shot", random.Random(0), shots=3, max_chars=len(full.prompt) - 1)
    assert tight.meta["shots"] == 2 and tight.prompt.endswith(question)
    none = render(t, asked, t.templates[0], "few_shot", random.Random(0), shots=3, max_chars=5)
    assert none.meta["shots"] == 0 and none.prompt == question  # the question is never cut


def test_cot_formats_end_with_a_parseable_answer(bundled):
    t = bundled["addition"]
    for fmt in ("zero_shot_cot", "few_shot_cot"):
        inst = t.split("test")[3]
        r = render(t, inst, t.templates[1], fmt, random.Random(1))
        assert r.target.endswith(f"{COT_ANSWER} {inst['answer']}.") and parse_cot_answer(r.target) == inst["answer"]
    inverted = next(tpl for tpl in t.templates if tpl.inverted)
    with pytest.raises(InstillError, match="chain-of-thought formats need a forward template"):
        render(t, t.split("test")[0], inverted, "zero_shot_cot")
    with pytest.raises(InstillError, match="no chain of thought"):
        render(bundled["even_odd"], bundled["even_odd"].split("test")[0], bundled["even_odd"].templates[0], "zero_shot_cot")


def test_parse_cot_answer_takes_the_last_answer_line():
    assert parse_cot_answer("the answer is 3? No.\nTherefore, the answer is 4.") == "4"
    assert parse_cot_answer("I cannot tell.") is None


@pytest.mark.parametrize("fmt", PROMPT_FORMATS)
def test_every_prompt_format_renders_and_a_recipe_accepts_it(fmt, tmp_path, write_sni):
    """Each registered format renders (on a task that has what it needs) and is a valid mixture weight and
    evaluation format; a name outside the registry is refused by both."""
    from instill.tasks.collections import sni_task

    write_sni(tmp_path, "task001_reviews", n=6)
    t = sni_task(tmp_path / "tasks" / "task001_reviews.json") if fmt == "tk_instruct" else load_tasks([])["addition"]
    r = render(t, t.split("train")[0], t.forward_templates[0], fmt, random.Random(0))
    assert r.meta["format"] == fmt and r.prompt and r.target
    cfg = MixtureConfig(formats={fmt: 1.0}, eval_format=fmt)
    assert list(cfg.formats) == [fmt] and cfg.eval_format == fmt
    with pytest.raises(InstillError, match="unknown format 'one_shot'"):
        render(t, t.split("train")[0], t.forward_templates[0], "one_shot")
    with pytest.raises(ValueError, match="eval_format"):
        MixtureConfig(eval_format="one_shot")


# --- real collections ---------------------------------------------------------------------------------------------

def test_sni_collection_from_fixture_files(tmp_path, write_sni):
    write_sni(tmp_path, "task001_train_reviews", n=46)
    write_sni(tmp_path, "task002_test_reviews", n=150, categories=("Textual Entailment", "Other"))
    splits = tmp_path / "splits" / "default"
    splits.mkdir(parents=True)
    (splits / "train_tasks.txt").write_text("task001_train_reviews\ntask999_not_here\n")
    (splits / "test_tasks.txt").write_text("task002_test_reviews\n")
    tasks = sni_tasks(tmp_path)
    train, test = tasks["task001_train_reviews"], tasks["task002_test_reviews"]
    assert (train.cluster, train.eval_only, len(train.split("train"))) == ("sentiment_analysis", False, 44)
    assert [r["id"] for r in train.split("validation")] == ["task001_train_reviews-44", "task001_train_reviews-45"]
    assert (test.cluster, test.eval_only, len(test.split("test")), test.split("train")) == ("textual_entailment", True, 100, [])
    assert test.split("test")[0]["references"] == ["bad", "ok"] and test.split("test")[0]["id"] == "task002_test_reviews-0"
    assert train.exemplars[0]["output"] == "good"
    r = render(train, train.split("train")[1], train.templates[0], "tk_instruct", shots=2)
    assert r.prompt == tk_instruct_prompt("Say if the review is good.", [("Great film", "good"), ("Awful", "bad")], "review 1")
    assert r.prompt.startswith("Definition: Say if the review is good.\n\n Positive Example 1 -\nInput: Great film.\n Output: good.")
    assert r.prompt.endswith("Now complete the following example -\nInput: review 1.\nOutput: ") and r.target == "good"
    assert set(sni_tasks(tmp_path, "test")) == {"task002_test_reviews"}


def test_sni_bad_file_names_the_file(tmp_path):
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "task1_x.json").write_text(json.dumps({"Definition": ["d"]}))
    (tmp_path / "splits" / "default").mkdir(parents=True)
    (tmp_path / "splits" / "default" / "train_tasks.txt").write_text("task1_x\n")
    (tmp_path / "splits" / "default" / "test_tasks.txt").write_text("")
    with pytest.raises(InstillError, match=r"task1_x.json: missing field 'Instances'"):
        sni_tasks(tmp_path)


def test_cot_tsv(tmp_path):
    path = tmp_path / "math_train.tsv"
    rows = [f"What is {i} + 1?\t{i + 1}\t{i} plus one is {i + 1}." for i in range(40)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    t = cot_task(path)
    assert t.name == "math" and t.has_cot and len(t.split("train")) == 38 and len(t.split("validation")) == 2
    r = render(t, t.split("train")[0], t.templates[1], "zero_shot_cot", random.Random(0))
    assert parse_cot_answer(r.target) == t.split("train")[0]["answer"]
    path.write_text("q\ta\tc\nonly two\tcolumns\n", encoding="utf-8")
    with pytest.raises(InstillError, match=r"math_train.tsv:2: expected 3 tab-separated columns"):
        cot_task(path)


def test_hub_dataset_with_a_template_card(tmp_path):
    datasets = pytest.importorskip("datasets")
    feats = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["negative", "positive"])})
    dd = datasets.DatasetDict({
        "train": datasets.Dataset.from_dict({"text": ["good", "bad", "fine"], "label": [1, 0, 1]}, features=feats),
        "test": datasets.Dataset.from_dict({"text": ["great"], "label": [1]}, features=feats),
    })
    dd.save_to_disk(str(tmp_path / "ds"))
    path = card(tmp_path, f"""\
        cluster: sentiment
        answer_field: sentiment
        options: [negative, positive]
        instances:
          hub: {tmp_path / "ds"}
          splits: {{train: train, test: test}}
          columns: {{review: text, sentiment: label}}
        templates: ["Review: {{{{review}}}}\\n{{{{options}}}} ||| {{{{sentiment}}}}"]
        """)
    t = load_card(path)
    assert t.split("train")[0] == {"review": "good", "sentiment": "positive"} and len(t.split("test")) == 1
    assert render(t, t.split("test")[0], t.templates[0], style="flan").target == "positive"
    bad = card(tmp_path, f"""\
        cluster: sentiment
        instances: {{hub: {tmp_path / "ds"}, splits: {{train: train}}, columns: {{review: body}}}}
        templates: ["{{{{review}}}} ||| {{{{review}}}}"]
        """, "bad.yaml")
    with pytest.raises(InstillError, match="no column 'body'"):
        load_card(bad).splits()
