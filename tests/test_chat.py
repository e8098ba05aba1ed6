"""The terminal chat loop: history per turn, /reset, /exit, end of input, and the prompt built from the history."""

from __future__ import annotations

from io import StringIO

import pytest

import instill.chat
from instill.chat import HELP, chat_loop
from instill.generate import GenerationParams, load_chat_model

PARAMS = GenerationParams(max_new_tokens=4)


class Script:
    """A `read` function that answers with the given lines, then raises EOFError (Ctrl-D)."""

    def __init__(self, *lines: str) -> None:
        self.lines = list(lines)
        self.prompts: list[str] = []

    def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        if not self.lines:
            raise EOFError
        return self.lines.pop(0)


@pytest.fixture(scope="module")
def cm(tiny_llama_dir):
    return load_chat_model(str(tiny_llama_dir))


def run(cm, *lines: str, system: str = "") -> tuple[list[dict[str, str]], str, Script]:
    read, out = Script(*lines), StringIO()
    history = chat_loop(cm, PARAMS, system_prompt=system, read=read, out=out)
    return history, out.getvalue(), read


# --- with the tiny random model -----------------------------------------------------------------------------------


def test_history_grows_user_then_assistant_per_turn(cm):
    history, out, read = run(cm, "Hello there", "What is the capital of France?", system="Be brief.")
    assert [m["role"] for m in history] == ["system", "user", "assistant", "user", "assistant"]
    assert history[0]["content"] == "Be brief."
    assert [m["content"] for m in history if m["role"] == "user"] == ["Hello there", "What is the capital of France?"]
    replies = [m["content"] for m in history if m["role"] == "assistant"]
    assert all(isinstance(r, str) and r == r.strip() for r in replies)
    assert out.startswith(HELP)
    assert out.count("bot> ") == 2
    assert [segment.strip() for segment in out.split("bot> ")[1:]] == replies  # what was printed is what is kept
    assert read.prompts == ["you> "] * 3  # two turns, then end of input


def test_reset_clears_history_but_keeps_system_prompt(cm):
    history, out, _ = run(cm, "first question", "/reset", "second question", system="Be brief.")
    assert "(history cleared)" in out
    assert [m["role"] for m in history] == ["system", "user", "assistant"]
    assert history[0] == {"role": "system", "content": "Be brief."}
    assert history[1] == {"role": "user", "content": "second question"}
    assert out.count("bot> ") == 2


def test_reset_without_system_prompt_empties_history(cm):
    history, out, _ = run(cm, "first question", "/reset")
    assert history == []
    assert "(history cleared)" in out


def test_exit_stops_without_reading_further(cm):
    history, out, read = run(cm, "hi", "/exit", "never sent")
    assert [m["role"] for m in history] == ["user", "assistant"]
    assert read.lines == ["never sent"]
    assert out.count("bot> ") == 1


def test_end_of_input_stops(cm):
    history, out, read = run(cm, "hi")
    assert [m["content"] for m in history if m["role"] == "user"] == ["hi"]
    assert read.lines == [] and len(read.prompts) == 2
    assert out.endswith("\n")


def test_exit_and_eof_at_once_give_empty_history(cm):
    assert run(cm, "/exit")[0] == []
    history, out, _ = run(cm)
    assert history == [] and out.count("bot> ") == 0


def test_blank_lines_are_ignored(cm):
    history, out, read = run(cm, "", "   ", "\t", "  hi  ", "")
    assert [m["role"] for m in history] == ["user", "assistant"]
    assert history[0]["content"] == "hi"  # stripped
    assert out.count("bot> ") == 1
    assert len(read.prompts) == 6  # every line was read, only one was sent


# --- the prompt sent each turn (no model) -------------------------------------------------------------------------


@pytest.fixture
def fake_stream(monkeypatch):
    """Replace the model: record the messages each turn is asked with, answer with fixed text in pieces."""
    calls: list[list[dict[str, str]]] = []

    def stream(cm, messages, params):
        calls.append([dict(m) for m in messages])  # a copy: the loop keeps appending to its history
        assert params is PARAMS
        yield f" reply {len(calls)}"
        yield "."
        yield "  "

    monkeypatch.setattr(instill.chat, "stream", stream)
    return calls


def test_second_turn_prompt_is_built_from_the_history(fake_stream):
    history, out, _ = run(None, "What is 2+2?", "And 3+3?", system="You are terse.")
    assert fake_stream == [
        [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "What is 2+2?"}],
        [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "What is 2+2?"},
         {"role": "assistant", "content": "reply 1."}, {"role": "user", "content": "And 3+3?"}],
    ]
    assert history == fake_stream[1] + [{"role": "assistant", "content": "reply 2."}]
    assert "bot>  reply 1.  \n" in out  # pieces are printed as they come


def test_prompt_after_reset_starts_over(fake_stream):
    run(None, "one", "/reset", "two", "three")
    assert fake_stream[1] == [{"role": "user", "content": "two"}]
    assert fake_stream[2] == [{"role": "user", "content": "two"}, {"role": "assistant", "content": "reply 2."},
                              {"role": "user", "content": "three"}]
