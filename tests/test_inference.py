"""Every door gives the same text for the same prompt and settings: `instill generate`, `instill chat`, the local
backend, evaluation by generation and the server all generate through one engine with one SamplingParams.

Each door is driven as a user drives it (the command line in-process, the eval runner, HTTP), loading the model
itself where the door does.
"""

from __future__ import annotations

import json
import shutil

import httpx
import pytest
from typer.testing import CliRunner

from instill.cli import app
from instill.config import EvalConfig
from instill.evaluate.items import EvalRow
from instill.evaluate.runner import evaluate_model
from instill.inference.chat_model import load_chat_model
from instill.inference.engine import generate
from instill.inference.sampling import SamplingParams
from instill.llm import load_backend
from instill.serve import ServeSettings, create_app
from instill.serve.server import ServerThread

ASK = "What is the capital of France?"
TOKENS = 12

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def cli(*args: str, input: str | None = None) -> str:
    res = CliRunner().invoke(app, list(args), input=input)
    assert res.exit_code == 0, (res.output, res.exception)
    return res.stdout


def cli_generate(model: str, *options: str) -> str:
    """`instill generate`'s streamed reply (the line it prints)."""
    return cli("generate", "--model", model, ASK, "--max-new-tokens", str(TOKENS), *options).removesuffix("\n")


def cli_chat(model: str, *options: str) -> str:
    """`instill chat`'s reply to one turn: what it prints after `bot> `, up to the next prompt."""
    out = cli("chat", "--model", model, "--max-new-tokens", str(TOKENS), *options, input=ASK + "\n/exit\n")
    return out.split("bot> ", 1)[1].rsplit("\nyou> ", 1)[0]


def served(model: str, body: dict) -> str:
    """The server's reply over HTTP, the model loaded as `instill serve` loads it."""
    with ServerThread(create_app(load_chat_model(model), ServeSettings(model_name="m"))) as url:
        r = httpx.post(url + "/v1/chat/completions", timeout=60,
                       json={"model": "m", "messages": [{"role": "user", "content": ASK}], **body})
    assert r.status_code == 200, r.text
    return r.json()["choices"][0]["message"]["content"]


def backend(model: str, params: SamplingParams) -> str:
    (completion,) = load_backend({"backend": "local", "model": model}).chat([[{"role": "user", "content": ASK}]],
                                                                            params)[0]
    return completion.text


def test_every_door_gives_the_same_greedy_text(tiny_llama_dir, tmp_path):
    model = str(tiny_llama_dir)
    cm = load_chat_model(model)
    text = generate(cm, cm.chat_ids([{"role": "user", "content": ASK}]), SamplingParams(max_tokens=TOKENS)).text
    assert text.strip()  # something to compare

    item = EvalRow("t", "c", [{"role": "user", "content": ASK}], ["Paris"], "Paris")
    evaluate_model(model, [item], EvalConfig(options="generate", max_new_tokens=TOKENS), tmp_path / "eval",
                   progress=False)
    (row,) = [json.loads(line) for line in (tmp_path / "eval" / "predictions.jsonl").read_text().splitlines()]

    assert cli_generate(model) == text
    assert cli_chat(model) == text
    assert backend(model, SamplingParams(max_tokens=TOKENS)) == text
    assert row["prediction"] == text.strip()  # evaluation scores the stripped answer
    assert served(model, {"max_tokens": TOKENS, "temperature": 0}) == text


def test_a_saved_top_k_changes_no_door_and_every_door_samples_alike(tiny_llama_dir, tmp_path):
    """A saved generation config with top_k=1 would make sampling greedy wherever it leaked in (transformers fills
    unset arguments from it). Under one seed, every door samples the same text, with or without that file, and it is
    not the greedy text."""
    plain = str(tiny_llama_dir)
    top1 = tmp_path / "top_k_1"
    shutil.copytree(tiny_llama_dir, top1)
    config = json.loads((top1 / "generation_config.json").read_text())
    (top1 / "generation_config.json").write_text(json.dumps({**config, "top_k": 1, "do_sample": True}))
    assert load_chat_model(str(top1)).model.generation_config.top_k == 1

    sampled = SamplingParams(max_tokens=TOKENS, temperature=1.0, seed=3)
    cm = load_chat_model(plain)
    ids = cm.chat_ids([{"role": "user", "content": ASK}])
    text = generate(cm, ids, sampled).text
    assert text != generate(cm, ids, SamplingParams(max_tokens=TOKENS)).text  # really sampled

    for model in (plain, str(top1)):
        assert cli_generate(model, "--temperature", "1.0", "--seed", "3") == text
        assert cli_chat(model, "--temperature", "1.0", "--seed", "3") == text
        assert backend(model, sampled) == text
        assert served(model, {"max_tokens": TOKENS, "temperature": 1.0, "seed": 3}) == text
