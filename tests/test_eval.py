"""Evaluation: SNI metrics, answer parsing, scoring summaries, the report, and `instill run` end to end."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from instill.config import EvalConfig
from instill.evaluate.items import EvalRow, read_eval_jsonl, task_items, write_eval_jsonl
from instill.evaluate.metrics import exact_match, mean_x100, normalize_answer, rouge_l
from instill.evaluate.predict import Answer, match_option
from instill.evaluate.scoring import score_item, summarize
from instill.errors import InstillError
from instill.formats import cot_target, parse_cot_answer

pytestmark = pytest.mark.usefixtures("one_thread")


# --- metrics ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("pred, refs, expected", [
    ("Paris", ["paris"], 1.0),
    ("  Paris. ", ["paris"], 1.0),                       # punctuation and white space
    ("The Eiffel-Tower!", ["the eiffeltower"], 1.0),     # punctuation removed, not replaced by a space
    ("the Paris", ["Paris"], 0.0),                       # articles are kept (SNI does not remove them)
    ("new  york\ncity", ["New York City"], 1.0),
    ("Lyon", ["Paris", "lyon."], 1.0),                   # any reference
    ("", [""], 1.0),
    ("Paris", [], 0.0),
])
def test_exact_match_cases(pred, refs, expected):
    assert exact_match(pred, refs) == expected


def test_normalize_answer_keeps_non_ascii_punctuation_as_sni_does():
    assert normalize_answer("¿Qué?") == "¿qué"  # string.punctuation is ASCII only


def lcs(a, b):
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            table[i + 1][j + 1] = table[i][j] + 1 if x == y else max(table[i][j + 1], table[i + 1][j])
    return table[-1][-1]


def f1_by_hand(pred_tokens, ref_tokens):
    n = lcs(pred_tokens, ref_tokens)
    if not n:
        return 0.0
    p, r = n / len(pred_tokens), n / len(ref_tokens)
    return 2 * p * r / (p + r)


def test_rouge_l_hand_computed_cases():
    # LCS "the cat on the mat" = 5 of 6 tokens on both sides
    assert rouge_l("the cat sat on the mat", ["the cat is on the mat"]) == pytest.approx(5 / 6)
    # the Porter stemmer: cats -> cat, running -> run
    assert rouge_l("Cats running", ["cat run"]) == pytest.approx(1.0)
    # punctuation and case are dropped by the tokenizer
    assert rouge_l("Hello, World!", ["hello world"]) == pytest.approx(1.0)
    # best over references, not the first or the mean
    assert rouge_l("a b c d", ["x y", "a b c e", "a b"]) == pytest.approx(f1_by_hand("abcd", "abce"))
    assert rouge_l("", ["something"]) == 0.0 and rouge_l("anything", []) == 0.0
    assert rouge_l("x", ["..."]) == 0.0  # a reference with no tokens


def test_rouge_l_matches_rouge_score_and_an_lcs_by_hand_on_random_pairs():
    from rouge_score import rouge_scorer, tokenize
    from nltk.stem import porter

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    stemmer = porter.PorterStemmer()
    words = "the a cat cats sat sitting on mat mats dog dogs ran running quickly, Quick! of 3 42 and".split()
    rng = random.Random(0)
    for _ in range(300):
        pred = " ".join(rng.choices(words, k=rng.randint(0, 9)))
        refs = [" ".join(rng.choices(words, k=rng.randint(1, 9))) for _ in range(rng.randint(1, 3))]
        ours = rouge_l(pred, refs)
        assert ours == max(scorer.score(r, pred)["rougeL"].fmeasure for r in refs)
        toks = lambda s: tokenize.tokenize(s, stemmer)  # noqa: E731
        assert ours == pytest.approx(max(f1_by_hand(toks(pred), toks(r)) for r in refs))


def test_mean_x100():
    assert mean_x100([]) == 0.0 and mean_x100([1, 0, 0, 1]) == 50.0


# --- parsing answers --------------------------------------------------------------------------------------------

def test_cot_answers_are_parsed_then_scored():
    text = cot_target("3 apples and 2 more make 5.", "5")
    assert parse_cot_answer(text) == "5"
    assert parse_cot_answer("So the answer is: (B) no.\nextra line") == "(B) no"
    assert parse_cot_answer("no final answer here") is None
    item = EvalRow("t", "c", [{"role": "user", "content": "q"}], ["5"], "5", format="zero_shot_cot")
    assert score_item(item, Answer(text, parse_cot_answer(text), "generate"))["exact_match"] == 1.0
    assert score_item(item, Answer("I think 5", None, "generate"))["exact_match"] == 0.0


@pytest.mark.parametrize("text, expected", [
    ("(B) no", "no"), ("B) no.", "no"), ("2. no", "no"), ("- no", "no"), ("No", "no"),
    ("it is not possible to tell.", "it is not possible to tell"), ("maybe", None), (None, None),
])
def test_match_option(text, expected):
    assert match_option(text, ["yes", "no", "it is not possible to tell"]) == expected


def test_options_items_score_accuracy_and_headline():
    item = EvalRow("t", "c", [{"role": "user", "content": "q"}], ["no"], "no", options=["yes", "no"])
    assert score_item(item, Answer("no", "no", "rank")) == {"exact_match": 1.0, "rouge_l": 1.0, "accuracy": 1.0, "score": 1.0}
    assert score_item(item, Answer("yes", "yes", "rank"))["score"] == 0.0
    free = EvalRow("t", "c", [{"role": "user", "content": "q"}], ["the cat sat"], "the cat sat")
    s = score_item(free, Answer("the cat", "the cat", "generate"))
    assert "accuracy" not in s and s["score"] == s["rouge_l"] == pytest.approx(0.8)


def test_summaries_average_over_items_per_task_and_cluster():
    rows = [{"task": t, "cluster": c, "scores": {"score": v, "exact_match": v, "rouge_l": v}}
            for t, c, v in [("a", "x", 1.0), ("a", "x", 0.0), ("b", "x", 1.0), ("c", "y", 0.5)]]
    s = summarize(rows)
    assert s["tasks"]["a"] == {"cluster": "x", "n": 2, "score": 50.0, "exact_match": 50.0, "rouge_l": 50.0}
    assert s["clusters"]["x"]["score"] == pytest.approx(200 / 3) and s["clusters"]["y"]["n"] == 1
    assert s["overall"]["score"] == pytest.approx(62.5)


# --- items --------------------------------------------------------------------------------------------------------

def test_items_from_tasks_and_eval_files(tmp_path):
    items = task_items(["cluster:paraphrase"], per_task=4)
    assert {it.cluster for it in items} == {"paraphrase"} and len(items) == 4 * len({it.task for it in items})
    assert all(it.options and it.answer in it.options and it.messages[-1]["role"] == "user" for it in items)
    cot = task_items(["addition"], fmt="zero_shot_cot", per_task=2)
    assert all(it.format == "zero_shot_cot" for it in cot)
    plain = task_items(["even_odd"], fmt="zero_shot_cot", per_task=2)  # no chain of thought: plain zero-shot
    assert all(it.format == "zero_shot" for it in plain)
    path = tmp_path / "eval.jsonl"
    assert write_eval_jsonl(items + cot, path) == len(items + cot)
    assert read_eval_jsonl(path) == items + cot  # every field comes back as written


def eval_row(**change):
    row = {"task": "t", "cluster": "c", "messages": [{"role": "user", "content": "q"}], "references": ["x"],
           "answer": "x", "options": ["x", "y"], "format": "zero_shot", "instance_id": None, "template": "t0",
           "split": "test", "index": 0}
    return {k: v for k, v in {**row, **change}.items() if v != "<drop>"}


@pytest.mark.parametrize("row, error", [
    (eval_row(cluster="<drop>"), "eval.jsonl:2: missing field 'cluster'"),
    (eval_row(options="<drop>"), "eval.jsonl:2: missing field 'options'"),
    (eval_row(answer="z"), "eval.jsonl:2: the answer 'z' is not one of the options ['x', 'y']"),
    (eval_row(references="x"), "eval.jsonl:2: 'references' must be an array, got string"),
    (eval_row(references=[1]), "eval.jsonl:2: 'references' must be a list of strings"),
    (eval_row(index="0"), "eval.jsonl:2: 'index' must be an integer or null, got string"),
    (eval_row(format="one_shot"), "eval.jsonl:2: 'format' is 'one_shot', expected one of zero_shot"),
    (eval_row(meta={}), "eval.jsonl:2: unknown field 'meta'"),
    (eval_row(messages=[{"role": "user", "content": "q"}, {"role": "assistant", "content": "x"}]),
     "eval.jsonl:2: 'messages' must end with the user turn"),
    ({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "x"}], "meta": {"answer": "x"}},
     "eval.jsonl:2: a conversation with 'meta' is the eval format of an older instill; rebuild"),
])
def test_an_eval_row_is_read_field_by_field(tmp_path, row, error):
    """Nothing is guessed: a missing or wrong field is one error naming the file and line."""
    path = tmp_path / "eval.jsonl"
    path.write_text(json.dumps(eval_row()) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(InstillError) as info:
        read_eval_jsonl(path)
    assert str(info.value).startswith(f"{path}:2: ") and error.split(":", 2)[2].strip() in str(info.value)


def test_an_eval_file_that_is_not_json_names_the_line(tmp_path):
    bad = tmp_path / "eval.jsonl"
    bad.write_text("\n{oops\n")
    with pytest.raises(InstillError, match=r"eval.jsonl:2: not valid JSON"):
        read_eval_jsonl(bad)


def test_sni_test_tasks_give_their_first_instances(tmp_path, write_sni):
    write_sni(tmp_path, "task002_test_reviews", n=150, categories=("Textual Entailment",))
    (tmp_path / "splits" / "default").mkdir(parents=True)
    (tmp_path / "splits" / "default" / "train_tasks.txt").write_text("")
    (tmp_path / "splits" / "default" / "test_tasks.txt").write_text("task002_test_reviews\n")
    items = task_items([], fmt="tk_instruct", per_task=100, sni=str(tmp_path))
    assert len(items) == 100 and items[0].references == ["bad", "ok"]
    assert items[0].prompt.startswith("Definition: Say if the review is good.") and items[0].cluster == "textual_entailment"


def _sni_test_folder(tmp_path, write_sni, name, n):
    write_sni(tmp_path, name, n=n)
    (tmp_path / "splits" / "default").mkdir(parents=True)
    (tmp_path / "splits" / "default" / "train_tasks.txt").write_text("")
    (tmp_path / "splits" / "default" / "test_tasks.txt").write_text(f"{name}\n")
    return tmp_path


def test_predictions_keep_the_sni_instance_id(tmp_path, write_sni, tiny_llama_dir):
    """Every prediction row names its SNI instance, so the official SNI scorer can join on it, also when the
    items went through an eval JSONL file (as `instill data build` writes them) first."""
    from instill.evaluate.runner import evaluate_model, read_predictions
    from instill.mixture import eval_items
    from instill.tasks.collections import sni_tasks

    folder = _sni_test_folder(tmp_path / "sni", write_sni, "task891_reviews", n=3)
    ids = ["task891_reviews-0", "task891_reviews-1", "task891_reviews-2"]
    items = task_items([], fmt="tk_instruct", per_task=100, sni=str(folder))
    assert [it.instance_id for it in items] == ids
    cfg = EvalConfig(max_new_tokens=2, precision="fp32")
    evaluate_model(str(tiny_llama_dir), items, cfg, tmp_path / "ev", progress=False)
    assert [p["id"] for p in read_predictions(tmp_path / "ev")] == ids

    task = sni_tasks(folder, "test")["task891_reviews"]
    eval_file = tmp_path / "eval.jsonl"
    write_eval_jsonl(eval_items(task, "test", 100, "tk_instruct", shots=3, max_chars=2000), eval_file)
    assert [it.instance_id for it in read_eval_jsonl(eval_file)] == ids
    # a task without ids (the bundled ones) writes null, never a guessed id
    assert task_items(["addition"], per_task=1)[0].instance_id is None


def test_an_instance_id_that_is_not_a_string_is_refused(tmp_path):
    (tmp_path / "eval.jsonl").write_text(json.dumps(eval_row(instance_id=7)) + "\n")
    with pytest.raises(InstillError, match=r"eval.jsonl:1: 'instance_id' must be a string or null, got number"):
        read_eval_jsonl(tmp_path / "eval.jsonl")


# --- instill run: data -> train -> eval base and tuned -> report -------------------------------------------------

MICRO = """
run_dir: {run_dir}
model: {{name: tiny, tiny: {{hidden_size: 32, num_layers: 2, num_heads: 2, intermediate_size: 64, vocab_size: 400}}}}
mixture:
  tasks: ["cluster:nli", "cluster:paraphrase", "even_odd", "addition", "headline_sports"]
  held_out_clusters: [nli]
  max_per_task: 8
  validation_per_task: 2
  eval_per_task: 3
  eval_seen_tasks: true
  formats: {{zero_shot: 1.0}}
data: {{max_length: 256}}
train: {{epochs: 2, batch_size: 8, lr: 1.0e-3, log_every: 1, save_every: 2}}
eval: {{max_new_tokens: 6, samples: 2}}
"""


def write_micro(tmp_path, **fmt):
    path = tmp_path / "micro.yaml"
    path.write_text(MICRO.format(run_dir=tmp_path / "run", **fmt))
    return path


def preds_of(run, name):
    return [json.loads(x) for x in (run / "eval" / name / "predictions.jsonl").read_text().splitlines()]


def is_png(path):
    return path.is_file() and path.stat().st_size > 2000 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_instill_run_end_to_end_then_resume_skips_finished_stages(tmp_path, caplog):
    recipe = write_micro(tmp_path)
    out = subprocess.run([sys.executable, "-m", "instill.cli", "run", str(recipe)], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    run = tmp_path / "run"
    assert out.stdout.strip() == f"report: {run / 'report.md'}"
    assert is_png(run / "plots" / "clusters.png") and is_png(run / "plots" / "loss.png")
    assert is_png(run / "data" / "composition.png") and (run / "base_model" / "config.json").is_file()
    report = json.loads((run / "report.json").read_text())
    eval_rows = (run / "data" / "eval.jsonl").read_text().splitlines()
    for name in ("base", "tuned"):
        preds = [json.loads(x) for x in (run / "eval" / name / "predictions.jsonl").read_text().splitlines()]
        assert len(preds) == len(eval_rows) == 3 * 8  # 3 per task: 3 nli + 2 paraphrase held out, 3 seen
        ranked = [p for p in preds if p["options"]]
        assert ranked and all(p["method"] == "rank" and p["prediction"] in p["options"] and
                              len(p["option_loglik"]) == len(p["options"]) for p in ranked)
        assert all(p["method"] == "generate" for p in preds if not p["options"])
    assert set(report["clusters"]) == {"nli", "paraphrase", "arithmetic", "summarization"}
    assert report["clusters"]["nli"]["held_out"] and not report["clusters"]["arithmetic"]["held_out"]
    nli = report["clusters"]["nli"]["score"]
    assert nli["delta"] == pytest.approx(nli["tuned"] - nli["base"])
    assert {s["cluster"] for s in report["samples"]} == {"nli", "paraphrase"} and len(report["samples"]) == 4
    md = (run / "report.md").read_text()
    for needle in ("## Per cluster", "| nli (held out) |", "## Per task", "## Sample answers", "plots/clusters.png",
                   "## Base vs tuned, side by side", "Δ 95% interval"):
        assert needle in md
    # the seeds' picture: the recipe's default prompts plus the first held-out item, base raw beside tuned
    shown = report["showcase"]
    assert [r["prompt"] for r in shown[:3]] == EvalConfig().showcase and len(shown) == 4
    held_prompts = {p["prompt"][-1]["content"] for p in preds_of(run, "tuned") if p["cluster"] in ("nli", "paraphrase")}
    assert shown[3]["prompt"] in held_prompts
    assert all(isinstance(r["base"], str) and isinstance(r["tuned"], str) for r in shown)
    for group in ("held_out", "seen"):
        o = report["overall"][group]
        lo, hi = o["delta_ci95"]
        assert lo <= o["delta"] + 1e-6 and o["delta"] - 1e-6 <= hi

    # again: nothing is redone
    from instill.config import load_recipe
    from instill.run import run as run_pipeline

    stamp = (run / "eval" / "tuned" / "predictions.jsonl").stat().st_mtime_ns
    shown_stamp = (run / "eval" / "showcase.json").stat().st_mtime_ns
    caplog.set_level("INFO")
    run_pipeline(load_recipe(recipe), progress=False)
    assert (run / "eval" / "tuned" / "predictions.jsonl").stat().st_mtime_ns == stamp
    assert (run / "eval" / "showcase.json").stat().st_mtime_ns == shown_stamp
    assert "train: done already" in caplog.text and "eval base: done already" in caplog.text

    # a changed training field is refused, not mixed into the old run
    with pytest.raises(InstillError, match="stage 'train' was run with a different recipe"):
        run_pipeline(load_recipe(recipe, ["train.lr=0.01"]), progress=False)

    # a changed eval setting redoes only the evaluations
    run_pipeline(load_recipe(recipe, ["eval.options=generate"]), progress=False)
    preds = [json.loads(x) for x in (run / "eval" / "tuned" / "predictions.jsonl").read_text().splitlines()]
    assert all(p["method"] == "generate" for p in preds)


def test_bootstrap_interval_of_the_paired_delta():
    from instill.evaluate.report import bootstrap_delta

    def preds(scores, cluster):
        return [{"task": "t", "index": i, "cluster": cluster, "scores": {"score": s}} for i, s in enumerate(scores)]

    always = bootstrap_delta(preds([0.0] * 20, "nli"), preds([1.0] * 20, "nli"), ["t"])
    assert always == {"held_out": [100.0, 100.0]}  # every item gained: no resample can say otherwise
    base, tuned = preds([0, 1] * 50, "a"), preds([1, 1] * 50, "a")  # half the items gain 100: mean +50
    ci = bootstrap_delta(base, tuned, [])["seen"]
    assert ci[0] < 50 < ci[1] and 35 < ci[0] and ci[1] < 65
    assert bootstrap_delta(base, tuned, []) == {"seen": ci}  # seeded: the same interval every time


def test_report_counts_evaluation_only_tasks_as_held_out():
    """An SNI test task is never trained on, though no held-out cluster names it: the report puts it with the
    held-out tasks, and its cluster is held out only when every evaluated task of that cluster is."""
    from instill.evaluate.report import compare

    def metrics(scores):
        tasks = {name: {"n": 1, "cluster": cluster, "score": s, "exact_match": s, "rouge_l": s}
                 for name, (cluster, s) in scores.items()}
        clusters = {c: {"n": 1, "score": 0.0, "exact_match": 0.0, "rouge_l": 0.0} for c, _ in scores.values()}
        return {"tasks": tasks, "clusters": clusters}

    scores = {"task1540_title": ("title_generation", 40.0), "task033_coref": ("coreference", 10.0),
              "seen_coref": ("coreference", 90.0)}
    base = metrics({k: (c, 0.0) for k, (c, _) in scores.items()})
    out = compare(base, metrics(scores), held_out_tasks=["task1540_title", "task033_coref"])
    assert out["overall"]["held_out"] == {"n": 2, "base": 0.0, "tuned": 25.0, "delta": 25.0}
    assert out["overall"]["seen"]["tuned"] == 90.0
    assert out["tasks"]["task033_coref"]["held_out"] and not out["tasks"]["seen_coref"]["held_out"]
    assert out["clusters"]["title_generation"]["held_out"] and not out["clusters"]["coreference"]["held_out"]


def test_instill_run_resumes_a_training_cut_short(tmp_path, caplog):
    import shutil

    from instill.config import load_recipe
    from instill.run import STAGES_FILE, run as run_pipeline

    recipe = load_recipe(write_micro(tmp_path), ["eval.base=false"])
    run_pipeline(recipe, progress=False)
    run = tmp_path / "run"
    steps = [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines() if '"loss"' in x]
    # as if killed after the last checkpoint: no final model, the stage not finished
    shutil.rmtree(run / "model")
    stages = json.loads((run / STAGES_FILE).read_text())
    stages["train"]["finished"] = False
    (run / STAGES_FILE).write_text(json.dumps(stages))
    caplog.set_level("INFO")
    run_pipeline(recipe, progress=False)
    assert "resumed from" in caplog.text and (run / "model" / "config.json").is_file()
    again = [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines() if '"loss"' in x]
    assert again == steps  # every step logged once
    assert "eval tuned: done already" not in caplog.text  # a retrained model is evaluated again


def test_instill_run_finishes_after_a_kill_during_or_right_after_the_final_save(tmp_path, caplog):
    import shutil

    from instill.config import load_recipe
    from instill.run import STAGES_FILE, run as run_pipeline

    recipe = load_recipe(write_micro(tmp_path), ["eval.base=false", "eval.showcase=[]"])
    run_pipeline(recipe, progress=False)
    run = tmp_path / "run"
    assert not (run / "model.partial").exists()  # the save was renamed into place
    stages_path = run / STAGES_FILE

    def unfinish() -> None:
        stages = json.loads(stages_path.read_text())
        stages["train"]["finished"] = False
        stages_path.write_text(json.dumps(stages))

    # killed after the model was renamed into place, before the stage was recorded: the model is whole, kept
    unfinish()
    stamp = (run / "model" / "config.json").stat().st_mtime_ns
    caplog.set_level("INFO")
    run_pipeline(recipe, progress=False)
    assert "saved whole before the run stopped" in caplog.text
    assert (run / "model" / "config.json").stat().st_mtime_ns == stamp
    assert json.loads(stages_path.read_text())["train"]["finished"]

    # killed in the middle of the save: a partial folder, no model; the rerun trains from the checkpoint and saves
    unfinish()
    (run / "model").rename(run / "model.partial")
    (run / "model.partial" / "model.safetensors").write_bytes(b"cut short")
    caplog.clear()
    run_pipeline(recipe, progress=False)
    assert "resumed from" in caplog.text and (run / "model" / "config.json").is_file()
    assert not (run / "model.partial").exists()
    from instill.modeling import load_pretrained

    load_pretrained(str(run / "model"))  # loads: the weights are whole


def test_run_without_a_mixture_is_a_clear_error(tmp_path):
    from instill.config import load_recipe
    from instill.run import run as run_pipeline

    recipe = load_recipe(None, ["data.train=[{format: alpaca, path: builtin:quickstart}]", f"run_dir={tmp_path}"])
    with pytest.raises(InstillError, match="needs a recipe with a 'mixture' section"):
        run_pipeline(recipe)


def test_sweep_runs_each_point_and_plots_held_out_score(tmp_path):
    from instill.sweep import load_sweep, run_sweep

    write_micro(tmp_path)
    (tmp_path / "sweep.yaml").write_text(
        "recipe: micro.yaml\n"
        f"run_dir: {tmp_path / 'sweep'}\n"
        "overrides: [eval.base=false, train.save_every=null]\n"
        "x_label: clusters\n"
        "points:\n"
        "  - {label: one, x: 1, overrides: ['mixture.tasks=[cluster:nli, even_odd]']}\n"
        "  - {label: two, x: 2, overrides: ['mixture.tasks=[cluster:nli, even_odd, headline_sports]']}\n")
    md = run_sweep(load_sweep(tmp_path / "sweep.yaml"), progress=False)
    result = json.loads((md.parent / "sweep.json").read_text())
    assert [p["train_clusters"] for p in result["points"]] == [1, 2]
    assert all(0 <= p["held_out_tuned"] <= 100 and p["held_out_base"] is None for p in result["points"])
    assert is_png(md.parent / "sweep.png") and "| 2 | [two](two/report.md) |" in md.read_text()
    (tmp_path / "bad.yaml").write_text("recipe: micro.yaml\nrun_dir: x\npoints: []\n")
    with pytest.raises(InstillError, match="bad.yaml: points"):
        load_sweep(tmp_path / "bad.yaml")


def test_sweep_evaluates_a_shared_base_model_once(tmp_path, tiny_llama_dir, caplog):
    """Points asked the same items of the same base model share one evaluation: the second point copies the
    first's (same predictions), and a point whose items differ evaluates its own."""
    from instill.sweep import load_sweep, run_sweep

    write_micro(tmp_path)
    (tmp_path / "sweep.yaml").write_text(
        "recipe: micro.yaml\n"
        f"run_dir: {tmp_path / 'sweep'}\n"
        f"overrides: [train.save_every=null, 'eval.base_model={tiny_llama_dir}', mixture.eval_seen_tasks=false]\n"
        "points:\n"
        "  - {label: one, x: 1, overrides: ['mixture.tasks=[cluster:nli, even_odd]']}\n"
        "  - {label: two, x: 2, overrides: ['mixture.tasks=[cluster:nli, even_odd, headline_sports]']}\n"
        "  - {label: other, x: 3, overrides: ['mixture.tasks=[cluster:nli, even_odd]', mixture.eval_per_task=2]}\n")
    with caplog.at_level("INFO", logger="instill.run"):
        md = run_sweep(load_sweep(tmp_path / "sweep.yaml"), progress=False)
    sweep = md.parent
    copied = [r.getMessage() for r in caplog.records if r.getMessage().endswith("; copied")]
    assert copied == [f"eval base: the same as in {sweep / 'one' / 'eval' / 'base'}; copied"]
    assert preds_of(sweep / "two", "base") == preds_of(sweep / "one", "base")
    assert len(preds_of(sweep / "other", "base")) < len(preds_of(sweep / "one", "base"))
    result = json.loads((sweep / "sweep.json").read_text())
    assert result["points"][0]["held_out_base"] == result["points"][1]["held_out_base"] is not None


# the Gemma recipes' sweeps, run on the tiny model with tiny data: the same points, stages and tables in seconds
ON_TINY = ["model.name=tiny", "model.tiny={hidden_size: 32, num_layers: 2, num_heads: 2, intermediate_size: 64, "
           "vocab_size: 400}", "mixture.max_per_task=3", "mixture.validation_per_task=1", "mixture.eval_per_task=2",
           "data.max_length=192", "train.max_steps=2", "train.save_every=null", "eval.max_new_tokens=4"]
RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def test_gemma_cluster_sweep_runs_on_a_tiny_model(tmp_path):
    from instill.sweep import load_sweep, run_sweep

    sweep = load_sweep(RECIPES / "gemma_cluster_sweep.yaml")
    sweep.run_dir = str(tmp_path / "sweep")
    md = run_sweep(sweep, ON_TINY, progress=False)
    points = json.loads((md.parent / "sweep.json").read_text())["points"]
    assert [p["x"] for p in points] == [p["train_clusters"] for p in points] == [1, 2, 4, 11]
    assert len({p["held_out_n"] for p in points}) == 1 and points[0]["held_out_n"] == 5 * 2  # 5 held-out tasks
    assert all(p["held_out_base"] is not None and p["seen_tuned"] is None for p in points)
    assert all(len(p["held_out_delta_ci95"]) == 2 and p["wall_seconds"] > 0 for p in points)
    assert is_png(md.parent / "sweep.png") and md.read_text().count("](c") == 4


def test_gemma_sni_instances_sweep_runs_on_a_tiny_model(tmp_path, write_sni_folder):
    """The SNI test task is never trained on, so the report counts it as held out though no cluster is."""
    from instill.sweep import load_sweep, run_sweep

    folder = write_sni_folder(tmp_path / "sni")
    sweep = load_sweep(RECIPES / "gemma_sni_instances_sweep.yaml")
    sweep.run_dir = str(tmp_path / "sweep")
    on_tiny = [o for o in ON_TINY if not o.startswith("mixture.max_per_task")]  # the points set it
    md = run_sweep(sweep, [*on_tiny, f"mixture.collections=[{{kind: sni, path: '{folder}', eval_instances: 4}}]"],
                   progress=False)
    points = json.loads((md.parent / "sweep.json").read_text())["points"]
    assert [p["train_examples"] for p in points] == [2 * 2, 2 * 4, 2 * 8]  # max_per_task per point, 2 train tasks
    assert all(p["held_out_n"] == 2 and p["held_out_base"] is not None for p in points)  # eval_per_task=2
    report = json.loads((md.parent / "i04" / "report.json").read_text())
    assert report["held_out_tasks"] == ["task002_test_c"] and report["held_out_clusters"] == ["title_generation"]
    preds = preds_of(md.parent / "i04", "tuned")
    assert all(p["prompt"][-1]["content"].startswith("Definition: Give the review a title.") for p in preds)


@pytest.mark.parametrize("fixture", ["tiny_llama_dir", "tiny_t5_dir"])
@pytest.mark.parametrize("style", ["chat", "raw"])
def test_evaluate_model_ranks_generates_and_writes_every_prediction(request, fixture, style, tmp_path):
    from instill.config import EvalConfig
    from instill.evaluate.runner import evaluate_model, is_done, read_predictions, settings_of

    model = str(request.getfixturevalue(fixture))
    items = task_items(["paraphrase_voice", "addition"], per_task=2) + task_items(["addition"], "zero_shot_cot", 1)
    cfg = EvalConfig(prompt_style=style, max_new_tokens=4, cot_max_new_tokens=6, batch_size=2)
    result = evaluate_model(model, items, cfg, tmp_path, progress=False)
    preds = read_predictions(tmp_path)
    assert [p["method"] for p in preds] == ["generate", "generate", "rank", "rank", "generate"]
    assert [p["format"] for p in preds][-1] == "zero_shot_cot"
    assert all(len(p["option_loglik"]) == 2 and max(p["option_loglik"]) < 0 for p in preds if p["options"])
    assert result["overall"]["n"] == 5 and set(result["clusters"]) == {"arithmetic", "paraphrase"}
    assert is_done(tmp_path, settings_of(model, items, cfg))
    assert not is_done(tmp_path, settings_of(model, items, cfg.model_copy(update={"normalize": "chars"})))


def test_ranked_options_are_the_tokens_training_puts_after_the_prompt(tiny_llama_dir):
    """Scoring is exact to training: prompt ids + option ids == the trained sequence up to the end of turn."""
    from instill.evaluate.predict import option_requests
    from instill.inference.chat_model import load_chat_model
    from instill.records import Conversation, Message
    from instill.tokenize import encode_causal

    cm = load_chat_model(str(tiny_llama_dir))
    for item in task_items(["nli_people", "sentiment_*"], per_task=2):
        ctx, options = option_requests(cm, item, "chat")
        for option, ids in zip(item.options, options):
            conv = Conversation([Message("user", item.prompt, False), Message("assistant", option, True)])
            trained = encode_causal(cm.tokenizer, cm.fmt, conv, 10_000)
            eot = [i for i, lab in enumerate(trained.labels) if lab != -100]
            answer_span = trained.input_ids[eot[0]:]
            assert trained.input_ids[:eot[0]] == ctx and answer_span[:len(ids)] == ids
            assert cm.tokenizer.decode(answer_span[len(ids):]).strip() in (cm.fmt.end_of_turn, cm.fmt.end_of_turn + "\n")


def test_generation_prompts_past_the_context_are_cut_as_training_cuts_them(tiny_llama_dir, tmp_path):
    from instill.evaluate.runner import evaluate_model

    long_text = " ".join(["red green blue"] * 200)  # far past the tiny model's 256 positions
    items = [EvalRow(task="t", cluster="c", messages=[{"role": "user", "content": f"Reverse: {long_text}"}],
                      references=["x"], answer="x"),
             EvalRow(task="t", cluster="c", messages=[{"role": "user", "content": "Reverse: red green"}],
                      references=["green red"], answer="green red")]
    cfg = EvalConfig(max_new_tokens=4, precision="fp32")
    result = evaluate_model(str(tiny_llama_dir), items, cfg, tmp_path / "ev", progress=False)
    assert result["prompts_cut"] == 1
    preds = [json.loads(x) for x in (tmp_path / "ev" / "predictions.jsonl").read_text().splitlines()]
    assert preds[0].get("prompt_cut") is True and "prompt_cut" not in preds[1]


def test_sni_baselines_tool_scores_copying_the_input(tmp_path):
    """tools/sni_baselines.py: the copy-the-input baseline and the share of answers that are the input."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("sni_baselines", RECIPES.parent / "tools" / "sni_baselines.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)

    def row(x, pred, ref, cluster):
        prompt = f"Definition: d\n\n Positive Example 1 -\nInput: a\n Output: b\n\nNow complete the following example -\nInput: {x}\nOutput: "
        return {"prompt": [{"role": "user", "content": prompt}], "prediction": pred, "references": [ref],
                "cluster": cluster}

    path = tmp_path / "predictions.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        row("What is it, uh, now?", "What is it, uh, now?", "What is it now?", "question_rewriting"),
        row("Long text about cats.", "Cats", "Cats", "title_generation")]))
    t = tool.table(tool.rows_of(path))
    assert t["overall"]["answer_is_input"] == 50.0 and t["title_generation"]["exact_match"] == 100.0
    assert t["question_rewriting"]["copy_input_rouge_l"] == t["question_rewriting"]["rouge_l"] > 0
    assert tool.instance_input("no mark here") is None


def test_instill_run_keeps_one_record_and_accepts_run_folders_older_instill_recorded(tmp_path, caplog):
    """stages.json is the one resume record, evaluations included. data.max_length is not in the data stage's
    fingerprint (the mixture does not depend on it): changing it is refused by training, not by data. A folder
    recorded by older instill (the whole data section fingerprinted, evaluations known only by their metrics.json)
    is resumed as it is, nothing redone, and its record brought up to date."""
    from instill.config import load_recipe
    from instill.run import STAGES_FILE, fingerprint, run as run_pipeline

    recipe = load_recipe(write_micro(tmp_path), ["eval.base=false", "eval.showcase=[]"])
    run_pipeline(recipe, progress=False)
    run = tmp_path / "run"
    stages = json.loads((run / STAGES_FILE).read_text())
    assert sorted(stages) == ["data", "eval_tuned", "train"] and all(s["finished"] for s in stages.values())
    shorter = load_recipe(write_micro(tmp_path), ["eval.base=false", "eval.showcase=[]", "data.max_length=200"])
    assert fingerprint(shorter, ("seed", "mixture", "data.system_prompt")) == stages["data"]["fingerprint"]
    with pytest.raises(InstillError, match="stage 'train' was run with a different recipe"):
        run_pipeline(shorter, progress=False)

    # as older instill left it: the data fingerprint over the whole data section, no evaluation in the record, and
    # the eval set as conversations with a 'meta' object (which today's reader refuses): it is written anew
    old = {"data": {**stages["data"], "fingerprint": fingerprint(recipe, ("seed", "mixture", "data"))},
           "train": stages["train"]}
    (run / STAGES_FILE).write_text(json.dumps(old))
    eval_file = run / "data" / "eval.jsonl"
    current = eval_file.read_text()
    eval_file.write_text("".join(json.dumps({"messages": r["messages"], "meta": {"task": r["task"]}}) + "\n"
                                 for r in map(json.loads, current.splitlines())))
    stamp = (run / "eval" / "tuned" / "predictions.jsonl").stat().st_mtime_ns
    caplog.set_level("INFO")
    run_pipeline(recipe, progress=False)
    assert "train: done already" in caplog.text and "eval tuned: done already" in caplog.text
    assert (run / "eval" / "tuned" / "predictions.jsonl").stat().st_mtime_ns == stamp
    now = json.loads((run / STAGES_FILE).read_text())
    now["data"].pop("seconds"), stages["data"].pop("seconds")  # the data were written again: their time is new
    assert now == stages and eval_file.read_text() == current
