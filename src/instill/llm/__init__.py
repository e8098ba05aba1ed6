"""Language-model backends behind one protocol: `complete(prompts, params)` and `chat(conversations, params)`."""

from instill.llm.base import LLM, Completion, ChatTurn, SamplingParams
from instill.llm.load import LocalBackendConfig, OpenAIBackendConfig, load_backend, parse_backend_config

__all__ = ["LLM", "Completion", "ChatTurn", "SamplingParams", "LocalBackendConfig", "OpenAIBackendConfig",
           "load_backend", "parse_backend_config"]
