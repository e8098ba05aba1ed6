"""The terminal chat loop: history per turn, /reset, /exit, end of input, and the prompt built from the history."""

from __future__ import annotations

from io import StringIO

import pytest

from instill.chat import HELP, chat_loop, local_reply
from instill.inference.chat_model import load_chat_model
from instill.inference.sampling import SamplingParams

PARAMS = SamplingParams(max_tokens=4)


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


def run(reply, *lines: str, system: str = "") -> tuple[list[dict[str, str]], str, Script]:
    """Chat with `reply` (a ChatModel: the local model's replies) through the given input lines."""
    read, out = Script(*lines), StringIO()
    reply = reply if callable(reply) else local_reply(reply, PARAMS)
    history = chat_loop(reply, system_prompt=system, read=read, out=out)
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


class FakeReply:
    """Instead of a model: record the messages each turn is asked with, answer with fixed text in pieces."""

    def __init__(self) -> None:
        self.calls: list[list[dict[str, str]]] = []

    def __call__(self, messages, on_text) -> None:
        self.calls.append([dict(m) for m in messages])  # a copy: the loop keeps appending to its history
        for piece in (f" reply {len(self.calls)}", ".", "  "):
            on_text(piece)


def test_second_turn_prompt_is_built_from_the_history():
    fake = FakeReply()
    history, out, _ = run(fake, "What is 2+2?", "And 3+3?", system="You are terse.")
    calls = fake.calls
    assert calls == [
        [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "What is 2+2?"}],
        [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "What is 2+2?"},
         {"role": "assistant", "content": "reply 1."}, {"role": "user", "content": "And 3+3?"}],
    ]
    assert history == calls[1] + [{"role": "assistant", "content": "reply 2."}]
    assert "bot>  reply 1.  \n" in out  # pieces are printed as they come


def test_prompt_after_reset_starts_over():
    fake = FakeReply()
    run(fake, "one", "/reset", "two", "three")
    calls = fake.calls
    assert calls[1] == [{"role": "user", "content": "two"}]
    assert calls[2] == [{"role": "user", "content": "two"}, {"role": "assistant", "content": "reply 2."},
                              {"role": "user", "content": "three"}]
