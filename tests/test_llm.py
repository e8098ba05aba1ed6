"""The LLM backends: sampling params, the batched engine's per-row stops and penalties, the local backend against
single-sequence generation, the openai backend's retries and errors against small fake servers, load_backend."""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch

from instill.errors import InstillError
from instill.inference.chat_model import load_chat_model
from instill.inference.engine import Row, RowText, _Penalties, generate, generate_rows
from instill.llm import LocalBackendConfig, SamplingParams, load_backend, parse_backend_config
from instill.llm.base import Completion
from instill.llm.local import LocalBackend
from instill.llm.openai import OpenAIBackend, backoff_delay

CONVS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "user", "content": "Add 2 and 3."}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Reverse the words: red green blue."}],
    [{"role": "user", "content": "hi"}],
    [{"role": "user", "content": "Is this sentence positive or negative? The food was great. Hello there."}],
]


pytestmark = pytest.mark.usefixtures("one_thread")  # fixtures one_thread and cm: conftest.py


# --- sampling params ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, message", [
    ({"max_tokens": -1}, "max_tokens must be at least 1"),
    ({"temperature": -0.5}, "temperature must be in [0, 2]"),
    ({"top_p": 0}, "top_p must be in (0, 1]"),
    ({"n": 0}, "n must be at least 1"),
    ({"stop": ("ok", "")}, "stop texts must not be empty"),
    ({"presence_penalty": 3}, "presence_penalty must be in [-2, 2]"),
])
def test_bad_sampling_params_name_the_field(kwargs, message):
    with pytest.raises(InstillError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        SamplingParams(**kwargs)


def test_stop_given_as_a_string_or_list_becomes_a_tuple():
    assert SamplingParams(stop="###").stop == ("###",)
    assert SamplingParams(stop=["a", "b"]).stop == ("a", "b")
    hash(SamplingParams(stop=["a"]))  # hashable: used to group requests


# --- one row's text: stops, limits, what a stream may see ---------------------------------------------------------


class PieceTokenizer:
    """Token id i decodes to PIECES[i]; id 0 is the end-of-turn token (special: decodes to nothing)."""

    PIECES = ["", "Par", "is", " is", " <", "/s", ">", " nice", "\xe2"]

    def decode(self, ids, skip_special_tokens=True, clean_up_tokenization_spaces=False):
        return "".join(self.PIECES[i] for i in ids)


def feed(tokens, max_tokens=10, stops=()):
    pieces: list[str] = []
    state = RowText(PieceTokenizer(), Row([7, 7], SamplingParams(max_tokens), on_text=pieces.append), {0}, stops)
    for t in tokens:
        state.push(t)
    return state.result(), pieces


def test_stop_text_split_over_tokens_is_never_streamed():
    result, pieces = feed([1, 2, 4, 5, 6, 7], stops=("</s>",))
    assert (result.text, result.finish_reason) == ("Paris ", "stop")
    assert "".join(pieces) == "Paris "  # the stream saw exactly the final text ...
    assert not any("<" in p for p in pieces)  # ... and never the start of the stop text
    assert result.completion_tokens == 5 and result.prompt_tokens == 2


def test_stop_token_ends_the_row_and_tokens_after_it_are_ignored():
    result, pieces = feed([1, 2, 0, 3, 3])
    assert (result.text, result.finish_reason, result.completion_tokens) == ("Paris", "stop", 3)
    assert "".join(pieces) == "Paris"


def test_token_limit_ends_the_row_with_length():
    result, pieces = feed([1, 3, 3, 3], max_tokens=3)
    assert (result.text, result.finish_reason, result.completion_tokens) == ("Par is is", "length", 3)
    assert "".join(pieces) == "Par is is"


def test_text_is_released_as_it_comes_without_stops():
    _, pieces = feed([1, 2, 3, 7])
    assert pieces == ["Par", "is", " is", " nice"]


def test_characters_split_over_tokens_are_released_whole(bpe_tokenizer):
    """Byte-level BPE spells an unseen character in several byte tokens: no half character may be streamed."""
    text = "Paris café ☕ naïve"
    ids = bpe_tokenizer(text, add_special_tokens=False)["input_ids"]
    assert len(ids) > len(text.split())  # the accents and the cup are several tokens each
    pieces: list[str] = []
    state = RowText(bpe_tokenizer, Row([1], SamplingParams(100), on_text=pieces.append), set(), ())
    for i in ids:
        state.push(i)
    assert state.result().text == text and "".join(pieces) == text
    assert not any("\ufffd" in p for p in pieces)


# --- the batched engine on a real (tiny, random) model -------------------------------------------------------------


def test_local_backend_batch_equals_one_at_a_time_generate(cm):
    """Left padding must not change anything: each batched greedy reply is the single-sequence reply."""
    got = LocalBackend(cm, max_batch_size=8).chat(CONVS, SamplingParams(max_tokens=8))
    for conv, (completion,) in zip(CONVS, got):
        assert completion.text == generate(cm, cm.chat_ids(conv), SamplingParams(max_tokens=8)).text
        assert completion.finish_reason in ("stop", "length")


def test_batch_size_does_not_change_greedy_results(cm):
    params = SamplingParams(max_tokens=6)
    assert LocalBackend(cm, 2).chat(CONVS, params) == LocalBackend(cm, 5).chat(CONVS, params)
    prompts = ["Hello there", "The capital of", "Add 2 and 3. The answer"]
    assert LocalBackend(cm, 1).complete(prompts, params) == LocalBackend(cm, 3).complete(prompts, params)


def test_n_completions_per_prompt_and_seeded_sampling_repeats(cm):
    params = SamplingParams(max_tokens=5, temperature=1.0, n=3, seed=7)
    first = LocalBackend(cm).complete(["Hello there", "Add 2"], params)
    assert [len(c) for c in first] == [3, 3]
    assert all(isinstance(c, Completion) for cs in first for c in cs)
    assert LocalBackend(cm).complete(["Hello there", "Add 2"], params) == first


def test_rows_with_different_limits_share_a_batch(cm):
    rows = [Row(cm.chat_ids(c), SamplingParams(limit)) for c, limit in zip(CONVS, [1, 3, 5, 7, 9])]
    out = generate_rows(cm, rows)
    for g, limit in zip(out, [1, 3, 5, 7, 9]):
        assert g.completion_tokens <= limit
        assert g.finish_reason == "stop" or g.completion_tokens == limit


def test_a_cancelled_row_stops_while_the_others_go_on(cm):
    ids, params = cm.chat_ids(CONVS[0]), SamplingParams(8)
    out = generate_rows(cm, [Row(ids, params, cancelled=lambda: True), Row(ids, params)])
    assert out[0].completion_tokens == 1
    assert out[1].completion_tokens == 8 or out[1].finish_reason == "stop"


def test_penalties_follow_openai_definition():
    """logit -= frequency * count + presence * (count > 0), counting generated tokens only."""
    proc = _Penalties(presence=[0.5, 0.0], frequency=[1.0, 2.0], device=torch.device("cpu"))
    prompt = torch.tensor([[3, 3], [4, 4]])
    assert torch.equal(proc(prompt, torch.zeros(2, 6)), torch.zeros(2, 6))  # nothing generated yet
    grown = torch.tensor([[3, 3, 1, 1, 2], [4, 4, 5, 4, 4]])  # row 0 generated 1, 1, 2; row 1 generated 5, 4, 4
    assert proc(grown, torch.zeros(2, 6)).tolist() == [
        [0.0, -2.5, -1.5, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, -4.0, -2.0],
    ]


def test_frequency_penalty_changes_what_a_greedy_model_repeats(tiny_llama_dir):
    """fp32: the random model repeats a token before its end of turn. In bf16 (`auto` on a CPU with AMX) its sixth
    token ties with the end of turn, which wins: 6 distinct tokens, nothing for a penalty to change."""
    cm = load_chat_model(str(tiny_llama_dir), precision="fp32")
    prompt = ["Hello there"]
    plain = LocalBackend(cm).complete(prompt, SamplingParams(max_tokens=20))[0][0].text
    penalized = LocalBackend(cm).complete(prompt, SamplingParams(max_tokens=20, frequency_penalty=2.0))[0][0].text
    assert plain != penalized


def test_stop_texts_apply_per_row_in_one_batch(cm):
    base = LocalBackend(cm).complete(["Hello there", "Add 2"], SamplingParams(max_tokens=12))
    texts = [c[0].text for c in base]
    stop = texts[0][3:5]
    cut = LocalBackend(cm).complete(["Hello there", "Add 2"], SamplingParams(max_tokens=12, stop=(stop,)))
    assert cut[0][0] == Completion(texts[0][: texts[0].find(stop)], "stop")
    if stop not in texts[1]:
        assert cut[1][0] == base[1][0]


def test_seq2seq_model_answers_chats(tiny_t5_dir):
    backend = LocalBackend(load_chat_model(str(tiny_t5_dir)), max_batch_size=4)
    out = backend.chat(CONVS[:3], SamplingParams(max_tokens=4, n=2))
    assert [len(c) for c in out] == [2, 2, 2]
    assert all(c.finish_reason in ("stop", "length") for cs in out for c in cs)


# --- load_backend -------------------------------------------------------------------------------------------------


def test_load_backend_local(tiny_llama_dir):
    backend = load_backend({"backend": "local", "model": str(tiny_llama_dir), "max_batch_size": 3})
    assert isinstance(backend, LocalBackend) and backend.max_batch_size == 3
    assert len(backend.chat(CONVS[:1], SamplingParams(max_tokens=2))[0]) == 1


def test_load_backend_openai_reads_the_key_from_the_named_variable(monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-123")
    backend = load_backend({"backend": "openai", "base_url": "http://127.0.0.1:1/v1", "model": "m",
                            "api_key_env": "MY_KEY"})
    try:
        assert backend.client.headers["authorization"] == "Bearer sk-123"
    finally:
        backend.close()
    monkeypatch.delenv("MY_KEY")
    keyless = load_backend({"backend": "openai", "base_url": "http://127.0.0.1:1/v1", "model": "m",
                            "api_key_env": "MY_KEY"})
    assert "authorization" not in keyless.client.headers
    keyless.close()


@pytest.mark.parametrize("spec, message", [
    ({"backend": "vllm", "model": "m"}, "backend"),
    ({"backend": "openai", "base_url": "http://x/v1"}, "model: Field required"),
    ({"backend": "local", "model": "m", "max_batch_size": 0}, "max_batch_size"),
    ({"backend": "local", "model": "m", "batch": 4}, "batch: Extra inputs are not permitted"),
])
def test_bad_backend_config_is_one_line_error(spec, message):
    with pytest.raises(InstillError, match=message):
        parse_backend_config(spec)


def test_backend_config_is_validated_on_construction():
    assert LocalBackendConfig(backend="local", model="m").chat_template == "auto"


# --- the openai backend against fake servers: retries, errors -----------------------------------------------------


def chat_answer(text: str, n: int = 1) -> dict:
    return {"choices": [{"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                        for i in range(n)]}


class FakeServer:
    """Answers POSTs from a script of (status, body, headers) and records each request body; the last entry
    repeats. A body that is a number means: sleep that long before answering 200."""

    def __init__(self, script: list) -> None:
        self.script, self.requests = list(script), []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                owner.requests.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                status, body, headers = owner.script.pop(0) if len(owner.script) > 1 else owner.script[0]
                if isinstance(body, (int, float)):
                    time.sleep(body)
                    body = chat_answer("late")
                data = json.dumps(body).encode()
                self.send_response(status)
                for k, v in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> "FakeServer":
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def backend(url: str, **kw) -> OpenAIBackend:
    return OpenAIBackend(url, "m", "sk-x", backoff_s=0.001, max_backoff_s=0.01, **kw)


UNAVAILABLE = (503, {"error": {"message": "overloaded"}}, {})


def test_503_twice_then_200_succeeds_after_retries():
    with FakeServer([UNAVAILABLE, UNAVAILABLE, (200, chat_answer("hello"), {})]) as fake:
        out = backend(fake.url, max_retries=3).chat([[{"role": "user", "content": "hi"}]], SamplingParams())
    assert out == [[Completion("hello", "stop")]]
    assert len(fake.requests) == 3
    assert fake.requests[0]["messages"] == [{"role": "user", "content": "hi"}] and fake.requests[0]["model"] == "m"


def test_429_with_retry_after_is_retried():
    with FakeServer([(429, {"error": {"message": "slow down"}}, {"Retry-After": "0"}),
                     (200, chat_answer("ok"), {})]) as fake:
        assert backend(fake.url).chat([[{"role": "user", "content": "hi"}]], SamplingParams())[0][0].text == "ok"
    assert len(fake.requests) == 2


def test_5xx_until_retries_run_out_is_a_clear_error():
    with FakeServer([UNAVAILABLE]) as fake:
        with pytest.raises(InstillError, match=r"failed after 3 attempts; last: HTTP 503: overloaded"):
            backend(fake.url, max_retries=2).complete(["x"], SamplingParams())
    assert len(fake.requests) == 3


def test_4xx_stops_at_once_with_the_servers_message():
    refusal = (400, {"error": {"message": "max_tokens is too large", "type": "invalid_request_error"}}, {})
    with FakeServer([refusal]) as fake:
        with pytest.raises(InstillError, match=r"was refused: HTTP 400: max_tokens is too large"):
            backend(fake.url).complete(["x"], SamplingParams())
    assert len(fake.requests) == 1


def test_closed_port_fails_after_its_retries():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(InstillError, match=rf"127.0.0.1:{port}/v1/chat/completions failed after 3 attempts; "
                                           r"last: ConnectError"):
        backend(f"http://127.0.0.1:{port}/v1", max_retries=2).chat([[{"role": "user", "content": "hi"}]],
                                                                   SamplingParams())


def test_timeout_is_retried_then_reported():
    with FakeServer([(200, 0.5, {})]) as fake:  # answers too late, every time
        with pytest.raises(InstillError, match="failed after 2 attempts; last: ReadTimeout"):
            backend(fake.url, max_retries=1, timeout_s=0.1).complete(["x"], SamplingParams())
    assert len(fake.requests) == 2


def test_fewer_choices_than_asked_is_an_error():
    with FakeServer([(200, chat_answer("one"), {})]) as fake:
        with pytest.raises(InstillError, match="asked for n=2 choices, the server returned 1"):
            backend(fake.url).chat([[{"role": "user", "content": "hi"}]], SamplingParams(n=2))


def test_requests_carry_the_sampling_params_and_keep_order():
    with FakeServer([(200, chat_answer("same"), {})]) as fake:
        params = SamplingParams(max_tokens=7, temperature=0.7, top_p=0.5, stop=("\n\n",), presence_penalty=2,
                                seed=3)
        out = backend(fake.url, max_concurrency=4).chat([[{"role": "user", "content": str(i)}] for i in range(10)],
                                                        params)
    assert len(out) == 10
    assert sorted(r["messages"][0]["content"] for r in fake.requests) == [str(i) for i in range(10)]
    assert {k: fake.requests[0][k] for k in ("max_tokens", "temperature", "top_p", "stop", "presence_penalty",
                                            "seed", "n")} == {"max_tokens": 7, "temperature": 0.7, "top_p": 0.5,
                                                              "stop": ["\n\n"], "presence_penalty": 2, "seed": 3,
                                                              "n": 1}
    assert "frequency_penalty" not in fake.requests[0]  # zero penalties are left out, for servers that lack them


def test_backoff_grows_and_is_jittered_within_bounds():
    rng = random.Random(0)
    for attempt, ceiling in [(0, 0.5), (1, 1.0), (2, 2.0), (6, 30.0), (10, 30.0)]:
        delays = [backoff_delay(attempt, 0.5, 30.0, rng) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1
