"""`instill serve` over real HTTP: a tiny random model on a free loopback port, asked with the official `openai`
client, instill's own `openai` backend and raw httpx; errors, auth, queue bound, timeout, concurrency and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

from instill.inference.engine import generate
from instill.llm import SamplingParams
from instill.llm.local import LocalBackend
from instill.llm.openai import OpenAIBackend
from instill.serve import Batcher, ServeSettings, create_app
from instill.serve.server import ServerThread
from instill.tokenize import encode_prompt

KEY = "sk-test-key"
NAME = "tiny"
HELLO = [{"role": "user", "content": "What is the capital of France?"}]


pytestmark = pytest.mark.usefixtures("one_thread")  # fixtures one_thread and cm: conftest.py


@pytest.fixture(scope="module")
def server(cm):
    """The batched server (8 sequences per batch, 20 ms wait) with an API key; yields its /v1 URL."""
    settings = ServeSettings(model_name=NAME, api_key=KEY, max_batch_size=8, max_wait_ms=20, timeout_s=60)
    app = create_app(cm, settings)
    with ServerThread(app) as url:
        yield url + "/v1", app


@pytest.fixture(scope="module")
def url(server):
    return server[0]


@pytest.fixture(scope="module")
def client(url):
    return openai.OpenAI(base_url=url, api_key=KEY, max_retries=0)


def post(url: str, path: str, body: object, key: str | None = KEY, raw: bytes | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if raw is not None:
        return httpx.post(url + path, content=raw, headers={**headers, "Content-Type": "application/json"})
    return httpx.post(url + path, json=body, headers=headers, timeout=60)


# --- the official client ------------------------------------------------------------------------------------------


def test_models_lists_the_served_name(client):
    assert [m.id for m in client.models.list().data] == [NAME]


def test_chat_completion_is_the_reply_generate_gives(client, cm):
    r = client.chat.completions.create(model=NAME, messages=HELLO, max_tokens=8, temperature=0)
    expected = generate(cm, cm.chat_ids(HELLO), SamplingParams(max_tokens=8)).text  # the single-sequence path
    assert r.choices[0].message.content == expected
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].finish_reason in ("stop", "length")
    assert r.object == "chat.completion" and r.model == NAME and r.id.startswith("chatcmpl-")
    assert r.usage.prompt_tokens == len(encode_prompt(cm.tokenizer, cm.fmt, HELLO))  # encoded as in training
    assert 1 <= r.usage.completion_tokens <= 8
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_completion_continues_plain_text(client, cm):
    prompt = "The capital of France is"
    r = client.completions.create(model=NAME, prompt=prompt, max_tokens=6, temperature=0)
    local = LocalBackend(cm).complete([prompt], SamplingParams(max_tokens=6))[0][0]
    assert r.choices[0].text == local.text
    assert r.choices[0].finish_reason == local.finish_reason
    assert r.usage.prompt_tokens == len(cm.raw_ids(prompt))


def test_completion_takes_several_prompts_and_n(client):
    r = client.completions.create(model=NAME, prompt=["Add 2 and 3.", "Hello there"], n=2, max_tokens=3,
                                  temperature=1.0, seed=1)
    assert [c.index for c in r.choices] == [0, 1, 2, 3]  # prompt-major, as OpenAI orders them
    assert all(isinstance(c.text, str) for c in r.choices)
    assert r.usage.completion_tokens <= 12


def test_chat_stream_arrives_in_pieces_and_adds_up(client):
    whole = client.chat.completions.create(model=NAME, messages=HELLO, max_tokens=12, temperature=0)
    chunks = list(client.chat.completions.create(model=NAME, messages=HELLO, max_tokens=12, temperature=0,
                                                 stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) > 1  # streamed, not one blob
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == [whole.choices[0].finish_reason]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == whole.usage.completion_tokens


def test_completion_stream(client):
    whole = client.completions.create(model=NAME, prompt="Hello there", max_tokens=10, temperature=0)
    pieces = list(client.completions.create(model=NAME, prompt="Hello there", max_tokens=10, temperature=0,
                                            stream=True))
    assert "".join(p.choices[0].text for p in pieces) == whole.choices[0].text


def test_stop_text_cuts_the_reply_whole_and_streamed(client):
    full = client.completions.create(model=NAME, prompt="Reverse the words", max_tokens=16, temperature=0)
    text = full.choices[0].text
    stop = text[4:6]  # two characters from inside the greedy continuation
    cut = text[: text.find(stop)]
    r = client.completions.create(model=NAME, prompt="Reverse the words", max_tokens=16, temperature=0, stop=[stop])
    assert (r.choices[0].text, r.choices[0].finish_reason) == (cut, "stop")
    streamed = client.completions.create(model=NAME, prompt="Reverse the words", max_tokens=16, temperature=0,
                                         stop=stop, stream=True)
    assert "".join(p.choices[0].text for p in streamed) == cut


def test_client_errors_are_the_clients_exceptions(client):
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client.chat.completions.create(model="gpt-9", messages=HELLO, max_tokens=2)
    with pytest.raises(openai.BadRequestError, match="max_tokens"):
        client.chat.completions.create(model=NAME, messages=HELLO, max_tokens=-1)
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=client.base_url, api_key="wrong", max_retries=0).models.list()


# --- instill's openai backend against instill serve ---------------------------------------------------------------


def test_openai_backend_gets_what_the_local_backend_gets(url, cm):
    convs = [HELLO, [{"role": "user", "content": "Add 2 and 3."}], [{"role": "system", "content": "Be brief."},
                                                                     {"role": "user", "content": "Hello there"}]]
    params = SamplingParams(max_tokens=6)
    remote = OpenAIBackend(url, NAME, KEY, max_concurrency=3)
    try:
        assert remote.chat(convs, params) == LocalBackend(cm).chat(convs, params)
        assert remote.complete(["Hello there"], params) == LocalBackend(cm).complete(["Hello there"], params)
        assert "".join(remote.stream_chat(HELLO, params)) == remote.chat([HELLO], params)[0][0].text
        assert remote.models() == [NAME]
    finally:
        remote.close()


def test_a_dropped_stream_stops_generating(server):
    url, app = server
    batcher = app.state.batcher
    body = {"model": NAME, "prompt": "What is the capital", "max_tokens": 240, "temperature": 0}
    assert post(url, "/completions", body).json()["usage"]["completion_tokens"] == 240  # runs to the limit ...
    calls, tokens = batcher.generate_calls, batcher.tokens
    with httpx.stream("POST", url + "/completions", json={**body, "stream": True},
                      headers={"Authorization": f"Bearer {KEY}"}) as r:
        assert next(r.iter_lines()).startswith("data: ")  # the first piece came: generation is under way
    while batcher.generate_calls == calls:  # the batch ends ...
        time.sleep(0.01)
    assert batcher.tokens - tokens < 240  # ... before the limit: nobody was reading


# --- concurrency --------------------------------------------------------------------------------------------------


def test_64_concurrent_requests_are_batched_and_answered_right(server, cm):
    url, app = server
    before = app.state.batcher.generate_calls
    convs = [[{"role": "user", "content": f"Add {i} and {i % 7}. " + "Hello there " * (i % 5)}] for i in range(64)]

    def ask(conv):
        return post(url, "/chat/completions", {"model": NAME, "messages": conv, "max_tokens": 4, "temperature": 0})

    with ThreadPoolExecutor(64) as pool:
        answers = list(pool.map(ask, convs))
    assert [a.status_code for a in answers] == [200] * 64
    expected = LocalBackend(cm, max_batch_size=64).chat(convs, SamplingParams(max_tokens=4))
    assert [a.json()["choices"][0]["message"]["content"] for a in answers] == [e[0].text for e in expected]
    health = httpx.get(url.removesuffix("/v1") + "/health").json()
    assert health["status"] == "ok" and health["queued"] == 0
    calls = health["generate_calls"] - before
    assert calls < 64, "every request ran alone: nothing was batched"


# --- request errors: status and OpenAI-shaped body ----------------------------------------------------------------


def assert_error(r: httpx.Response, status: int, param: str | None = None, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["message"]
    if param is not None:
        assert err["param"] == param
    if code is not None:
        assert err["code"] == code
    return err


def test_malformed_json_is_400(url):
    err = assert_error(post(url, "/chat/completions", None, raw=b'{"model": "tiny", "messages": ['), 400,
                       code="invalid_json")
    assert "JSON" in err["message"]


def test_body_that_is_not_a_json_object_is_400(url):
    err = assert_error(post(url, "/chat/completions", ["not", "an", "object"]), 400)
    assert "JSON object" in err["message"]
    form = httpx.post(url + "/completions", content=b"model=tiny", headers={"Authorization": f"Bearer {KEY}",
                      "Content-Type": "application/x-www-form-urlencoded"})
    assert "Content-Type: application/json" in assert_error(form, 400)["message"]


def test_missing_field_is_400_naming_it(url):
    err = assert_error(post(url, "/chat/completions", {"model": NAME}), 400, param="messages",
                       code="missing_required_parameter")
    assert "messages" in err["message"]


def test_negative_max_tokens_is_400(url):
    assert_error(post(url, "/completions", {"model": NAME, "prompt": "hi", "max_tokens": -3}), 400,
                 param="max_tokens")


def test_unknown_model_is_404(url):
    err = assert_error(post(url, "/chat/completions", {"model": "gpt-9", "messages": HELLO}), 404, param="model",
                       code="model_not_found")
    assert "gpt-9" in err["message"]


@pytest.mark.parametrize("key", ["wrong-key", None])
def test_wrong_or_missing_api_key_is_401(url, key):
    assert_error(post(url, "/chat/completions", {"model": NAME, "messages": HELLO}, key=key), 401,
                 code="invalid_api_key")
    assert_error(httpx.get(url + "/models", headers={"Authorization": "Bearer x"}), 401)


@pytest.mark.parametrize("messages, says", [
    ([{"role": "assistant", "content": "Hello"}], "nothing to answer"),
    ([{"role": "user", "content": None}], "not null"),
    ([{"role": "system", "content": None}, {"role": "user", "content": "Hi"}], "not null"),
])
def test_chat_messages_a_model_cannot_answer_are_400_naming_messages(url, messages, says):
    err = assert_error(post(url, "/chat/completions", {"model": NAME, "messages": messages}), 400, param="messages")
    assert says in err["message"]


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_the_authorization_scheme_is_case_insensitive(url, scheme):
    r = httpx.get(url + "/models", headers={"Authorization": f"{scheme} {KEY}"})
    assert r.status_code == 200, r.text
    assert_error(httpx.get(url + "/models", headers={"Authorization": f"Basic {KEY}"}), 401)  # another scheme


def test_health_needs_no_key(url):
    r = httpx.get(url.removesuffix("/v1") + "/health")
    assert r.status_code == 200 and r.json()["status"] == "ok" and r.json()["model"] == NAME


@pytest.mark.parametrize("body, param", [
    ({"model": NAME, "prompt": "hi", "logprobs": 2}, "logprobs"),
    ({"model": NAME, "prompt": "hi", "echo": True}, "echo"),
    ({"model": NAME, "prompt": "hi", "temperature": 3}, "temperature"),
    ({"model": NAME, "prompt": "hi", "n": 0}, "n"),
    ({"model": NAME, "prompt": ""}, "prompt"),
    ({"model": NAME, "prompt": "hi", "max_tokens": 10_000}, "max_tokens"),  # past the 256-token context
])
def test_bad_completion_values_are_400(url, body, param):
    err = assert_error(post(url, "/completions", body), 400, param=param)
    assert param in err["message"] or "prompt is empty" in err["message"]


def test_unsupported_chat_fields_are_refused_by_name(client):
    with pytest.raises(openai.BadRequestError, match="'tools' is not supported"):
        client.chat.completions.create(model=NAME, messages=HELLO, max_tokens=2, tools=[
            {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}])


def test_bad_chat_values_are_400(url):
    assert_error(post(url, "/chat/completions", {"model": NAME, "messages": []}), 400, param="messages")
    tool = {"model": NAME, "messages": [{"role": "tool", "content": "x"}]}
    assert_error(post(url, "/chat/completions", tool), 400, param="messages")


def test_unknown_route_is_a_json_404(url):
    assert_error(post(url, "/embeddings", {"model": NAME, "input": "x"}), 404)


# --- queue bound and timeout (a server whose worker is not running) -----------------------------------------------


def test_full_queue_is_429_and_a_stuck_request_times_out_with_504(cm):
    """The worker never starts, so one request fills the queue (max_queue=1): the next is refused at once, and the
    first gives up after the request timeout."""
    settings = ServeSettings(model_name=NAME, max_queue=1, timeout_s=1.0)
    stopped = Batcher(cm, settings)  # not started
    with ServerThread(create_app(cm, settings, batcher=stopped)) as base:
        body = {"model": NAME, "messages": HELLO, "max_tokens": 2}
        first: list[httpx.Response] = []
        waiter = threading.Thread(target=lambda: first.append(post(base + "/v1", "/chat/completions", body)))
        waiter.start()
        while stopped.queued < 1:
            time.sleep(0.01)
        busy = post(base + "/v1", "/chat/completions", body)
        assert_error(busy, 429, code="queue_full")
        assert busy.headers["retry-after"] == "1"
        waiter.join(30)
        assert_error(first[0], 504, code="timeout")
        assert httpx.get(base + "/health").status_code == 503  # and health says the worker is not running


# --- the batching worker alone (the model replaced by a recorder) -------------------------------------------------


@pytest.fixture
def recorded(monkeypatch):
    """Replace generation: record each call's (sampling, prompts) and answer each row with its first prompt id."""
    import instill.serve.batcher as batcher_module
    from instill.inference.engine import Generated

    calls: list[tuple] = []

    def fake(cm, rows):
        calls.append((rows[0].params, [r.prompt[0] for r in rows]))
        if any(r.prompt[0] < 0 for r in rows):
            raise RuntimeError("boom")
        return [Generated(str(r.prompt[0]), "length", 1, r.params.max_tokens) for r in rows]

    monkeypatch.setattr(batcher_module, "generate_rows", fake)
    return calls


def run_jobs(specs, max_batch_size):
    """Queue every job first, then start the worker: what it gathers is then fixed, not a matter of timing."""
    from instill.inference.engine import Row
    from instill.serve.batcher import Job

    batcher = Batcher(None, ServeSettings(model_name=NAME, max_batch_size=max_batch_size, max_wait_ms=0.0))
    results: dict[int, object] = {}
    done = threading.Event()
    jobs = []
    for k, (ids, temperature, seed) in enumerate(specs):
        def on_done(res, k=k):
            results[k] = res
            if len(results) == sum(not j.cancelled for j in jobs):
                done.set()
        params = SamplingParams(max_tokens=2, temperature=temperature, seed=seed)
        jobs.append(Job([Row([i], params) for i in ids], on_done))
    return batcher, jobs, results, done


def test_worker_groups_by_sampling_and_seeded_sampling_runs_alone(recorded):
    specs = [([1], 0, None), ([2], 0.7, None), ([3], 0, 5), ([4], 0.7, None), ([5], 0.7, 9), ([6], 0, None)]
    batcher, jobs, results, done = run_jobs(specs, max_batch_size=16)
    for job in jobs:
        batcher.submit(job)
    batcher.start()
    assert done.wait(10)
    batcher.stop()
    assert sorted(prompts for _, prompts in recorded) == [[1, 3, 6], [2, 4], [5]]  # greedy seed 5 is just greedy
    assert [[g.text for g in results[k]] for k in range(6)] == [["1"], ["2"], ["3"], ["4"], ["5"], ["6"]]
    assert batcher.generate_calls == 3 and batcher.sequences == 6 and batcher.tokens == 12


def test_worker_never_exceeds_the_batch_size(recorded):
    specs = [([1, 2, 3], 0, None), ([4, 5, 6], 0, None), ([7, 8, 9, 10, 11, 12, 13, 14, 15, 16], 0, None)]
    batcher, jobs, results, done = run_jobs(specs, max_batch_size=4)
    for job in jobs:
        batcher.submit(job)
    batcher.start()
    assert done.wait(10)
    batcher.stop()
    assert [prompts for _, prompts in recorded] == [[1, 2, 3], [4, 5, 6], [7, 8, 9, 10], [11, 12, 13, 14], [15, 16]]
    assert [g.text for g in results[2]] == [str(i) for i in range(7, 17)]


def test_worker_skips_cancelled_jobs_and_survives_a_failed_batch(recorded):
    specs = [([1], 0, None), ([-1], 0.5, None), ([2], 0, None)]
    batcher, jobs, results, done = run_jobs(specs, max_batch_size=16)
    jobs[2].cancel()
    for job in jobs:
        batcher.submit(job)
    batcher.start()
    assert done.wait(10)
    assert isinstance(results[1], RuntimeError) and [g.text for g in results[0]] == ["1"]
    assert 2 not in results and [p for _, p in recorded] == [[1], [-1]]  # the cancelled job never ran
    assert batcher.alive
    batcher.stop()


# --- the command line ---------------------------------------------------------------------------------------------


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "INSTILL_API_KEY")}
    env.update(COLUMNS="200", NO_COLOR="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return env


def test_instill_serve_command_serves_until_interrupted(tiny_llama_dir):
    proc = subprocess.Popen(
        [sys.executable, "-m", "instill.cli", "serve", "--model", str(tiny_llama_dir), "--port", "0", "--name", NAME,
         "--max-batch-size", "4", "--no-access-log", "--threads", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**cli_env(), "INSTILL_API_KEY": KEY},
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith(f"instill serve: '{NAME}' at http://127.0.0.1:"), line + proc.stderr.read()
        base = line.split(" at ")[1].strip()
        while httpx.get(base.removesuffix("/v1") + "/health").status_code != 200:
            time.sleep(0.05)
        r = post(base, "/chat/completions", {"model": NAME, "messages": HELLO, "max_tokens": 3})
        assert r.status_code == 200 and r.json()["choices"][0]["message"]["role"] == "assistant"
        assert post(base, "/chat/completions", {"model": NAME, "messages": HELLO}, key=None).status_code == 401
    finally:
        proc.send_signal(2)  # Ctrl-C
        proc.wait(30)
    err = proc.stderr.read()
    assert proc.returncode in (0, 130) and "Traceback" not in err, err  # 130: ended by SIGINT, as shells expect
    assert "Finished server process" in err  # a graceful shutdown


@pytest.mark.parametrize("args, message", [
    (["--model", "{tmp}/nope"], "error: model path '{tmp}/nope' does not exist"),
    (["--model", "{tmp}", "--threads", "0"], "error: --threads must be positive (got 0)"),
])
def test_instill_serve_bad_input_is_one_line_error(tmp_path, args, message):
    args = [a.format(tmp=tmp_path) for a in args]
    res = subprocess.run([sys.executable, "-m", "instill.cli", "serve", *args],
                         capture_output=True, text=True, env=cli_env(), timeout=120)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines() == [message.format(tmp=tmp_path)]


def test_instill_chat_talks_to_a_server(url, client):
    expected = client.chat.completions.create(model=NAME, messages=HELLO, max_tokens=5, temperature=0)
    res = subprocess.run(
        [sys.executable, "-m", "instill.cli", "chat", "--base-url", url, "--max-new-tokens", "5"],
        input=HELLO[0]["content"] + "\n/exit\n", capture_output=True, text=True,
        env={**cli_env(), "INSTILL_API_KEY": KEY}, timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert "bot> " + expected.choices[0].message.content + "\n" in res.stdout


def test_instill_chat_against_a_closed_port_is_one_line_error():
    res = subprocess.run(
        [sys.executable, "-m", "instill.cli", "chat", "--base-url", "http://127.0.0.1:9/v1"],
        input="hi\n", capture_output=True, text=True, env=cli_env(), timeout=120,
    )
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: GET http://127.0.0.1:9/v1/models")


def test_a_body_past_the_limit_is_413_at_once_and_the_server_goes_on(cm):
    settings = ServeSettings(model_name=NAME, max_body_mb=0.01)  # 10 KB
    with ServerThread(create_app(cm, settings)) as root:
        big = {"model": NAME, "prompt": "x " * 20000}
        err = assert_error(httpx.post(root + "/v1/completions", json=big, timeout=30), 413, code="request_too_large")
        assert "--max-body-mb" in err["message"]

        def chunks():  # no Content-Length: the limit is counted as the body streams in
            for _ in range(40):
                yield b" " * 1024

        r = httpx.post(root + "/v1/completions", content=chunks(), headers={"Content-Type": "application/json"},
                       timeout=30)
        assert_error(r, 413, code="request_too_large")
        ok = httpx.post(root + "/v1/completions", json={"model": NAME, "prompt": "Hi", "max_tokens": 2}, timeout=30)
        assert ok.status_code == 200, ok.text


def test_tokenizing_a_prompt_does_not_hold_up_the_event_loop(cm, monkeypatch):
    import threading

    started, release = threading.Event(), threading.Event()
    real = type(cm).chat_ids

    def slow(cm_, messages):  # a prompt that takes long to tokenize (a huge one, say)
        started.set()
        release.wait(30)
        return real(cm_, messages)

    monkeypatch.setattr(type(cm), "chat_ids", slow)
    with ServerThread(create_app(cm, ServeSettings(model_name=NAME))) as root:
        result = {}
        t = threading.Thread(target=lambda: result.update(r=httpx.post(
            root + "/v1/chat/completions", json={"model": NAME, "messages": HELLO, "max_tokens": 2}, timeout=60)))
        t.start()
        assert started.wait(30)
        health = httpx.get(root + "/health", timeout=10)  # answered while the prompt is still being tokenized
        assert health.status_code == 200 and not release.is_set()
        release.set()
        t.join(60)
        assert result["r"].status_code == 200


# --- a request fuzzer: whatever shape a client sends, the answer is 200 or 4xx, never 5xx ----------------------------

FUZZ_VALUES = [None, True, 0, 1, 2, -1, 3.5, 1e12, "", "x", "Hi", [], ["a", ""], [1, 2], [[1], [2, 3]], {}, {"a": 1},
               [{"type": "text", "text": "Hi"}], [{"type": "image_url"}]]
FUZZ_FIELDS = {
    "/chat/completions": ["messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "n", "stop",
                          "presence_penalty", "frequency_penalty", "seed", "stream", "stream_options", "logit_bias",
                          "logprobs", "tools", "response_format", "extra_field"],
    "/completions": ["prompt", "max_tokens", "temperature", "top_p", "n", "stop", "presence_penalty",
                     "frequency_penalty", "seed", "stream", "stream_options", "echo", "logprobs", "best_of", "suffix"],
}


def fuzz_message(rng):
    """A chat message of a random shape: sometimes valid, often not."""
    msg = {"role": rng.choice(["user", "assistant", "system", "developer", "tool", None, 3]),
           "content": rng.choice(FUZZ_VALUES)}
    if rng.random() < 0.2:
        msg.pop(rng.choice(["role", "content"]))
    return msg if rng.random() < 0.9 else rng.choice(FUZZ_VALUES)


def fuzz_body(rng, path):
    """A request body with the required field mostly present and random values for random optional fields, the
    token count kept small when it is a valid number so every accepted request stays fast."""
    body = {"model": NAME if rng.random() < 0.9 else rng.choice(FUZZ_VALUES)}
    if path == "/chat/completions":
        body["messages"] = [fuzz_message(rng) for _ in range(rng.randint(0, 3))] if rng.random() < 0.85 else \
            rng.choice(FUZZ_VALUES)
    else:
        body["prompt"] = rng.choice(FUZZ_VALUES)
    for field in rng.sample(FUZZ_FIELDS[path][1:] if path == "/chat/completions" else FUZZ_FIELDS[path][1:],
                            rng.randint(0, 4)):
        body[field] = rng.choice(FUZZ_VALUES)
    for field in ("max_tokens", "max_completion_tokens", "n"):
        if isinstance(body.get(field), (int, float)) and not isinstance(body[field], bool) and body[field] > 3:
            body[field] = 3
    body.setdefault("max_tokens", 3)
    return body


def test_a_request_fuzzer_gets_200_or_4xx_never_5xx(url):
    import random

    rng = random.Random(0)
    seen: dict[int, int] = {}
    for i in range(200):
        path = rng.choice(list(FUZZ_FIELDS))
        body = fuzz_body(rng, path)
        resp = post(url, path, body)
        seen[resp.status_code] = seen.get(resp.status_code, 0) + 1
        assert resp.status_code < 500, (i, path, body, resp.text[:300])
        if resp.status_code >= 400:
            assert "error" in resp.json(), (i, body, resp.text[:300])
    assert seen.get(200, 0) >= 5 and sum(n for s, n in seen.items() if 400 <= s < 500) >= 150, seen  # seeded: 8 and 192
