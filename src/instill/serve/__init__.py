"""The OpenAI-compatible server (`instill serve`): FastAPI app, batching worker, uvicorn runner."""

from instill.serve.app import ServeSettings, create_app
from instill.serve.batcher import Batcher

__all__ = ["Batcher", "ServeSettings", "create_app"]
