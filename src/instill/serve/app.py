"""The OpenAI-compatible HTTP API: /v1/models, /v1/completions, /v1/chat/completions (streamed or not), /health.

Requests are validated here and turned into rows for the batching worker (`Batcher`); answers and errors have the
OpenAI shapes, so the official client and tools built on it work unchanged. Validation errors are 400 (OpenAI's own
status for a bad request; FastAPI's default 422 is not what OpenAI clients are written against).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from instill.errors import InstillError
from instill.inference.chat_model import ChatModel
from instill.inference.engine import Generated, Row
from instill.serve.batcher import Batcher, Job, QueueFull
from instill.serve.schema import (
    APIError, ChatCompletionRequest, CompletionRequest, _Common, chat_body, chunk, completion_body, usage,
)
from instill.serve.settings import ServeSettings

log = logging.getLogger(__name__)


def create_app(cm: ChatModel, settings: ServeSettings, batcher: Batcher | None = None) -> FastAPI:
    """The app. It starts and stops its own batching worker unless given one (tests pass a stopped one)."""
    own = batcher is None
    batcher = batcher or Batcher(cm, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if own:
            batcher.start()
        yield
        if own:
            batcher.stop()

    app = FastAPI(title="instill", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.batcher = batcher
    _add_error_handlers(app)
    if settings.api_key:
        app.add_middleware(_RequireKey, key=settings.api_key)
    app.add_middleware(_BodyLimit, limit=int(settings.max_body_mb * 2**20))  # added last: it runs first
    api = _Api(cm, settings, batcher)

    @app.get("/health")
    async def health() -> JSONResponse:
        body = {"status": "ok" if batcher.alive else "down", "model": settings.model_name, "queued": batcher.queued,
                "generate_calls": batcher.generate_calls, "sequences": batcher.sequences,
                "tokens": batcher.tokens}
        return JSONResponse(body, status_code=200 if batcher.alive else 503)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": settings.model_name, "object": "model", "created": api.created,
                                            "owned_by": "instill"}]}

    @app.post("/v1/completions")
    async def completions(req: CompletionRequest) -> Any:
        return await api.completions(req)

    @app.post("/v1/chat/completions")
    async def chat_completions(req: ChatCompletionRequest) -> Any:
        return await api.chat(req)

    return app


class _Api:
    """The two generating endpoints: validate, build rows, queue, answer (whole or streamed)."""

    def __init__(self, cm: ChatModel, settings: ServeSettings, batcher: Batcher) -> None:
        self.cm, self.settings, self.batcher = cm, settings, batcher
        self.created = int(time.time())
        self.context = None if cm.is_seq2seq else getattr(cm.model.config, "max_position_embeddings", None)
        # prompts are tokenized here, off the event loop (a long prompt never holds up other requests), one at a
        # time (a fast tokenizer shared by threads can refuse concurrent use)
        self.tokenizing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tokenize")

    async def _off_loop(self, fn: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.tokenizing, fn)

    async def completions(self, req: CompletionRequest) -> Any:
        self._check_model(req.model)
        req.refuse_unsupported()
        prompts = req.prompts()
        if not prompts:
            raise APIError(400, "prompt must not be empty", param="prompt")
        ids = await self._off_loop(lambda: [self._raw_ids(p) for p in prompts])
        rows = self._rows(req, ids, req.max_tokens, 16)
        return await self._answer(req, rows, chat=False, rid=f"cmpl-{uuid.uuid4().hex}")

    async def chat(self, req: ChatCompletionRequest) -> Any:
        self._check_model(req.model)
        req.refuse_unsupported()
        try:
            ids = await self._off_loop(lambda: self.cm.chat_ids([m.as_dict() for m in req.messages]))
        except InstillError as e:  # e.g. the template wants alternating roles
            raise APIError(400, str(e), param="messages") from None
        rows = self._rows(req, [ids], req.token_limit(), self.settings.default_max_tokens)
        return await self._answer(req, rows, chat=True, rid=f"chatcmpl-{uuid.uuid4().hex}")

    def _check_model(self, name: str) -> None:
        if name != self.settings.model_name:
            raise APIError(404, f"The model '{name}' does not exist; this server has '{self.settings.model_name}'",
                           param="model", code="model_not_found")

    def _raw_ids(self, prompt: str | list[int]) -> list[int]:
        if isinstance(prompt, str):
            ids = self.cm.raw_ids(prompt)
        else:
            ids = list(prompt)
            if any(not 0 <= i < len(self.cm.tokenizer) for i in ids):
                raise APIError(400, f"token ids must be in [0, {len(self.cm.tokenizer)})", param="prompt")
        if not ids:
            raise APIError(400, "a prompt is empty: there is nothing to continue", param="prompt")
        return ids

    def _rows(self, req: _Common, prompts: list[list[int]], asked: int | None, default: int) -> list[Row]:
        rows = []
        for ids in prompts:
            limit = asked or default
            if self.context is not None:
                room = self.context - len(ids)
                if room < 1 or (asked is not None and asked > room):
                    raise APIError(400, f"This model's maximum context length is {self.context} tokens; the prompt "
                                   f"has {len(ids)} and max_tokens asks for {limit}", param="max_tokens",
                                   code="context_length_exceeded")
                limit = min(limit, room)
            rows += [Row(ids, req.sampling(limit)) for _ in range(req.n)]
        return rows

    def _job(self, req: _Common, rows: list[Row], on_done: Any) -> Job:
        job = Job(rows, on_done)
        try:
            self.batcher.submit(job)
        except QueueFull:
            raise APIError(429, "The server is busy: too many requests are waiting; retry shortly",
                           type="rate_limit_error", code="queue_full", headers={"Retry-After": "1"}) from None
        return job

    async def _answer(self, req: _Common, rows: list[Row], chat: bool, rid: str) -> Any:
        if req.stream:
            return self._stream(req, rows, chat, rid)
        loop = asyncio.get_running_loop()
        done: asyncio.Future = loop.create_future()
        job = self._job(req, rows, lambda res: loop.call_soon_threadsafe(_settle, done, res))
        try:
            results = await asyncio.wait_for(done, self.settings.timeout_s)
        except asyncio.TimeoutError:
            job.cancel()
            raise APIError(504, f"The request took longer than the server's timeout of {self.settings.timeout_s:g} s",
                           type="timeout", code="timeout") from None
        if isinstance(results, BaseException):
            raise results
        body = chat_body if chat else completion_body
        return body(rid, int(time.time()), self.settings.model_name, results, req.n)

    def _stream(self, req: _Common, rows: list[Row], chat: bool, rid: str) -> StreamingResponse:
        """Server-sent events: text reaches the client as the worker makes it (one event per released piece)."""
        loop = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()
        for i, row in enumerate(rows):
            row.on_text = lambda piece, i=i: loop.call_soon_threadsafe(events.put_nowait, (i, piece))
        job = self._job(req, rows, lambda res: loop.call_soon_threadsafe(events.put_nowait, (None, res)))
        deadline = loop.time() + self.settings.timeout_s
        created, model = int(time.time()), self.settings.model_name

        async def sse() -> AsyncIterator[str]:
            try:
                if chat:
                    for i in range(len(rows)):
                        yield _sse(chunk(rid, created, model, True, i, None, role=True))
                while True:
                    i, item = await asyncio.wait_for(events.get(), max(0.0, deadline - loop.time()))
                    if i is not None:
                        yield _sse(chunk(rid, created, model, chat, i, item))
                        continue
                    if isinstance(item, BaseException):
                        yield _sse(_internal(item).body())
                        return
                    for k, g in enumerate(item):
                        yield _sse(chunk(rid, created, model, chat, k, None, finish=g.finish_reason))
                    if req.include_usage():
                        yield _sse({"id": rid, "object": "chat.completion.chunk" if chat else "text_completion",
                                    "created": created, "model": model, "choices": [], "usage": usage(item, req.n)})
                    yield "data: [DONE]\n\n"
                    return
            except asyncio.TimeoutError:  # the status line is long gone: say it in the stream
                yield _sse(APIError(504, "The request took longer than the server's timeout", type="timeout",
                                    code="timeout").body())
            finally:  # also on client disconnect: stop generating for nobody
                job.cancel()

        return StreamingResponse(sse(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


def _settle(fut: asyncio.Future, result: list[Generated] | BaseException) -> None:
    if not fut.done():  # a timed-out request's future is already cancelled
        fut.set_result(result)


def _sse(obj: dict[str, Any]) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"


def _internal(e: BaseException) -> APIError:
    return APIError(500, f"generation failed: {type(e).__name__}: {e}", type="server_error", code="internal_error")


def _error(e: APIError) -> JSONResponse:
    return JSONResponse(e.body(), status_code=e.status, headers=e.headers)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def api_error(request: Request, e: APIError) -> JSONResponse:
        return _error(e)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError) -> JSONResponse:
        return _error(validation_error(e.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException) -> JSONResponse:
        if isinstance(e.__cause__, APIError):  # FastAPI wraps what reading the body raised (a 413 from _BodyLimit)
            return _error(e.__cause__)
        kind = "not_found" if e.status_code == 404 else None
        return _error(APIError(e.status_code, f"{request.method} {request.url.path}: {e.detail}", code=kind))

    @app.exception_handler(Exception)
    async def crash(request: Request, e: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return _error(_internal(e))


def validation_error(errors: list[dict[str, Any]]) -> APIError:
    """A 400 naming the first bad field (FastAPI's error list, `loc` starting with "body").

    >>> validation_error([{"type": "greater_than_equal", "loc": ("body", "max_tokens"),
    ...                    "msg": "Input should be greater than or equal to 1"}]).message
    "Invalid value for 'max_tokens': Input should be greater than or equal to 1"
    """
    err = errors[0]
    loc = [str(p) for p in err.get("loc", ())[1:]]
    msg = str(err.get("msg", "")).removeprefix("Value error, ")
    if err.get("type") == "json_invalid":
        return APIError(400, f"The request body is not valid JSON: {err.get('ctx', {}).get('error', err['msg'])}",
                        code="invalid_json")
    if not loc:
        return APIError(400, f"The request body must be a JSON object sent as Content-Type: application/json ({msg})")
    if err.get("type") == "missing":
        return APIError(400, f"Missing required parameter: '{'.'.join(loc)}'", param=loc[0],
                        code="missing_required_parameter")
    return APIError(400, f"Invalid value for '{'.'.join(loc)}': {msg}", param=loc[0], code="invalid_value")


class _BodyLimit:
    """413 for a body past `limit` bytes: at once from Content-Length, else as soon as the streamed body passes it
    (raised inside the app, so the error handlers answer it)."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    def _too_large(self) -> APIError:
        return APIError(413, f"The request body is larger than this server's limit of {self.limit / 2**20:g} MB "
                             "(instill serve --max-body-mb)", code="request_too_large")

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            return await _error(self._too_large())(scope, receive, send)
        seen = 0

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise self._too_large()
            return message

        await self.app(scope, counted, send)


class _RequireKey:
    """Every /v1 request must carry `Authorization: Bearer KEY` (an ASGI middleware, so it answers before the
    body is read and leaves streaming untouched). /health stays open for probes; it tells nothing about the model
    but its name."""

    def __init__(self, app: Any, key: str) -> None:
        self.app, self.expected = app, key.encode()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1"):
            scheme, _, given = dict(scope["headers"]).get(b"authorization", b"").partition(b" ")
            # the scheme is case-insensitive (RFC 9110, section 11.1): "bearer KEY" is the same credential
            if scheme.lower() != b"bearer" or not secrets.compare_digest(given.strip(), self.expected):
                error = APIError(401, "Incorrect or missing API key: send 'Authorization: Bearer KEY'",
                                 code="invalid_api_key")
                await _error(error)(scope, receive, send)
                return
        await self.app(scope, receive, send)
