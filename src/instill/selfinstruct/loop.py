"""The generation loop: generation requests and per-task requests run concurrently, results are committed in
request order, every commit is on disk before the next request goes out.

Determinism: request r's prompt depends only on (seed, r) and the pool as it stood after request r - concurrency
was committed (a prefix of the store), and requests are committed in order. So a run with a deterministic backend
gives the same store every time, including a run that was killed and resumed.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from instill.errors import InstillError
from instill.llm.base import LLM, Completion, SamplingParams
from instill.selfinstruct import alpaca
from instill.selfinstruct.config import SelfInstructConfig
from instill.selfinstruct.filters import blacklist_pattern, filter_instances, instruction_rejection
from instill.selfinstruct.novelty import NoveltyIndex
from instill.selfinstruct.parse import parse_input_first, parse_instructions, parse_output_first
from instill.selfinstruct.prompts import classification_prompt, instance_prompt, instruction_prompt
from instill.selfinstruct.seeds import SeedTask, load_seeds
from instill.selfinstruct.store import FILE, Replayed, Store, read_store

log = logging.getLogger(__name__)


@dataclass
class Counts:
    requests: int = 0
    generated: int = 0
    kept: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    tasks: int = 0

    def add(self, batch: dict[str, Any]) -> None:
        self.requests += 1
        self.generated += batch["generated"]
        self.kept += len(batch["kept"])
        for k, v in batch["rejected"].items():
            self.rejected[k] = self.rejected.get(k, 0) + v


class Caller:
    """Sends one prompt to the backend as plain text or as one user turn. The local backend runs one at a time."""

    def __init__(self, backend: LLM, api: str, serial: bool) -> None:
        self.backend, self.api = backend, api
        self.lock = threading.Lock() if serial else None

    def __call__(self, prompt: str, params: SamplingParams) -> Completion:
        if self.lock:
            with self.lock:
                return self._call(prompt, params)
        return self._call(prompt, params)

    def _call(self, prompt: str, params: SamplingParams) -> Completion:
        if self.api == "chat":
            return self.backend.chat([[{"role": "user", "content": prompt}]], params)[0][0]
        return self.backend.complete([prompt], params)[0][0]


class Run:
    """One `generate` run over an output folder (see `generate`)."""

    def __init__(self, cfg: SelfInstructConfig, backend: LLM) -> None:
        self.cfg = cfg
        self.caller = Caller(backend, cfg.api, serial=cfg.backend.backend == "local")
        self.seeds: list[SeedTask] = load_seeds(cfg.seeds)
        f = cfg.filters
        words = f.blacklist + (f.alpaca_extra_blacklist if cfg.style == "alpaca" else [])
        self.blacklist = blacklist_pattern(words)
        self.path = Path(cfg.out_dir) / FILE
        state = read_store(self.path, repair=True)
        self._check_header(state)
        self.store = Store(self.path)
        if state.header is None:
            self.store.append({"kind": "header", "style": cfg.style, "seed": cfg.seed, "seeds": cfg.seeds,
                               "concurrency": cfg.concurrency})
        self.index = NoveltyIndex(f.novelty_threshold, f.neighbours, f.novelty_workers)
        self.index.add_many([s.instruction for s in self.seeds], seeds=True)
        self.machine: list[str] = []
        self.cum: list[int] = []  # machine instructions kept after each committed request
        self.counts = Counts()
        for b in state.batches:
            self._absorb(b)
        self.index.add_many(self.machine)
        self.pending = [k for k in state.kept if k["id"] not in state.tasks] if cfg.style == "self-instruct" else []
        self.counts.tasks = len(state.tasks)
        self.resumed = state

    def _check_header(self, state: Replayed) -> None:
        h = state.header
        if h is None:
            if state.batches:
                raise InstillError(f"{self.path}: no header line")
            return
        for key in ("style", "seed", "seeds", "concurrency"):
            if h.get(key) != getattr(self.cfg, key):
                raise InstillError(f"{self.path}: this folder was started with {key}={h.get(key)!r}; resume with "
                                   f"the same value (or use a new out_dir)")

    def _absorb(self, batch: dict[str, Any]) -> None:
        self.machine.extend(k["instruction"] for k in batch["kept"])
        self.cum.append(len(self.machine))
        self.counts.add(batch)

    # --- prompts ---------------------------------------------------------------------------------------------

    def prompt(self, r: int) -> str:
        """Request r's prompt, from the pool as committed through request r - concurrency."""
        rng = random.Random(f"{self.cfg.seed}:{r}")
        j = r - self.cfg.concurrency
        machine = self.machine[: self.cum[j] if j >= 0 else 0]
        if self.cfg.style == "alpaca":
            return alpaca.prompt(rng.sample(self.seeds, self.cfg.alpaca.seed_tasks), self.cfg)
        n_machine = min(self.cfg.max_machine_in_prompt, len(machine), self.cfg.prompt_instructions)
        chosen = rng.sample(machine, n_machine)
        chosen += [s.instruction for s in rng.sample(self.seeds, self.cfg.prompt_instructions - n_machine)]
        rng.shuffle(chosen)
        return instruction_prompt(chosen, self.cfg.prompts.instruction_header)

    # --- jobs (run in worker threads) ------------------------------------------------------------------------

    def generation_job(self, r: int, prompt: str) -> Completion:
        decoding = self.cfg.alpaca.decoding if self.cfg.style == "alpaca" else self.cfg.instructions
        return self.caller(prompt, decoding.params(self.cfg.seed + r))

    def task_job(self, kept: dict[str, Any]) -> dict[str, Any]:
        """Classification check, then instances (output-first for classification tasks)."""
        p, instruction = self.cfg.prompts, kept["instruction"]
        answer = self.caller(classification_prompt(instruction, p.classification_question, p.classification_examples),
                             self.cfg.classify.params(None))
        is_cls = "yes" in answer.text.lower()
        intro, shots = (p.output_first_intro, p.output_first_exemplars) if is_cls else (p.input_first_intro, p.input_first_exemplars)
        reply = self.caller(instance_prompt(instruction, intro, shots), self.cfg.instances.params(None))
        parsed = (parse_output_first if is_cls else parse_input_first)(reply.text)
        if reply.finish_reason == "length" and parsed:
            parsed = parsed[:-1]  # the last instance was cut mid-way
        instances, dropped, reason = filter_instances(parsed, self.cfg.filters.max_instances)
        return {"kind": "task", "id": kept["id"], "is_classification": is_cls,
                "instances": [{"input": i, "output": o} for i, o in instances], "dropped_instances": dropped,
                "dropped": reason}

    # --- commits (main thread only) --------------------------------------------------------------------------

    def commit(self, r: int, reply: Completion) -> dict[str, Any]:
        """Filter a generation reply and store what is kept (never more than the target)."""
        rejected: dict[str, int] = {}
        bump = lambda why, n=1: rejected.__setitem__(why, rejected.get(why, 0) + n)  # noqa: E731
        if self.cfg.style == "alpaca":
            items = alpaca.parse(reply.text, self.cfg.alpaca.seed_tasks + 1, cut=reply.finish_reason == "length")
        elif reply.finish_reason == "length":
            items = []
            bump("cut_by_max_tokens", len(parse_instructions(reply.text, self.cfg.prompt_instructions + 1)))
        else:
            items = [{"instruction": t} for t in parse_instructions(reply.text, self.cfg.prompt_instructions + 1)]
        f = self.cfg.filters
        candidates = []
        for item in items:
            why = instruction_rejection(item["instruction"], min_words=f.min_words, max_words=f.max_words,
                                        blacklist=self.blacklist, bad_starts=f.bad_starts)
            if why:
                bump(why)
            else:
                candidates.append(item)
        room = max(0, self.cfg.target - len(self.machine))
        verdicts = self.index.check([c["instruction"] for c in candidates], limit=room)
        kept = []
        for c, v in zip(candidates, verdicts):
            if not v.keep:
                bump("similar" if v.max_score == v.max_score else "over_target")  # nan: not examined
                continue
            kept.append({"id": f"mi-{r:06d}-{len(kept):02d}", **c, "max_similarity": v.max_score,
                         "most_similar": [[t, s] for t, s in v.neighbours], "avg_similarity": v.mean_score,
                         "max_seed_similarity": v.max_seed_score})
        batch = {"kind": "batch", "request": r, "generated": len(items) + rejected.get("cut_by_max_tokens", 0),
                 "rejected": rejected, "kept": kept}
        self.store.append(batch)
        self._absorb(batch)
        if self.cfg.style == "self-instruct":
            self.pending.extend(kept)
        return batch


def generate(cfg: SelfInstructConfig, backend: LLM | None = None, progress: bool = True,
             on_commit: Callable[[dict[str, Any]], None] | None = None, api_key: str | None = None) -> Counts:
    """Run (or resume) Self-Instruct in `cfg.out_dir` until `cfg.target` instructions are kept and every kept
    instruction has its instances; returns the counts over the whole folder.

    Args:
        backend: an LLM; None loads `cfg.backend`.
        progress: show a progress bar (kept / generated / rejected, requests per second).
        api_key: the key `cfg.backend` (openai) sends, over its `api_key_env`; held by the backend only, never
            written to `cfg.out_dir`.
    """
    own = backend is None
    if backend is None:
        from instill.llm.load import load_backend

        spec = cfg.backend
        if spec.backend == "openai":  # one connection per request in flight
            spec = spec.model_copy(update={"max_concurrency": cfg.concurrency})
        backend = load_backend(spec, api_key=api_key)
    run = Run(cfg, backend)
    try:
        _drive(run, progress, on_commit)
    finally:
        run.store.close()
        if own:
            backend.close()
    return run.counts


def _drive(run: Run, progress: bool, on_commit: Callable[[dict[str, Any]], None] | None) -> None:
    cfg = run.cfg
    bar = _Bar(cfg.target, run.counts, progress)
    inflight: dict[Future, tuple[str, Any]] = {}
    buffered: dict[int, Completion] = {}
    next_request = len(run.cum)
    fruitless = trailing_fruitless(run.cum)  # rebuilt from the store: a resumed run gives up where a whole one does
    with ThreadPoolExecutor(cfg.concurrency, thread_name_prefix="selfinstruct") as pool:
        while True:
            while len(inflight) < cfg.concurrency:
                if run.pending:
                    kept = run.pending.pop(0)
                    inflight[pool.submit(run.task_job, kept)] = ("task", kept["id"])
                elif _may_request(run, next_request, fruitless):
                    fut = pool.submit(run.generation_job, next_request, run.prompt(next_request))
                    inflight[fut] = ("generate", next_request)
                    next_request += 1
                else:
                    break
            if not inflight:
                break
            done, _ = wait(inflight, return_when=FIRST_COMPLETED)
            for fut in done:
                kind, key = inflight.pop(fut)
                result = fut.result()  # a backend error ends the run; what is stored stays
                if kind == "task":
                    run.store.append(result)
                    run.counts.tasks += 1
                else:
                    buffered[key] = result
            while len(run.cum) in buffered:
                r = len(run.cum)
                reply = buffered.pop(r)
                # requests answered after the target or the give-up point: not stored, so where a run stops does
                # not depend on what was in flight (a resumed run stops where an uninterrupted one does)
                if len(run.machine) >= cfg.target or fruitless >= cfg.give_up_after:
                    buffered.clear()
                    break
                batch = run.commit(r, reply)
                fruitless = 0 if batch["kept"] else fruitless + 1
                if on_commit:
                    on_commit(batch)
            bar.update()
    bar.close()
    if fruitless >= cfg.give_up_after:
        log.warning("stopped: the last %d generation requests kept no instruction", fruitless)


def trailing_fruitless(cum: list[int]) -> int:
    """How many of the last committed generation requests kept nothing, from the kept count after each one.

    >>> trailing_fruitless([2, 3, 3, 3]), trailing_fruitless([0, 0]), trailing_fruitless([1])
    (2, 2, 0)
    """
    n = 0
    for before, after in zip(reversed([0] + cum[:-1]), reversed(cum)):
        if after != before:
            break
        n += 1
    return n


def _may_request(run: Run, r: int, fruitless: int) -> bool:
    cfg = run.cfg
    return (len(run.machine) < cfg.target and r - cfg.concurrency < len(run.cum)
            and (cfg.max_requests is None or r < cfg.max_requests) and fruitless < cfg.give_up_after)


class _Bar:
    """tqdm bar over kept instructions, with generated / rejected counts and requests per second."""

    def __init__(self, target: int, counts: Counts, enabled: bool) -> None:
        from tqdm import tqdm

        self.counts, self.start, self.first = counts, time.monotonic(), counts.requests
        self.bar = tqdm(total=target, initial=counts.kept, desc="kept", disable=not enabled, unit="instr")

    def update(self) -> None:
        c = self.counts
        self.bar.n = min(c.kept, self.bar.total)
        rate = (c.requests - self.first) / max(1e-9, time.monotonic() - self.start)
        self.bar.set_postfix(generated=c.generated, rejected=sum(c.rejected.values()), tasks=c.tasks,
                             req_s=f"{rate:.2f}", refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()
