"""Self-Instruct: filters, parsers, the fast novelty filter against rouge-score, the store and resume (kill -9
included), the Alpaca style, and a run against `instill serve` over real HTTP."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from rouge_score.rouge_scorer import _score_lcs

from instill.errors import InstillError
from instill.llm.base import Completion
from instill.selfinstruct import alpaca
from instill.selfinstruct.config import PAPER_BLACKLIST, load_config
from instill.selfinstruct.filters import blacklist_pattern, filter_instances, instruction_rejection
from instill.selfinstruct.loop import generate
from instill.selfinstruct.novelty import NoveltyIndex, reference_decisions, rouge_l_f1, rouge_tokens
from instill.selfinstruct.parse import parse_input_first, parse_instructions, parse_output_first
from instill.selfinstruct.seeds import load_seeds
from instill.selfinstruct.store import read_store

VERBS = ["Describe", "Explain", "List", "Summarize", "Compare", "Classify", "Suggest", "Rewrite", "Translate",
         "Identify", "Generate", "Evaluate", "Outline", "Rank", "Name", "Predict", "Convert", "Find"]
ADJS = ["important", "common", "unusual", "simple", "historical", "modern", "healthy", "cheap", "famous", "quiet",
        "strange", "local", "seasonal", "digital", "ancient", "popular"]
NOUNS = ["recipes", "rivers", "habits", "inventions", "poems", "cities", "sports", "tools", "planets", "songs",
         "languages", "jobs", "games", "trees", "markets", "proverbs", "bridges", "festivals", "apps", "birds"]
TAILS = ["for a beginner", "in three sentences", "in a short list", "for a school report", "with examples",
         "in plain words", "for a friend", "and give reasons", "from the given text", "in one paragraph"]


def sentence(rng: random.Random) -> str:
    return f"{rng.choice(VERBS)} {rng.randint(2, 9)} {rng.choice(ADJS)} {rng.choice(NOUNS)} {rng.choice(TAILS)}."


def seed_rows(n: int = 12) -> list[dict]:
    rng = random.Random(1)
    rows, seen = [], set()
    while len(rows) < n:
        s = sentence(rng)
        if s in seen:
            continue
        seen.add(s)
        cls = len(rows) % 4 == 0
        rows.append({"id": f"seed_task_{len(rows)}", "name": f"t{len(rows)}", "instruction": s,
                     "instances": [{"input": "" if cls else "some text", "output": "Yes" if cls else "an answer"}],
                     "is_classification": cls})
    return rows


@pytest.fixture
def seeds_file(tmp_path) -> Path:
    p = tmp_path / "seeds.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in seed_rows()))
    return p


class ScriptedLLM:
    """A deterministic stand-in for a model: the reply depends only on the prompt (and the seed), so two runs of
    the same config give the same store. Generation replies mix good instructions with ones each filter rejects."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.calls = 0

    def complete(self, prompts, params):
        self.calls += len(prompts)
        if self.delay_s:
            time.sleep(self.delay_s)
        return [[self._reply(p, params)] for p in prompts]

    def chat(self, conversations, params):
        return self.complete([c[-1]["content"] for c in conversations], params)

    def close(self):
        pass

    def _reply(self, prompt: str, params) -> Completion:
        rng = random.Random(hashlib.sha256(f"{prompt}|{params.seed}".encode()).hexdigest())
        last = prompt.rstrip().splitlines()[-1]
        if prompt.rstrip().endswith("Is it classification?"):
            task = prompt.rstrip().splitlines()[-2]
            return Completion(" Yes" if "Classify" in task or "Rank" in task else " No", "length")
        if last.startswith("Task:"):
            if "Classify" in last or "Rank" in last:
                return Completion("Class label: A\nInput: first thing\nClass label: B\nInput: second thing\n", "stop")
            k = rng.randint(1, 4)
            body = "".join(f"Example {i}\nInput: {w}\nOutput: {w.upper()}\n" for i, w in
                           enumerate(rng.sample(NOUNS, k), 1))
            return Completion(body, "stop")
        if "Instruction:" in last:  # alpaca style
            tasks = [f" {sentence(rng)}\n4. Input:\n<noinput>\n4. Output:\nfine"]
            tasks += [f"{i}. Instruction: {sentence(rng)}\n{i}. Input:\nx {i}\n{i}. Output:\ny {i}" for i in range(5, 9)]
            return Completion("\n###\n".join(tasks), "stop")
        items = [sentence(rng) for _ in range(rng.randint(2, 5))]
        items += rng.sample(["Draw a map of the town please.", "Do it now.", "Write a program to sort a list of numbers.",
                             prompt.splitlines()[1].split(". ", 1)[1]], 2)  # blacklist, short, bad start, a copy
        rng.shuffle(items)
        text = " " + "\n".join(f"{i}. {t}" if i > 9 else t for i, t in enumerate(items, 9)) if items else ""
        return Completion(text, "length" if rng.random() < 0.1 else "stop")


def make_cfg(tmp_path, seeds_file, **kw):
    fields = dict(out_dir=str(tmp_path / "out"), backend={"backend": "openai", "base_url": "http://x/v1", "model": "m"},
                  seeds=str(seeds_file), target=30, concurrency=3)
    fields.update(kw)
    return load_config(None, **fields)


def test_an_override_of_one_decoding_field_keeps_the_papers_others():
    cfg = load_config(None, ["instructions.max_tokens=256", "alpaca.decoding.temperature=0.5"], out_dir="x",
                      backend={"backend": "local", "model": "m"})
    i = cfg.instructions
    assert (i.max_tokens, i.temperature, i.top_p, i.presence_penalty) == (256, 0.7, 0.5, 2.0)
    assert i.stop == ["\n\n", "\n16", "16.", "16 ."]
    assert (cfg.alpaca.decoding.temperature, cfg.alpaca.decoding.max_tokens) == (0.5, 3072)
    with pytest.raises(InstillError, match="instructions.max_tokenz"):
        load_config(None, ["instructions.max_tokenz=256"], out_dir="x", backend={"backend": "local", "model": "m"})


def stored_ids(out: Path) -> tuple[list[str], list[str]]:
    st = read_store(out / "store.jsonl")
    return [k["instruction"] for k in st.kept], sorted(st.tasks)


# --- filters --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, reason", [
    ("Name three colours.", "too_short"),  # 3 words: <= 3 is dropped
    ("Name three primary colours.", None),
    (" ".join(["word"] * 150) + ".", None),
    (" ".join(["word"] * 151) + ".", "too_long"),
    ("Describe the IMAGES you would take on holiday.", "blacklist"),
    ("Plot the monthly sales of the shop.", "blacklist"),
    ("Tell me how to go to the station from here.", "blacklist"),
    ("Explain what a filesystem is to a child.", None),  # 'file' only as a whole word
    ("Describe a mapping between two sets of numbers.", None),
    ("Write a program that prints all prime numbers.", "bad_start"),
    ("write a program that prints all prime numbers.", None),  # the paper's check is case-sensitive
    ("\"Quote\" the most famous line of a play.", "punctuation_start"),
    ("1. Explain the rules of chess briefly.", None),
    ("Über alles: explain the phrase and its history.", "non_ascii_start"),
])
def test_instruction_filters(text, reason):
    pattern = blacklist_pattern(PAPER_BLACKLIST)
    assert instruction_rejection(text, min_words=3, max_words=150, blacklist=pattern,
                                 bad_starts=["Write a program"]) == reason


def test_alpaca_blacklist_adds_words(tmp_path, seeds_file):
    cfg = make_cfg(tmp_path, seeds_file, style="alpaca")
    pattern = blacklist_pattern(cfg.filters.blacklist + cfg.filters.alpaca_extra_blacklist)
    assert pattern.search("Describe the music of the film") and pattern.search("Make a flowchart of it")
    assert not blacklist_pattern(cfg.filters.blacklist).search("Describe the music of the film")


@pytest.mark.parametrize("instances, kept, task_dropped", [
    ([("a", "1"), ("b", "2")], [("a", "1"), ("b", "2")], None),
    ([("x", "x")], [], "no_valid_instances"),  # input equals output
    ([("", "")], [], "no_valid_instances"),  # empty output (and input == output)
    ([("q", "")], [], "no_valid_instances"),
    ([("List the items:", "a")], [], "no_valid_instances"),
    ([("a", "The answer is:"), ("b", "ok")], [("b", "ok")], None),
    ([("a", "1"), ("a", "2"), ("b", "3")], [], "conflicting_outputs"),
    ([("a", "1"), (" a ", "1 "), ("b", "3")], [("a", "1"), ("b", "3")], None),  # duplicates after stripping
    ([(str(i), "out") for i in range(8)], [(str(i), "out") for i in range(5)], None),  # at most 5
])
def test_instance_filters(instances, kept, task_dropped):
    got, _, reason = filter_instances(instances, 5)
    assert (got, reason) == (kept, task_dropped)


# --- parsers on responses in the paper's formats -----------------------------------------------------------------

def test_parse_instructions_completion_and_chat_shapes():
    completion = " Suggest a name for a cat.\n10. Rewrite the sentence:\n   The dog  barks.\n11 . Sort 3, 1, 2.\n12."
    assert parse_instructions(completion, 9) == ["Suggest a name for a cat.", "Rewrite the sentence: The dog barks.",
                                                 "Sort 3, 1, 2."]
    chat = "9. Suggest a name for a cat.\n10. Give an antonym of 'happy'."
    assert parse_instructions(chat, 9) == ["Suggest a name for a cat.", "Give an antonym of 'happy'."]
    assert parse_instructions("", 9) == []


def test_parse_instances_input_first_and_output_first():
    text = ("Example 1\nInput: Sentence: I am happy.\nOutput: I am not happy.\n\nExample 2\nInput: It rains.\n"
            "Output: It does not rain.\nExample 3\nOutput: Done without input.\n")
    assert parse_input_first(text) == [("Sentence: I am happy.", "I am not happy."), ("It rains.", "It does not rain."),
                                       ("", "Done without input.")]
    assert parse_input_first("Output: multi\nline output") == [("", "multi\nline output")]
    cls = "Class label: Positive\nInput: Great film.\nClass label: Negative\nInput: Dull.\nClass label: Neutral\n"
    assert parse_output_first(cls) == [("Great film.", "Positive"), ("Dull.", "Negative"), ("", "Neutral")]


def test_parse_alpaca_tasks_drops_a_cut_last_task():
    text = (" Add the numbers.\n4. Input:\n2 and 3\n4. Output:\n5\n###\n5. Instruction: Name a colour.\n5. Input:\n"
            "<noinput>\n5. Output:\nRed\n###\n6. Instruction: Say hi.\n6. Input:")
    assert [t["instruction"] for t in alpaca.parse(text, 4, cut=False)] == ["Add the numbers.", "Name a colour."]
    assert [t["instruction"] for t in alpaca.parse(text, 4, cut=True)] == ["Add the numbers.", "Name a colour."]
    whole = text + "\n<noinput>\n6. Output:\nHi"
    assert len(alpaca.parse(whole, 4, cut=False)) == 3 and len(alpaca.parse(whole, 4, cut=True)) == 2


# --- the fast novelty filter against rouge-score ---------------------------------------------------------------

def tie_pairs(rng: random.Random) -> list[tuple[str, str]]:
    """Pairs whose F1 is exactly 0.7 on paper (2 lcs / (m + n) = 0.7): m + n = 20k, lcs = 7k."""
    pairs = []
    for m, n, lcs in [(10, 10, 7), (8, 12, 7), (9, 11, 7), (7, 13, 7), (20, 20, 14), (15, 25, 14), (14, 26, 14),
                      (30, 30, 21), (25, 35, 21)]:
        common = [f"w{rng.randrange(10**6)}" for _ in range(lcs)]
        b = common + [f"b{i}y" for i in range(n - lcs)]
        a = common[:]
        for i in range(m - lcs):  # extra words at random places: `common` stays the longest common subsequence
            a.insert(rng.randrange(len(a) + 1), f"a{i}x")
        pairs.append((" ".join(a), " ".join(b)))
    return pairs


def test_rouge_l_f1_is_bit_identical_on_generated_pairs_and_ties():
    rng = random.Random(0)
    pairs = [(sentence(rng), sentence(rng)) for _ in range(2000)] + tie_pairs(rng) * 3
    # near-copies too, so the scores spread up to 1
    pairs += [(s, s.replace(rng.choice(s.split()), rng.choice(NOUNS), 1)) for s in (sentence(rng) for _ in range(300))]
    index = NoveltyIndex()
    exact = [0, 0, 0]  # rouge-score's F1 below, at, above 0.7 among the rational ties
    for a, b in pairs:
        ta, tb = rouge_tokens(a), rouge_tokens(b)
        ref = _score_lcs(ta, tb).fmeasure
        sa, sb = index.encode(a), index.encode(b)
        from rapidfuzz.distance import LCSseq

        got = float(rouge_l_f1(np.array([LCSseq.similarity(sa, sb)]), np.array([len(ta)]), np.array([len(tb)]))[0])
        assert got == ref, (a, b)
        if len(ta) and 2 * LCSseq.similarity(sa, sb) * 10 == 7 * (len(ta) + len(tb)):
            exact[(ref > 0.7) - (ref < 0.7) + 1] += 1
    assert sum(exact) >= 9 and exact[2] > 0 and exact[1] > 0  # ties exist, and rounding sends some above 0.7


def near_copy_stream(rng: random.Random, seeds: list[str], n: int, fresh: float, edits: tuple[int, int]) -> list[str]:
    """n candidates: a new sentence with probability `fresh`, else a seed or an earlier candidate with a few words
    replaced (small edits land near the threshold)."""
    cands: list[str] = []
    for _ in range(n):
        s = sentence(rng) if rng.random() < fresh else rng.choice(seeds + cands or seeds)
        words = s.split()
        for _ in range(rng.randint(*edits)):
            words[rng.randrange(len(words))] = rng.choice(ADJS + NOUNS)
        cands.append(" ".join(words))
    return cands


@pytest.mark.parametrize("neighbours", [10, 0])
def test_novelty_decisions_identical_to_rouge_score_loop(neighbours):
    rng = random.Random(1)
    seeds = [sentence(rng) for _ in range(40)]
    cands = near_copy_stream(rng, seeds, 700, fresh=0.6, edits=(0, 3))
    for a, b in tie_pairs(rng):
        cands += [a, b]
    index = NoveltyIndex(neighbours=neighbours)
    index.add_many(seeds, seeds=True)
    got = []
    for i in range(0, len(cands), 7):  # batches, as requests deliver them
        got += [v.keep for v in index.check(cands[i : i + 7])]
    ref = reference_decisions(cands, seeds)
    assert got == ref
    assert 0 < sum(ref) < len(ref)


def test_novelty_early_exit_across_chunks_changes_no_decision_or_neighbour(monkeypatch):
    """Chunks of 5 pool items: rejected candidates leave the scan early, kept ones still see every pair; chunks
    scored in threads decide the same."""
    import instill.selfinstruct.novelty as novelty

    rng = random.Random(2)
    seeds = [sentence(rng) for _ in range(30)]
    cands = near_copy_stream(rng, seeds, 300, fresh=0.5, edits=(0, 2))

    def run(chunk, workers=1):
        monkeypatch.setattr(novelty, "_CHUNK", chunk)
        index = NoveltyIndex(neighbours=3, workers=workers)
        index.add_many(seeds, seeds=True)
        return [v for i in range(0, len(cands), 9) for v in index.check(cands[i : i + 9])]

    small, whole, threaded = run(5), run(10**6), run(5, workers=3)  # threads: 3 chunks at a time
    assert [v.keep for v in small] == [v.keep for v in whole] == reference_decisions(cands, seeds)
    assert [v.keep for v in threaded] == [v.keep for v in small]
    assert [v for v in threaded if v.keep] == [v for v in small if v.keep]
    kept = [(a, b) for a, b in zip(small, whole) if a.keep]
    assert kept and all(a == b for a, b in kept)  # neighbours, mean and seed max from complete rows
    rejected = [(a, b) for a, b in zip(small, whole) if not a.keep]
    assert rejected and all(0.7 < a.max_score <= b.max_score for a, b in rejected)
    assert any(a.max_score < b.max_score for a, b in rejected)  # some did stop before their best pair
    # reported scores are rouge-score's own, and the neighbours are the true top 3 (ties: the earlier item)
    pool, checked = list(seeds), 0
    for cand, v in zip(cands, small):
        if v.keep and len(pool) < 120:
            checked += 1
            ref = [_score_lcs(rouge_tokens(cand), rouge_tokens(p)).fmeasure for p in pool]
            best3 = sorted(range(len(pool)), key=lambda j: (-ref[j], j))[:3]
            assert v.neighbours == tuple((pool[j], ref[j]) for j in best3)
            assert v.max_score == max(ref) and v.max_seed_score == max(ref[: len(seeds)])
            assert v.mean_score == pytest.approx(sum(ref) / len(ref), abs=1e-12)
        if v.keep:
            pool.append(cand)
    assert checked == 120 - len(seeds)


def test_novelty_neighbours_and_tie_is_kept():
    index = NoveltyIndex(neighbours=2)
    index.add_many(["a b c d e f g h i j"], seeds=True)
    v = index.check(["a b c d e f g x y z", "a b c d e f g h i j k"])  # F1 0.7 kept; then 0.95 rejected
    assert [x.keep for x in v] == [True, False]
    assert v[0].max_score == _score_lcs(list("abcdefghij"), list("abcdefgxyz")).fmeasure <= 0.7
    assert v[0].neighbours[0] == ("a b c d e f g h i j", v[0].max_score) and v[0].max_seed_score == v[0].max_score
    assert len(index) == 2


# --- seeds ---------------------------------------------------------------------------------------------------

def test_seed_errors_name_file_and_line(tmp_path):
    p = tmp_path / "bad.jsonl"
    rows = seed_rows(2)
    rows[1]["is_classification"] = "no"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(InstillError, match=r"bad.jsonl:2: field 'is_classification'"):
        load_seeds(p)
    rows[1] = dict(seed_rows(1)[0])
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(InstillError, match=r"bad.jsonl:2: id 'seed_task_0' already used on line 1"):
        load_seeds(p)


PAPER_SEEDS = Path(__file__).resolve().parents[2] / "shared/data/selfinstruct/self_instruct_seed_tasks.jsonl"


@pytest.mark.skipif(not PAPER_SEEDS.is_file(), reason="the paper's seed file is not on this machine")
def test_the_papers_seed_file_loads():
    tasks = load_seeds(PAPER_SEEDS)
    assert len(tasks) == 175 and sum(t.is_classification for t in tasks) == 26


# --- the loop: store, determinism, resume ----------------------------------------------------------------------

def test_run_fills_the_target_and_every_task(tmp_path, seeds_file):
    cfg = make_cfg(tmp_path, seeds_file)
    counts = generate(cfg, ScriptedLLM(), progress=False)
    st = read_store(tmp_path / "out/store.jsonl")
    assert counts.kept == len(st.kept) == 30 and set(st.tasks) == {k["id"] for k in st.kept}
    rejected = {k for b in st.batches for k in b["rejected"]}
    assert {"bad_start", "too_short", "blacklist", "similar"} <= rejected
    seeds = [t.instruction for t in load_seeds(seeds_file)]
    assert reference_decisions([k["instruction"] for k in st.kept], seeds) == [True] * 30  # all pass the reference
    assert any(t["is_classification"] for t in st.tasks.values())
    for t in st.tasks.values():
        assert t["dropped"] or 1 <= len(t["instances"]) <= 5
    k = st.kept[-1]
    assert len(k["most_similar"]) == 10 and k["max_similarity"] == k["most_similar"][0][1] <= 0.7


def test_same_seed_same_store_and_resume_continues_exactly(tmp_path, seeds_file):
    whole = make_cfg(tmp_path / "a", seeds_file)
    generate(whole, ScriptedLLM(), progress=False)
    part = make_cfg(tmp_path / "b", seeds_file, max_requests=4)
    generate(part, ScriptedLLM(), progress=False)
    first, _ = stored_ids(tmp_path / "b/out")
    assert 0 < len(first) < 30
    generate(make_cfg(tmp_path / "b", seeds_file), ScriptedLLM(), progress=False)  # resume
    a, b = stored_ids(tmp_path / "a/out"), stored_ids(tmp_path / "b/out")
    assert a == b and b[0][: len(first)] == first
    llm = ScriptedLLM()
    generate(make_cfg(tmp_path / "b", seeds_file), llm, progress=False)  # already done: asks nothing
    assert llm.calls == 0 and stored_ids(tmp_path / "b/out") == b


def test_torn_last_line_is_cut_with_a_warning(tmp_path, seeds_file, caplog):
    generate(make_cfg(tmp_path, seeds_file, target=10), ScriptedLLM(), progress=False)
    store = tmp_path / "out/store.jsonl"
    before = stored_ids(tmp_path / "out")
    with open(store, "ab") as f:
        f.write(b'{"kind": "batch", "request": 99, "kept": [{"id"')
    generate(make_cfg(tmp_path, seeds_file, target=10), ScriptedLLM(), progress=False)
    assert "cut off mid-write" in caplog.text
    assert store.read_bytes().endswith(b"\n") and stored_ids(tmp_path / "out") == before


def test_resume_refuses_a_different_seed(tmp_path, seeds_file):
    generate(make_cfg(tmp_path, seeds_file, target=5), ScriptedLLM(), progress=False)
    with pytest.raises(InstillError, match="started with seed=0"):
        generate(make_cfg(tmp_path, seeds_file, target=5, seed=1), ScriptedLLM(), progress=False)


KILL_SCRIPT = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("t", {test!r})
t = importlib.util.module_from_spec(spec); spec.loader.exec_module(t)
from pathlib import Path
cfg = t.make_cfg(Path({tmp!r}), Path({seeds!r}), target=60)
t.generate(cfg, t.ScriptedLLM(delay_s=0.05), progress=False)
"""


def test_kill_9_mid_run_then_resume_loses_and_duplicates_nothing(tmp_path, seeds_file):
    whole = tmp_path / "whole"
    generate(make_cfg(whole, seeds_file, target=60), ScriptedLLM(), progress=False)
    run = tmp_path / "killed"
    run.mkdir()
    code = KILL_SCRIPT.format(test=__file__, tmp=str(run), seeds=str(seeds_file))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    store = run / "out/store.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not store.exists() or store.read_bytes().count(b"\n") < 15):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = read_store(store)
    assert 0 < len(before.kept) < 60, "the run should be killed mid-way"
    generate(make_cfg(run, seeds_file, target=60), ScriptedLLM(), progress=False)
    after = read_store(store)
    kept = [k["instruction"] for k in after.kept]
    assert kept[: len(before.kept)] == [k["instruction"] for k in before.kept]  # nothing lost
    assert len(kept) == len(set(kept)) == 60 and set(after.tasks) == {k["id"] for k in after.kept}  # no duplicates
    assert all(after.tasks[i] == t for i, t in before.tasks.items())
    assert stored_ids(run / "out") == stored_ids(whole / "out")  # and the same as an uninterrupted run


def test_alpaca_style_keeps_whole_tasks(tmp_path, seeds_file):
    cfg = make_cfg(tmp_path, seeds_file, style="alpaca", target=12)
    generate(cfg, ScriptedLLM(), progress=False)
    st = read_store(tmp_path / "out/store.jsonl")
    assert len(st.kept) == 12 and not st.tasks and all(k["output"] for k in st.kept)
    from instill.selfinstruct.export import export

    rows = json.loads(export(tmp_path / "out")["alpaca"].read_text())
    assert len(rows) == 12 and {"instruction", "input", "output"} == set(rows[0])


# --- against `instill serve` over real HTTP, through the CLI ------------------------------------------------------

def test_cli_run_against_instill_serve_with_a_tiny_random_model(tmp_path, seeds_file, cm, one_thread):
    """A random model writes junk: the run must end by max_requests with a valid store, all of the junk rejected
    by the filters, and the exports and stats still written."""
    from typer.testing import CliRunner

    from instill.cli import app
    from instill.serve import ServeSettings, create_app
    from instill.serve.server import ServerThread

    out = tmp_path / "run"
    with ServerThread(create_app(cm, ServeSettings(model_name="tiny", max_batch_size=4, max_wait_ms=5))) as url:
        args = ["selfinstruct", "generate", "--backend", "openai", "--base-url", url + "/v1", "--model", "tiny",
                "--seeds", str(seeds_file), "--target", "3", "--concurrency", "2", "--out", str(out), "--no-progress",
                "max_requests=4", "instructions.max_tokens=24", "instances.max_tokens=24",
                # the tiny model reads 256 tokens at most: short prompts
                "prompt_instructions=3", "prompts.classification_examples=[]", "prompts.input_first_exemplars=",
                "prompts.output_first_exemplars="]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        for api in ("chat",):  # a chat model is asked with one user turn
            r2 = CliRunner().invoke(app, [*args, "--api", api, "--out", str(tmp_path / api), "max_requests=2"])
            assert r2.exit_code == 0, r2.output
            assert read_store(tmp_path / api / "store.jsonl").batches
    st = read_store(out / "store.jsonl")
    # every request was made (max_requests=4) and every answer refused: the random model never ends its text within
    # 24 tokens, and a cut answer is dropped whole; not one junk instruction is kept
    assert len(st.batches) == 4 and st.kept == []
    assert all(b["generated"] >= 1 and b["rejected"] == {"cut_by_max_tokens": b["generated"]} for b in st.batches)
    assert (out / "pool.jsonl").exists() and (out / "conversations.jsonl").exists() and (out / "alpaca_data.json").exists()
    assert "requests" in result.output
    stats = CliRunner().invoke(app, ["selfinstruct", "stats", str(out)])
    assert stats.exit_code == 0 and (out / "stats/similarity.png").exists() and (out / "stats/verbs.png").exists()


def test_stats_and_export_on_a_scripted_run(tmp_path, seeds_file):
    from instill.selfinstruct.export import export
    from instill.selfinstruct.stats import compute_stats, summary

    generate(make_cfg(tmp_path, seeds_file), ScriptedLLM(), progress=False)
    s = compute_stats(tmp_path / "out")
    assert s["kept_instructions"] == 30 and s["classification_tasks"] > 0 and len(s["max_seed_similarity"]) == 30
    assert sum(s["leading_verbs"].values()) == 30 and "kept 30" in summary(s)
    paths = export(tmp_path / "out")
    pool = [json.loads(line) for line in paths["pool"].read_text().splitlines()]
    assert len(pool) == 30 and len(pool[0]["most_similar_instructions"]) == 10
    convs = [json.loads(line) for line in paths["conversations"].read_text().splitlines()]
    assert len(convs) == s["instances"] and convs[0]["messages"][-1]["loss"] is True


def test_cli_help_names_the_subcommands():
    from typer.testing import CliRunner

    from instill.cli import app

    out = CliRunner().invoke(app, ["selfinstruct", "--help"]).output
    assert "generate" in out and "stats" in out and "export" in out
    gen = CliRunner().invoke(app, ["selfinstruct", "generate", "--help"]).output
    assert "--target" in gen and "--style" in gen and "resume" in gen


def test_the_bundled_seeds_load_and_differ_from_each_other():
    tasks = load_seeds()  # the default, --seeds builtin
    assert len(tasks) == 175
    assert 0.10 <= sum(t.is_classification for t in tasks) / 175 <= 0.20  # about 15%, as the paper's 26
    verdicts = NoveltyIndex(neighbours=0).check([t.instruction for t in tasks])  # each against all before it
    assert all(v.keep for v in verdicts), [t.instruction for t, v in zip(tasks, verdicts) if not v.keep]


TAUGHT = ["Plan a picnic menu for six friends on a small budget.",
          "Explain how ocean tides work to a ten year old.",
          "Suggest three names for a bakery that sells only bread."]


def _model_that_writes_tasks(out: Path, seeds: list[str]) -> Path:
    """A tiny Llama trained here, in seconds, to continue any 3-instruction generation prompt with the three
    TAUGHT instructions and a blank line: a model that writes new tasks, so a run over HTTP keeps some."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from instill.modeling import train_tiny_tokenizer
    from instill.selfinstruct.prompts import instruction_prompt

    rng = random.Random(0)
    prompts = [instruction_prompt(rng.sample(seeds, 3)) for _ in range(48)]
    continuation = " " + "\n".join(f"{i}. {t}" if i > 4 else t for i, t in enumerate(TAUGHT, 4)) + "\n\n"
    tok = train_tiny_tokenizer(prompts + [continuation] * 8, vocab_size=500)
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=256, pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id, bos_token_id=None))
    target = tok(continuation, add_special_tokens=False)["input_ids"]
    rows = [tok(p)["input_ids"] for p in prompts]
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for step in range(150):
        batch = [rows[(step * 8 + j) % len(rows)] for j in range(8)]
        width = max(map(len, batch)) + len(target)
        ids = torch.full((8, width), tok.pad_token_id)
        labels = torch.full((8, width), -100)
        for j, p in enumerate(batch):  # right-padded: causal attention never looks at the padding
            ids[j, : len(p) + len(target)] = torch.tensor(p + target)
            labels[j, len(p) : len(p) + len(target)] = torch.tensor(target)
        loss = model(input_ids=ids, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05, loss.item()
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def test_cli_run_against_instill_serve_with_a_model_that_writes_tasks(tmp_path, seeds_file, one_thread):
    """Over real HTTP, the first request's three instructions are kept and get their instance step; a repeat of
    them is rejected by the novelty filter."""
    from typer.testing import CliRunner

    from instill.cli import app
    from instill.inference.chat_model import load_chat_model
    from instill.serve import ServeSettings, create_app
    from instill.serve.server import ServerThread

    seeds = [r["instruction"] for r in seed_rows()]
    served = load_chat_model(str(_model_that_writes_tasks(tmp_path / "model", seeds)))
    out = tmp_path / "run"
    with ServerThread(create_app(served, ServeSettings(model_name="writer", max_batch_size=4, max_wait_ms=5))) as url:
        result = CliRunner().invoke(app, [
            "selfinstruct", "generate", "--backend", "openai", "--base-url", url + "/v1", "--model", "writer",
            "--seeds", str(seeds_file), "--target", "10", "--concurrency", "2", "--out", str(out), "--no-progress",
            "max_requests=5", "prompt_instructions=3", "instructions.max_tokens=128", "instances.max_tokens=24",
            "prompts.classification_examples=[]", "prompts.input_first_exemplars=", "prompts.output_first_exemplars="])
    assert result.exit_code == 0, result.output
    st = read_store(out / "store.jsonl")
    assert len(st.batches) == 5
    assert [k["instruction"] for k in st.batches[0]["kept"]] == TAUGHT  # the first request's, all new
    # request 1's prompt, like request 0's, shows seeds only (concurrency 2: the pool as of request -1), so the
    # model writes the same three again, and the novelty filter rejects all three
    assert st.batches[1]["generated"] == 3 and st.batches[1]["rejected"] == {"similar": 3} and not st.batches[1]["kept"]
    kept = [k["instruction"] for k in st.kept]
    assert len(kept) == len(set(kept)) < 3 * 5 and all(k["max_similarity"] <= 0.7 for k in st.kept)
    assert all(len(k["most_similar"]) == 10 for k in st.kept)  # 12 seeds + earlier kept: 10 neighbours each
    assert set(st.tasks) == {k["id"] for k in st.kept}  # each kept instruction went through the instance step
    pool = [json.loads(x) for x in (out / "pool.jsonl").read_text().splitlines()]
    assert [p["instruction"] for p in pool] == kept


class DriesUp(ScriptedLLM):
    """Keeps instructions while a prompt lists seeds only; once machine-made instructions appear in the prompt,
    every reply is a copy of a seed (rejected as too similar), so the run ends by give_up_after. The reply still
    depends on the prompt alone: a resumed run is asked what an uninterrupted one was asked."""

    seeds = {r["instruction"] for r in seed_rows()}

    def _reply(self, prompt, params):
        listed = [line.split(". ", 1)[1] for line in prompt.splitlines() if line[:1].isdigit() and ". " in line]
        if prompt.startswith("Come up with") and any(x not in self.seeds for x in listed):
            return Completion(" " + next(iter(sorted(self.seeds))), "stop")
        return super()._reply(prompt, params)


def test_a_resumed_run_gives_up_where_a_whole_one_does_at_every_kill_point(tmp_path, seeds_file):
    whole = make_cfg(tmp_path / "whole", seeds_file, target=1000, give_up_after=4, concurrency=2)
    generate(whole, DriesUp(), progress=False)
    lines = (tmp_path / "whole/out/store.jsonl").read_text().splitlines(keepends=True)
    batches = [json.loads(x) for x in lines if json.loads(x).get("kind") == "batch"]
    assert any(b["kept"] for b in batches) and not any(b["kept"] for b in batches[-4:])  # it gave up
    expected = stored_ids(tmp_path / "whole/out")
    requests = len(batches)
    for k in range(1, len(lines)):  # a kill leaves a prefix of the append-only store: after every line in turn
        out = tmp_path / f"cut{k}"
        (out / "out").mkdir(parents=True)
        (out / "out/store.jsonl").write_text("".join(lines[:k]))
        generate(make_cfg(out, seeds_file, target=1000, give_up_after=4, concurrency=2), DriesUp(), progress=False)
        resumed = [json.loads(x) for x in (out / "out/store.jsonl").read_text().splitlines()]
        assert stored_ids(out / "out") == expected, k
        assert sum(r.get("kind") == "batch" for r in resumed) == requests, k  # no request past the give-up point


class KeyedServer:
    """A minimal OpenAI-compatible completions server that wants `Authorization: Bearer KEY` (401 otherwise, as
    `instill serve --api-key` answers) and replies as ScriptedLLM; it records the keys it was sent."""

    def __init__(self, key: str) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from instill.llm.base import SamplingParams

        seen = self.seen = []
        llm = ScriptedLLM()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                seen.append(self.headers.get("Authorization"))
                if self.headers.get("Authorization") != f"Bearer {key}":
                    return self._send(401, {"error": {"message": "invalid API key", "code": "invalid_api_key"}})
                c = llm._reply(body["prompt"], SamplingParams(seed=body.get("seed")))
                self._send(200, {"choices": [{"index": 0, "text": c.text, "finish_reason": c.finish_reason}]})

            def _send(self, status, obj):
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self):
        import threading

        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize("how", ["flag", "env"])
def test_selfinstruct_api_key_reaches_a_keyed_server_and_is_never_written(tmp_path, seeds_file, monkeypatch, how):
    """`--api-key` (or INSTILL_API_KEY, as `instill serve` reads it) is sent to the server, wins over the config's
    api_key_env (OPENAI_API_KEY), and appears in no file of the run folder."""
    from typer.testing import CliRunner

    from instill.cli import app

    key = "sk-instill-test-0123456789"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-some-other-service")
    monkeypatch.delenv("INSTILL_API_KEY", raising=False)
    out = tmp_path / "run"
    with KeyedServer(key) as server:
        args = ["selfinstruct", "generate", "--backend", "openai", "--base-url", server.url, "--model", "m",
                "--seeds", str(seeds_file), "--target", "5", "--concurrency", "2", "--out", str(out), "--no-progress"]
        result = CliRunner().invoke(app, [*args, "--api-key", key] if how == "flag" else args,
                                    env={"INSTILL_API_KEY": key} if how == "env" else None)
    assert result.exit_code == 0, result.output
    assert server.seen and set(server.seen) == {f"Bearer {key}"}
    assert read_store(out / "store.jsonl").kept
    files = [f for f in out.rglob("*") if f.is_file()]
    assert len(files) >= 4  # store, pool, conversations, alpaca data, stats
    assert not [f for f in files if key.encode() in f.read_bytes()]


def test_selfinstruct_without_the_key_of_a_keyed_server_is_a_401_error(tmp_path, seeds_file, monkeypatch):
    from typer.testing import CliRunner

    from instill.cli import app

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("INSTILL_API_KEY", raising=False)
    with KeyedServer("sk-right") as server:
        result = CliRunner().invoke(app, ["selfinstruct", "generate", "--backend", "openai", "--base-url", server.url,
                                          "--model", "m", "--seeds", str(seeds_file), "--target", "5",
                                          "--out", str(tmp_path / "run"), "--no-progress"])
    assert isinstance(result.exception, InstillError)
    assert "HTTP 401: invalid API key" in str(result.exception) and server.seen == [None] * len(server.seen)
