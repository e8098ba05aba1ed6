"""One worker thread owns the model and runs queued requests together.

The worker takes the first waiting request, then keeps taking more for at most `max_wait_ms` or until
`max_batch_size` sequences are gathered, and generates them in as few engine calls as sampling allows: rows that
share temperature and top_p share a call; limits, stops and penalties are per row (see `instill.inference.engine`);
a seeded sampling request runs alone, so its seed means the same thing whatever else is queued. A request that
arrives while a batch runs waits for that batch to finish (batching per call, not per decoding step).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from instill.inference.chat_model import ChatModel
from instill.inference.engine import Generated, Row, generate_rows
from instill.serve.settings import ServeSettings

log = logging.getLogger(__name__)


class QueueFull(Exception):
    """More requests are waiting than the server accepts."""


@dataclass(eq=False)
class Job:
    """One request: its rows (prompts x n, sharing temperature, top_p and seed), and where its results go (called
    on the worker thread, with the results in row order or the exception that stopped them)."""

    rows: list[Row]
    on_done: Callable[[list[Generated] | BaseException], None]
    cancelled: bool = False  # set by the server on timeout or disconnect; the worker drops or stops the job
    results: list[Generated | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.results = [None] * len(self.rows)
        for row in self.rows:
            row.cancelled = lambda: self.cancelled

    def cancel(self) -> None:
        self.cancelled = True


def _notify(job: Job, result: list[Generated] | BaseException) -> None:
    """Hand a job its result; a caller that is gone (its event loop closed) must not stop the worker."""
    try:
        job.on_done(result)
    except Exception:
        log.warning("a finished request could not be answered (its caller is gone)", exc_info=True)


def _group_key(job: Job) -> object:
    """Jobs with the same key share engine calls; a seeded sampling job runs alone."""
    params = job.rows[0].params
    seeded = params.seed is not None and params.temperature > 0
    return (params.batch_key(), id(job)) if seeded else params.batch_key()


class Batcher:
    """The queue in front of the model and the worker that drains it."""

    def __init__(self, cm: ChatModel, settings: ServeSettings) -> None:
        self.cm, self.max_batch_size, self.max_wait_s = cm, settings.max_batch_size, settings.max_wait_ms / 1000
        self._queue: queue.Queue[Job] = queue.Queue(maxsize=settings.max_queue)
        self._carry: Job | None = None  # taken from the queue but left for the next batch (it did not fit)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="instill-batcher", daemon=True)
        self.generate_calls = 0  # for /health and tests: fewer calls than requests means batching happened
        self.sequences = 0
        self.tokens = 0  # generated, over all sequences

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._stop.is_set()

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def submit(self, job: Job) -> None:
        """Queue a job, or raise QueueFull at once (the server answers 429)."""
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise QueueFull from None

    def _loop(self) -> None:
        while not self._stop.is_set():
            jobs = self._collect()
            if jobs:
                self._run(jobs)

    def _collect(self) -> list[Job]:
        jobs: list[Job] = []
        if self._carry is not None:
            jobs, self._carry = [self._carry], None
        else:
            try:
                jobs.append(self._queue.get(timeout=0.1))  # wake now and then to notice stop()
            except queue.Empty:
                return []
        rows, deadline = len(jobs[0].rows), time.monotonic() + self.max_wait_s
        while rows < self.max_batch_size:
            try:
                job = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if rows + len(job.rows) > self.max_batch_size:
                self._carry = job
                break
            jobs.append(job)
            rows += len(job.rows)
        return [j for j in jobs if not j.cancelled]

    def _run(self, jobs: list[Job]) -> None:
        groups: dict[object, list[Job]] = {}
        for job in jobs:
            groups.setdefault(_group_key(job), []).append(job)
        for group in groups.values():
            try:
                self._run_group(group)
            except Exception as e:  # a failed batch fails its requests, not the server
                log.exception("generation failed for a batch of %d requests", len(group))
                for job in group:
                    _notify(job, e)
            else:
                for job in group:
                    _notify(job, job.results)  # type: ignore[arg-type]

    def _run_group(self, group: list[Job]) -> None:
        todo = [(job, k) for job in group for k in range(len(job.rows))]
        for start in range(0, len(todo), self.max_batch_size):
            part = [(job, k) for job, k in todo[start : start + self.max_batch_size] if not job.cancelled]
            if not part:
                continue
            out = generate_rows(self.cm, [job.rows[k] for job, k in part])
            self.generate_calls += 1
            self.sequences += len(part)
            self.tokens += sum(g.completion_tokens for g in out)
            for (job, k), g in zip(part, out):
                job.results[k] = g
