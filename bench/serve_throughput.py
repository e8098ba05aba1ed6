"""Throughput and latency of `instill serve`: a burst of concurrent short chat requests, batched vs one at a time.

    .venv/bin/python bench/serve_throughput.py [--requests 64] [--max-tokens 16] [--batch-size 32] [--rounds 3]

Builds the quickstart-sized tiny model offline (random weights, a BPE tokenizer trained on the bundled data), then
for each setting starts `instill serve` in its own process, sends a warm-up, and fires `--requests` chat requests at
once (greedy, `--max-tokens` each) from an asyncio client. It prints requests/s, p50 and p99 latency per setting and
the batched/sequential ratios. Each setting runs `--rounds` bursts; the table shows the median round.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

NAME = "tiny"


def build_model(out: Path) -> None:
    from instill.config import TinyModelConfig
    from instill.modeling import build_tiny_model, train_tiny_tokenizer

    data = Path(__file__).resolve().parents[1] / "src" / "instill" / "data"
    texts = [line for f in sorted(data.glob("*.jsonl")) for line in f.read_text(encoding="utf-8").splitlines()]
    cfg = TinyModelConfig()  # the quickstart's default size
    tokenizer = train_tiny_tokenizer(texts, cfg.vocab_size)
    model = build_tiny_model(cfg, tokenizer, seed=0)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    params = sum(p.numel() for p in model.parameters())
    print(f"model: tiny Llama, {params / 1e6:.2f}M parameters (hidden {cfg.hidden_size}, {cfg.num_layers} layers)")


def start_server(model: Path, batch_size: int, threads: int | None, env: dict) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "instill.cli", "serve", "--model", str(model), "--name", NAME, "--port", "0",
           "--max-batch-size", str(batch_size), "--max-wait-ms", "10", "--no-access-log", "--device", "cpu"]
    cmd += ["--threads", str(threads)] if threads else []
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    line = proc.stdout.readline()
    if " at " not in line:
        proc.kill()
        raise SystemExit(f"the server did not start: {line!r}")
    return proc, line.split(" at ", 1)[1].strip()


async def burst(url: str, n: int, max_tokens: int) -> tuple[float, list[float], int]:
    """Send n requests at once; (wall seconds, per-request latencies, completion tokens)."""
    async with httpx.AsyncClient(timeout=600, limits=httpx.Limits(max_connections=n)) as client:
        async def one(i: int) -> tuple[float, int]:
            body = {"model": NAME, "max_tokens": max_tokens, "temperature": 0,
                    "messages": [{"role": "user", "content": f"Give me a fact about the number {i}."}]}
            t0 = time.perf_counter()
            r = await client.post(url + "/chat/completions", json=body)
            r.raise_for_status()
            return time.perf_counter() - t0, r.json()["usage"]["completion_tokens"]

        t0 = time.perf_counter()
        results = await asyncio.gather(*(one(i) for i in range(n)))
        return time.perf_counter() - t0, [r[0] for r in results], sum(r[1] for r in results)


def measure(model: Path, batch_size: int, args: argparse.Namespace, env: dict[str, str]) -> dict:
    proc, url = start_server(model, batch_size, args.threads, env)
    try:
        asyncio.run(burst(url, 4, args.max_tokens))  # warm-up: first-call costs stay out of the numbers
        rounds = []
        for _ in range(args.rounds):
            wall, latencies, tokens = asyncio.run(burst(url, args.requests, args.max_tokens))
            cuts = statistics.quantiles(latencies, n=100, method="inclusive")
            rounds.append({"rps": args.requests / wall, "p50": cuts[49], "p99": cuts[98], "tokens": tokens,
                           "wall": wall})
        health = httpx.get(url.removesuffix("/v1") + "/health").json()
    finally:
        proc.terminate()
        proc.wait(30)
    best = sorted(rounds, key=lambda r: r["rps"])[len(rounds) // 2]
    return {**best, "rounds": rounds, "generate_calls": health["generate_calls"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=64)
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=32, help="max batch size of the batched server")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="the server's --threads (default: torch's choice)")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "INSTILL_API_KEY": ""}
    with tempfile.TemporaryDirectory() as tmp:
        build_model(Path(tmp))
        print(f"{args.requests} concurrent chat requests, greedy, max_tokens={args.max_tokens}, "
              f"{args.rounds} rounds per setting (median round shown), server threads: {args.threads or 'default'}")
        results = {label: measure(Path(tmp), size, args, env)
                   for label, size in [(f"batched (max_batch_size={args.batch_size})", args.batch_size),
                                       ("one at a time (max_batch_size=1)", 1)]}
    print(f"\n{'setting':36} {'req/s':>8} {'p50 s':>8} {'p99 s':>8} {'tokens':>7} {'generate calls':>15}")
    for label, r in results.items():
        print(f"{label:36} {r['rps']:8.2f} {r['p50']:8.3f} {r['p99']:8.3f} {r['tokens']:7d} {r['generate_calls']:15d}")
    batched, single = results.values()
    print(f"\nbatched / one at a time: {batched['rps'] / single['rps']:.1f}x requests/s, "
          f"p50 {single['p50'] / batched['p50']:.1f}x lower, p99 {single['p99'] / batched['p99']:.1f}x lower")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "results": results},
                                        indent=1))


if __name__ == "__main__":
    main()
