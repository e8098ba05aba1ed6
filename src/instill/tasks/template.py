"""Templates: one phrasing of a task as a Jinja (prompt, target) pair, rendered in a sandbox.

Task cards come from users' files, so templates render in jinja2's immutable sandbox: attribute tricks such as
`''.__class__.__mro__` raise instead of reaching Python. Undefined names are errors (StrictUndefined), and the
names a template uses are checked against the task's fields when the card loads, not when a mixture is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Mapping

import jinja2
from jinja2 import meta
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from instill.errors import InstillError

SEPARATOR = "|||"  # promptsource's split between prompt and target in a one-string template
PROVIDED = frozenset({"options"})  # names the formatter supplies, not the instance

_ENV = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False)


@dataclass(frozen=True)
class Template:
    """A (prompt, target) Jinja pair. `inverted` marks a template that turns the task around (asks for the premise,
    the question...): its target is not the task's answer, so it is trained on but never used to score the task."""

    prompt: str
    target: str
    inverted: bool = False
    name: str = ""
    _compiled: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def parse(cls, spec: Any, name: str = "") -> "Template":
        """From a card entry: `"prompt ||| target"`, or a mapping with `prompt`, `target` and optional `inverted`.

        >>> Template.parse("Add {{a}} and {{b}}. ||| {{answer}}").target
        '{{answer}}'
        """
        if isinstance(spec, str):
            if spec.count(SEPARATOR) != 1:
                raise InstillError(f"a one-string template needs exactly one '{SEPARATOR}' between prompt and target")
            prompt, target = (part.strip() for part in spec.split(SEPARATOR))
            return cls(prompt=prompt, target=target, name=name)
        if isinstance(spec, Mapping):
            unknown = set(spec) - {"prompt", "target", "inverted", "name"}
            if unknown:
                raise InstillError(f"unknown template key(s): {', '.join(sorted(unknown))} "
                                   "(expected prompt, target, inverted, name)")
            for key in ("prompt", "target"):
                if not isinstance(spec.get(key), str) or not spec[key].strip():
                    raise InstillError(f"template needs a non-empty string '{key}'")
            inverted = spec.get("inverted", False)
            if not isinstance(inverted, bool):
                raise InstillError(f"'inverted' must be true or false, got {inverted!r}")
            return cls(prompt=spec["prompt"].strip(), target=spec["target"].strip(), inverted=inverted,
                       name=str(spec.get("name", name)))
        raise InstillError(f"a template is a 'prompt ||| target' string or a mapping, got {type(spec).__name__}")

    def _template(self, part: str) -> jinja2.Template:
        if part not in self._compiled:
            try:
                self._compiled[part] = _ENV.from_string(getattr(self, part))
            except jinja2.TemplateSyntaxError as e:
                raise InstillError(f"{part}: Jinja syntax error on line {e.lineno}: {e.message}") from None
        return self._compiled[part]

    @cached_property
    def names(self) -> frozenset[str]:
        """Every variable the prompt and target read (fields of the instance, plus `options`)."""
        found: set[str] = set()
        for part in ("prompt", "target"):
            self._template(part)  # syntax errors first, with their line
            found |= meta.find_undeclared_variables(_ENV.parse(getattr(self, part)))
        return frozenset(found)

    @property
    def shows_options(self) -> bool:
        return "options" in self.names

    def check_fields(self, fields: set[str] | frozenset[str]) -> None:
        """Fail, naming the field, when the template reads a name the task does not have."""
        missing = sorted(self.names - set(fields) - PROVIDED)
        if missing:
            known = ", ".join(sorted(fields)) or "none"
            raise InstillError(f"uses field '{missing[0]}', which the task does not have (fields: {known})")

    def render(self, instance: Mapping[str, Any], options: str | None = None) -> tuple[str, str]:
        """(prompt, target) for one instance; `options` is the rendered option block, when the task has options."""
        context = dict(instance)
        if options is not None:
            context["options"] = options
        out = []
        for part in ("prompt", "target"):
            try:
                text = self._template(part).render(context)
            except SecurityError as e:
                raise InstillError(f"{part}: blocked by the template sandbox: {e}") from None
            except jinja2.UndefinedError as e:
                raise InstillError(f"{part}: {e.message}") from None
            except jinja2.TemplateError as e:
                raise InstillError(f"{part}: {e}") from None
            out.append(text.strip())
        return out[0], out[1]
