"""Mixtures: caps and examples-proportional rates, held-out clusters, the leak check, and `instill data build`."""

import json
import random
import subprocess
import sys
from dataclasses import fields

import pytest

from instill.config import MixtureConfig, load_recipe
from instill.errors import InstillError
from instill.evaluate.items import EvalRow
from instill.mixture import (allocate, build_mixture, check_no_leak, held_out_closure, mixing_rates, select_tasks,
                             split_tasks)
from instill.records import chat_to_conversation
from instill.tasks import load_tasks


@pytest.fixture(scope="module")
def tasks():
    return load_tasks()


def conv(prompt, answer="x", task="t"):
    return chat_to_conversation([{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}], task=task)


def test_examples_proportional_rates_respect_the_cap():
    rates = mixing_rates({"small": 100, "mid": 1000, "big": 50_000}, cap=3000)
    assert rates == pytest.approx({"small": 100 / 4100, "mid": 1000 / 4100, "big": 3000 / 4100})


def test_explicit_rates_by_task_and_cluster():
    rates = mixing_rates({"a": 10, "b": 10, "c": 10}, 3000, {"a": 1.0, "cluster:k": 3.0}, {"a": "j", "b": "k", "c": "k"})
    assert rates == pytest.approx({"a": 1 / 7, "b": 3 / 7, "c": 3 / 7})
    with pytest.raises(InstillError, match="'nope' is not a training task or cluster"):
        mixing_rates({"a": 10}, 3000, {"nope": 1.0}, {"a": "j"})


def test_allocated_counts_are_the_seeded_multinomial_draw():
    """Seed 0's draw, exactly (expected by rate: 487.8, 4878.0, 14634.1): a change to how examples are allocated,
    or to what the seed means, shows here."""
    rates = mixing_rates({"small": 100, "mid": 1000, "big": 50_000}, cap=3000)
    assert allocate(rates, 20_000, random.Random(0)) == {"small": 524, "mid": 4811, "big": 14665}
    assert allocate(rates, 20_000, random.Random(1)) != allocate(rates, 20_000, random.Random(0))


def test_built_mixture_proportions_follow_the_caps(tasks):
    """End to end: with a mixing cap below some tasks' sizes, each task's share of a drawn mixture follows
    min(n, cap) / sum(min(n, cap)); seed 3's counts, exactly."""
    cfg = MixtureConfig(tasks=["cluster:arithmetic", "cluster:closed_book_qa"], mixing_cap=200, size=6000,
                        validation_per_task=0, formats={"zero_shot": 1.0})
    mix = build_mixture(cfg, seed=3)
    chosen = split_tasks(select_tasks(tasks, cfg.tasks), set())[0]
    caps = {n: min(len(t.split("train")), 200) for n, t in chosen.items()}
    assert len(set(caps.values())) > 1  # the test means something only if some tasks hit the cap and some do not
    total = sum(caps.values())
    got = {n: 0 for n in caps}
    for c in mix.train:
        got[c.task] += 1
    expected = {n: round(6000 * cap / total, 1) for n, cap in caps.items()}
    assert expected == {"addition": 795.8, "antonym": 191.0, "compare_numbers": 795.8, "country_capital": 191.0,
                        "country_continent": 191.0, "country_currency": 191.0, "even_odd": 795.8,
                        "multiplication": 795.8, "number_to_words": 238.7, "plural": 222.8, "round_to_ten": 795.8,
                        "subtraction": 795.8}
    assert got == {"addition": 758, "antonym": 208, "compare_numbers": 792, "country_capital": 209,
                   "country_continent": 180, "country_currency": 189, "even_odd": 879, "multiplication": 820,
                   "number_to_words": 240, "plural": 214, "round_to_ten": 737, "subtraction": 774}


def test_default_mixture_takes_each_task_up_to_the_cap(tasks):
    cfg = MixtureConfig(tasks=["addition", "even_odd"], mixing_cap=150, max_per_task=100, validation_per_task=5)
    mix = build_mixture(cfg)
    per_task = {n: sum(c.task == n for c in mix.train) for n in ("addition", "even_odd")}
    assert per_task == {"addition": 100, "even_odd": 100}  # max_per_task (100) binds before the cap (150)
    assert len(mix.validation) == 10 and all(", validation instance " in c.source for c in mix.validation)


def test_mixture_is_deterministic_by_seed():
    cfg = MixtureConfig(tasks=["addition", "even_odd"], mixing_cap=50)
    a, b, c = build_mixture(cfg, seed=1), build_mixture(cfg, seed=1), build_mixture(cfg, seed=2)
    assert [x.to_dict() for x in a.train] == [x.to_dict() for x in b.train]
    assert [x.to_dict() for x in a.train] != [x.to_dict() for x in c.train]


def test_related_clusters_go_out_together():
    related = {"nli": ["paraphrase"], "paraphrase": ["nli"], "reading_comprehension": ["reading_comprehension_with_commonsense"]}
    assert held_out_closure(["paraphrase"], related) == {"paraphrase", "nli"}
    assert held_out_closure(["reading_comprehension"], related) == {"reading_comprehension",
                                                                    "reading_comprehension_with_commonsense"}
    assert held_out_closure(["arithmetic"], related) == {"arithmetic"}


def test_held_out_cluster_only_in_eval(tasks):
    cfg = MixtureConfig(held_out_clusters=["nli"], mixing_cap=20, validation_per_task=0, eval_per_task=5)
    mix = build_mixture(cfg)
    held = {n for n, t in tasks.items() if t.cluster in ("nli", "paraphrase")}
    assert held and set(mix.held_out_tasks) == held and set(mix.held_out_clusters) == {"nli", "paraphrase"}
    assert not {c.task for c in mix.train} & held
    assert {c.task for c in mix.eval} == held and len(mix.eval) == 5 * len(held)
    forward = {n: {tpl.name for tpl in t.forward_templates} for n, t in tasks.items()}
    for row in mix.eval:
        assert row.references and row.cluster in ("nli", "paraphrase") and row.format == "zero_shot"
        assert row.options is None or row.answer in row.options
        assert row.template in forward[row.task] and row.split == "test"
        assert row.messages[-1]["role"] == "user"


def test_leak_check_refuses_a_held_out_task_and_a_shared_prompt():
    eval_set = [EvalRow("held", "c", [{"role": "user", "content": "What is 2 plus 2?"}], ["4"], "4")]
    check_no_leak([conv("What is 3 plus 3?", task="train")], eval_set, ["held"])  # clean: no error
    with pytest.raises(InstillError, match="held-out task 'held'"):
        check_no_leak([conv("anything", task="held")], eval_set, ["held"])
    with pytest.raises(InstillError, match="also in the evaluation set"):
        check_no_leak([conv("  what is 2   PLUS 2? ", task="other")], eval_set, ["held"])


def test_training_refuses_extra_data_that_leaks(tmp_path, tasks):
    """A recipe's own sources are checked against the mixture's evaluation set too."""
    from instill.train.data import prepare_conversations

    cfg = MixtureConfig(tasks=["addition", "even_odd"], held_out_clusters=[], eval_seen_tasks=True, mixing_cap=10,
                        eval_per_task=3)
    mix = build_mixture(cfg)
    leaked = mix.eval[0].prompt
    clean = {"instruction": "Name a colour.", "output": "red"}
    extra = tmp_path / "extra.jsonl"
    extra.write_text(json.dumps(clean) + "\n" + json.dumps({"instruction": leaked, "output": "x"}) + "\n")
    recipe = load_recipe(None, [f"data.train=[{{format: alpaca, path: {extra}}}]",
                                "mixture.tasks=[addition, even_odd]", "mixture.eval_seen_tasks=true",
                                "mixture.mixing_cap=10", "mixture.eval_per_task=3"])
    with pytest.raises(InstillError) as info:
        prepare_conversations(recipe)
    # the message names the user's file and the line of the leaking record (it once said "(task 'None', mixture)")
    assert str(info.value).startswith(f"leak: {extra}:2: its prompt is also in the evaluation set (task 'addition')")


def test_unknown_task_pattern_and_cluster_are_errors():
    with pytest.raises(InstillError, match="'nosuch' matches no task"):
        build_mixture(MixtureConfig(tasks=["nosuch"]))
    with pytest.raises(InstillError, match="no selected task is in cluster 'astrology'"):
        build_mixture(MixtureConfig(held_out_clusters=["astrology"]))


def test_cot_only_mixture_needs_cot_tasks():
    with pytest.raises(InstillError, match="supports none of the mixture's formats"):
        build_mixture(MixtureConfig(tasks=["even_odd"], formats={"zero_shot_cot": 1.0}))


def test_data_build_cli_writes_mixture_stats_and_plot(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        f"run_dir: {tmp_path / 'run'}\n"
        "model: {tiny: {vocab_size: 400}}\n"
        "mixture: {tasks: ['cluster:arithmetic', 'cluster:closed_book_qa'], held_out_clusters: [closed_book_qa],"
        " mixing_cap: 30, eval_per_task: 4, eval_seen_tasks: true}\n", encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "instill.cli", "data", "build", str(recipe)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    data = tmp_path / "run" / "data"
    stats = json.loads((data / "stats.json").read_text())
    assert stats["held_out"]["clusters"] == ["closed_book_qa"] and set(stats["clusters"]) == {"arithmetic"}
    assert stats["tokens"]["prompt"] > 0 and stats["tokens"]["target"] > 0
    assert sum(t["examples"] for t in stats["tasks"].values()) == stats["examples"]
    assert (data / "composition.png").read_bytes()[:4] == b"\x89PNG"
    rows = [json.loads(line) for line in (data / "train.jsonl").read_text().splitlines()]
    assert len(rows) == stats["examples"] and all(r["meta"]["cluster"] == "arithmetic" for r in rows)
    evals = [json.loads(line) for line in (data / "eval.jsonl").read_text().splitlines()]
    assert all(set(r) == {f.name for f in fields(EvalRow)} for r in evals)  # every field, nothing guessed later
    held = [r for r in evals if r["cluster"] == "closed_book_qa"]
    seen = [r for r in evals if r["cluster"] == "arithmetic"]
    assert held and seen and len(held) + len(seen) == len(evals)
    held_tasks = stats["held_out"]["tasks"]
    # the summary counts held-out and seen-task rows apart (it once called every eval row held out)
    assert (f"{len(evals)} eval rows: {len(held)} from {len(held_tasks)} held-out tasks (clusters: closed_book_qa), "
            f"{len(seen)} unseen instances of seen tasks") in out.stdout


def test_data_tasks_cli_lists_cards(tmp_path):
    (tmp_path / "mine.yaml").write_text(
        "cluster: custom\nanswer_field: y\ninstances: {inline: {train: [{x: a, y: b}]}}\n"
        "templates: ['{{x}} ||| {{y}}', {prompt: '{{y}}', target: '{{x}}', inverted: true}]\n")
    out = subprocess.run([sys.executable, "-m", "instill.cli", "data", "tasks", "--cards", str(tmp_path),
                          "--cluster", "custom"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "mine" in out.stdout and "2 (1)" in out.stdout and "1 tasks in 1 clusters" in out.stdout


def test_cot_examples_use_forward_templates_only():
    mix = build_mixture(MixtureConfig(tasks=["addition"], formats={"zero_shot_cot": 1.0, "few_shot_cot": 1.0},
                                      mixing_cap=200, validation_per_task=0))
    assert len(mix.train) == 200 and all(not c.meta["inverted"] for c in mix.train)
    assert all(c.messages[-1].content.endswith(".") and "Therefore, the answer is" in c.messages[-1].content
               for c in mix.train)


def test_collection_kinds_are_the_readers_registry(monkeypatch):
    """mixture.collections[].kind accepts exactly the registered readers, and a collection is read by its kind's
    reader (here a fake one standing in for the SNI folder reader)."""
    from typing import get_args

    from instill.config import CollectionConfig
    from instill.mixture import load_mixture_tasks
    from instill.tasks.collections import COLLECTIONS

    assert get_args(CollectionConfig.model_fields["kind"].annotation) == tuple(COLLECTIONS) == ("sni", "cot")
    task = next(iter(load_tasks().values()))
    fake = task.__class__(**{**{f.name: getattr(task, f.name) for f in fields(task)}, "name": "from_reader"})
    monkeypatch.setitem(COLLECTIONS, "sni", lambda col: {"from_reader": fake} if col.path == "somewhere" else {})
    cfg = MixtureConfig(builtin=False, collections=[{"kind": "sni", "path": "somewhere"}])
    assert list(load_mixture_tasks(cfg)) == ["from_reader"]
    with pytest.raises(Exception, match="kind"):
        MixtureConfig(collections=[{"kind": "flan", "path": "x"}])
