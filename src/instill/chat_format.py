"""How a conversation becomes text: the chat template and the end-of-turn marker.

The tokenizer's own chat template is used when it has one; otherwise a clear built-in default. The end-of-turn
text closes every assistant turn: it carries loss (so the model learns to stop) and generation stops on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from instill.errors import InstillError
from instill.files import read_utf8

# Alpaca-style plain text: needs no new tokens, so it works with any base model's tokenizer. The bos token (when the
# tokenizer has one) starts the text, as base models saw in pre-training; the eos token ends each response, which is
# what the model learns to emit.
DEFAULT_TEMPLATE = (
    "{{- bos_token or '' -}}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'system' -%}{{ message['content'] + '\n\n' }}"
    "{%- elif message['role'] == 'user' -%}{{ '### Instruction:\n' + message['content'] + '\n\n' }}"
    "{%- else -%}{{ '### Response:\n' + message['content'] + eos_token + '\n\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '### Response:\n' }}{%- endif -%}"
)

# ChatML, for tokenizers instill trains itself (the tiny default model): a real template with its own turn tokens.
CHATML_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\n' }}{%- endif -%}"
)

# Gemma's turn format, for Gemma base models whose GGUF carries no template: its vocabulary has the turn tokens
# (<start_of_turn> 105, <end_of_turn> 106), the assistant's role is "model", a system message opens the first user
# turn. Contents are written as they are (no trimming), so a response's text is exactly what the model learns.
GEMMA_TEMPLATE = (
    "{{- bos_token -}}"
    "{%- set ns = namespace(system='') -%}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'system' -%}{%- set ns.system = message['content'] + '\n\n' -%}"
    "{%- else -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else 'user' -%}"
    "{{ '<start_of_turn>' + role + '\n' + (ns.system if role == 'user' else '') + message['content'] "
    "+ '<end_of_turn>\n' }}"
    "{%- if role == 'user' -%}{%- set ns.system = '' -%}{%- endif -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"
)


@dataclass(frozen=True)
class ChatFormat:
    """A chat template and the text that ends an assistant turn."""

    template: str
    end_of_turn: str

    def render(self, tokenizer: Any, messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
        """The text the model sees for `messages`; a template that refuses them (roles must alternate, ...) is a
        user-facing error."""
        from jinja2 import TemplateError

        try:
            return tokenizer.apply_chat_template(
                messages, chat_template=self.template, tokenize=False, add_generation_prompt=add_generation_prompt
            )
        except TemplateError as e:
            raise InstillError(f"the chat template refused this conversation: {e}") from None

    def end_of_turn_id(self, tokenizer: Any) -> int | None:
        """The token id of the end-of-turn text, when it is a single token (generation stops on it)."""
        ids = tokenizer(self.end_of_turn, add_special_tokens=False)["input_ids"]
        return ids[0] if len(ids) == 1 else None


def chat_format_for(tokenizer: Any, template: str = "auto", end_of_turn: str | None = None) -> ChatFormat:
    """Pick the chat format for a tokenizer.

    Args:
        template: "auto" (the tokenizer's template when it has one, else the built-in default), "tokenizer"
            (its template or an error), "default" (the built-in one), or the path of a Jinja file.
        end_of_turn: the text that closes an assistant turn; None means the tokenizer's eos token.
    """
    own = getattr(tokenizer, "chat_template", None)
    if isinstance(own, dict):  # several named templates: the "default" one is the chat template
        own = own.get("default")
    if template == "auto":
        text = own or DEFAULT_TEMPLATE
    elif template == "tokenizer":
        if not own:
            raise InstillError("chat.template=tokenizer, but the tokenizer has no chat template; use chat.template=auto")
        text = own
    elif template == "default":
        text = DEFAULT_TEMPLATE
    else:
        path = Path(template)
        if not path.is_file():
            raise InstillError(f"chat.template: no such file '{template}' (or use auto, tokenizer, default)")
        text = read_utf8(path, "chat template")
        _check_syntax(tokenizer, text, path)
    eot = end_of_turn if end_of_turn is not None else tokenizer.eos_token
    if not eot:
        raise InstillError("the tokenizer has no eos token; set chat.end_of_turn to the text that ends a response")
    return ChatFormat(template=text, end_of_turn=eot)


def _check_syntax(tokenizer: Any, text: str, path: Path) -> None:
    """A template file that is not valid Jinja is one error naming the file and line, when it is chosen (not as a
    refusal of the first conversation it renders). Compiled as transformers compiles it, by rendering a probe."""
    from jinja2 import TemplateError, TemplateSyntaxError

    try:
        tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], chat_template=text, tokenize=False)
    except TemplateSyntaxError as e:
        raise InstillError(f"{path}:{e.lineno}: chat.template: not a valid Jinja template: {e.message}") from None
    except TemplateError:  # the template refuses the probe (raise_exception): its syntax is fine
        pass
