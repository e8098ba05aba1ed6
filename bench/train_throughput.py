#!/usr/bin/env python
"""Training throughput and memory: instill's trainer against TRL's SFTTrainer (padded and padding-free), same run.

Everything is built here from a seed, offline: prompt/completion rows (prompts 10-200 words, completions 5-300,
each completion a copy, reversal, sort or interleave of the prompt's words), a word-level tokenizer, and a Llama
with random weights (hidden 256, 4 layers, 4 heads, intermediate 688: 6.2M parameters) saved once so every mode
starts from the same weights. Each mode runs in its own process (peak RSS is per mode) with the same torch threads,
trains one epoch (batch 8 for TRL; for instill grouped batches under a token budget of what 8 sequences hold on
average, so the number of steps is about the same; max length 512, lr 1e-3 linear decay, fp32, no activation checkpointing, clip 1.0),
then scores the same held-out rows with the same evaluation code.

    python bench/train_throughput.py                      # prepare, run every mode, print the table
    python bench/train_throughput.py --examples 400       # a quick run
    python bench/train_throughput.py --modes instill --instill train.batching=packed

Columns: tok/s = real (non-pad) tokens per second of the training loop; tok/CPU-s = the same per second of process
CPU time (user + sys), less sensitive to other processes sharing the cores (not immune: threads waiting for a
descheduled sibling still burn CPU); load avg = the machine's 1-minute load at the start and end of each run; with
--repeats the table keeps each mode's best run, with every run's tok/s listed; peak RSS = ru_maxrss at the end of training;
eval loss = mean cross-entropy per completion token on the held-out rows after training.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

MODES = ["instill", "trl_padded", "trl_padding_free"]
EOS, PAD = "<|im_end|>", "<|pad|>"
# instill reads chat data; this template renders a user turn as its text and an assistant turn as text + eos, which
# is exactly TRL's prompt + completion + eos for prompt/completion rows.
TEMPLATE = ("{% for m in messages %}{% if m['role'] == 'assistant' %}{{ m['content'] + eos_token }}"
            "{% else %}{{ m['content'] }}{% endif %}{% endfor %}")


# ---------------------------------------------------------------------------------------------------- inputs
def _words(rng: random.Random, n: int) -> list[str]:
    letters, out = "bdfgklmnprstvz", set()
    while len(out) < n:
        out.add("".join(rng.choice(letters) + rng.choice("aeiou") for _ in range(rng.randint(1, 4))))
    return sorted(out)


def make_rows(n: int, seed: int) -> list[dict]:
    """`n` prompt/completion rows; under the word-level tokenizer a prompt is 10-200 tokens, a completion plus eos
    5-300 tokens (uniform)."""
    rng = random.Random(seed)
    vocab = _words(rng, 6000)
    weights = [1 / (k + 1) for k in range(len(vocab))]  # Zipf-like
    tasks = {"copy": lambda w: w, "reverse": lambda w: w[::-1], "sort": sorted, "interleave": lambda w: w[::2] + w[1::2]}
    rows = []
    for _ in range(n):
        task = rng.choice(sorted(tasks))
        words = rng.choices(vocab, weights, k=rng.randint(10, 200) - 8)  # 8 tokens of instruction around them
        target = tasks[task](words)
        reply = [target[k % len(target)] for k in range(rng.randint(5, 300) - 1)]  # + eos
        prompt = f"### Instruction: {task} the following words.\n{' '.join(words)}\n### Response:\n"
        rows.append({"prompt": prompt, "completion": " ".join(reply)})
    return rows


def prepare(out: Path, examples: int, eval_examples: int, seed: int) -> dict:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    rows = make_rows(examples + eval_examples, seed)
    train, held = rows[:examples], rows[examples:]
    out.mkdir(parents=True, exist_ok=True)
    (out / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in train))
    (out / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in held))
    chats = [{"messages": [{"role": "user", "content": r["prompt"]}, {"role": "assistant", "content": r["completion"]}]}
             for r in train]
    (out / "train_chat.jsonl").write_text("".join(json.dumps(c) + "\n" for c in chats))
    core = Tokenizer(models.WordLevel(unk_token="<|unk|>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.train_from_iterator([r["prompt"] + r["completion"] for r in rows],
                             trainers.WordLevelTrainer(vocab_size=8192, special_tokens=[PAD, "<|unk|>", EOS]))
    tok = PreTrainedTokenizerFast(tokenizer_object=core, pad_token=PAD, unk_token="<|unk|>", eos_token=EOS)
    tok.chat_template = TEMPLATE
    config = LlamaConfig(vocab_size=len(tok), hidden_size=256, intermediate_size=688, num_hidden_layers=4,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=1024,
                         pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=None,
                         tie_word_embeddings=False)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(out / "model")
    tok.save_pretrained(out / "model")
    mean = sum(len(x) for x, _ in encode_eval(tok, train)) / len(train)
    info = {"examples": examples, "eval_examples": eval_examples, "params": sum(p.numel() for p in model.parameters()),
            "vocab": len(tok), "mean_tokens": round(mean, 1),
            # instill's micro-batch token budget: what 8 sequences hold on average, so the step count stays ~the same
            "tokens_per_batch": max(512, round(8 * mean / 64) * 64)}
    (out / "inputs.json").write_text(json.dumps(info))
    return info


# ---------------------------------------------------------------------------------------------------- measuring
def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def encode_eval(tok, rows: list[dict]) -> list[tuple[list[int], list[int]]]:
    """ids of prompt + completion + eos; labels -100 on the prompt."""
    out = []
    for r in rows:
        p = tok(r["prompt"], add_special_tokens=False)["input_ids"]
        ids = tok(r["prompt"] + r["completion"] + EOS, add_special_tokens=False)["input_ids"]
        assert ids[: len(p)] == p
        out.append((ids, [-100] * len(p) + ids[len(p) :]))
    return out


def eval_loss(model, tok, rows: list[dict], batch: int = 4) -> float:
    """Mean cross-entropy per completion token, padded batches with a mask, the model's own logits (same for all)."""
    import torch
    import torch.nn.functional as F

    data = encode_eval(tok, rows)
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(data), batch):
            chunk = data[i : i + batch]
            width = max(len(x) for x, _ in chunk)
            ids = torch.full((len(chunk), width), tok.pad_token_id)
            labels = torch.full((len(chunk), width), -100)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for b, (x, y) in enumerate(chunk):
                ids[b, : len(x)], labels[b, : len(y)], mask[b, : len(x)] = torch.tensor(x), torch.tensor(y), 1
            logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits[:, :-1].float()
            total += float(F.cross_entropy(logits.transpose(1, 2), labels[:, 1:], reduction="sum"))
            count += int((labels[:, 1:] != -100).sum())
    return total / count


# ---------------------------------------------------------------------------------------------------- modes
def run_instill(args, out: Path) -> dict:
    from instill.config import load_recipe
    from instill.train.loop import setup, train_step

    budget = json.loads((out / "inputs.json").read_text())["tokens_per_batch"]
    overrides = [
        f"run_dir={out / 'runs' / f'instill-{time.time_ns()}'}", f"seed={args.seed}", f"model.name={out / 'model'}",
        f"data.train=[{{format: openai, path: {out / 'train_chat.jsonl'}}}]", "data.max_length=512",
        "chat.template=tokenizer", f"train.epochs={args.epochs}", "train.batch_size=8", "train.lr=1e-3",
        "train.schedule=linear", "train.warmup_steps=0", "train.weight_decay=0", "train.max_grad_norm=1.0",
        "train.precision=fp32", "train.activation_checkpointing=false", "train.batching=grouped",
        f"train.tokens_per_batch={budget}", *args.instill,
    ]
    s = setup(load_recipe(None, overrides))
    tokens, t0, c0 = 0, time.perf_counter(), cpu_seconds()
    for step in range(s.total_steps):
        tokens += train_step(s, step)[1]
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    rss = peak_rss_mb()
    model = s.accelerator.unwrap_model(s.model)
    rows = [json.loads(x) for x in (out / "eval.jsonl").read_text().splitlines()]
    return {"steps": s.total_steps, "tokens": tokens, "wall": wall, "cpu": cpu, "rss": rss,
            "eval_loss": eval_loss(model, s.tokenizer, rows), "config": " ".join(overrides[-len(args.instill) - 3 :])}


def run_trl(args, out: Path, padding_free: bool) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    tok = AutoTokenizer.from_pretrained(out / "model")
    tok.chat_template = None  # prompt/completion text, not chat
    model = AutoModelForCausalLM.from_pretrained(out / "model", dtype=torch.float32)
    rows = [json.loads(x) for x in (out / "train.jsonl").read_text().splitlines()]
    seen = {"tokens": 0}

    class Counting(SFTTrainer):
        def training_step(self, model, inputs, num_items_in_batch=None):
            mask = inputs.get("attention_mask")
            seen["tokens"] += int(mask.sum()) if mask is not None else inputs["input_ids"].numel()
            return super().training_step(model, inputs, num_items_in_batch)

    cfg = SFTConfig(
        output_dir=str(out / "runs" / f"trl-{time.time_ns()}"), num_train_epochs=args.epochs,
        per_device_train_batch_size=8, learning_rate=1e-3, lr_scheduler_type="linear", warmup_steps=0,
        weight_decay=0.0, max_grad_norm=1.0, bf16=False, fp16=False, activation_checkpointing=False,
        use_cpu=True, seed=args.seed, save_strategy="no", report_to="none", disable_tqdm=True, logging_steps=10**6,
        dataloader_num_workers=0, completion_only_loss=True, padding_free=padding_free,
        max_length=None if padding_free else 512,  # TRL requires None with padding_free; every row fits in 512
    )
    trainer = Counting(model=model, args=cfg, train_dataset=Dataset.from_list(rows), processing_class=tok)
    t0, c0 = time.perf_counter(), cpu_seconds()
    trainer.train()
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    rss = peak_rss_mb()
    held = [json.loads(x) for x in (out / "eval.jsonl").read_text().splitlines()]
    return {"steps": trainer.state.global_step, "tokens": seen["tokens"], "wall": wall, "cpu": cpu, "rss": rss,
            "eval_loss": eval_loss(trainer.model, tok, held), "config": ""}


def run_mode(args) -> None:
    import torch
    import transformers

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    transformers.logging.set_verbosity_error()
    out = Path(args.out)
    load = os.getloadavg()[0]
    res = run_instill(args, out) if args.mode == "instill" else run_trl(args, out, args.mode == "trl_padding_free")
    res.update(mode=args.mode, load=(load, os.getloadavg()[0]), threads=torch.get_num_threads(), tok_s=res["tokens"] / res["wall"],
               tok_cpu_s=res["tokens"] / res["cpu"])
    print("RESULT " + json.dumps(res), flush=True)


# ---------------------------------------------------------------------------------------------------- driver
def summarize(results: list[dict]) -> list[dict]:
    """One row per mode: the best throughput over its repeats (the run least slowed by other processes)."""
    rows = []
    for mode in dict.fromkeys(r["mode"] for r in results):
        runs = [r for r in results if r["mode"] == mode]
        rows.append({**runs[0], "tok_s": max(r["tok_s"] for r in runs), "tok_cpu_s": max(r["tok_cpu_s"] for r in runs),
                     "wall": min(r["wall"] for r in runs), "rss": min(r["rss"] for r in runs),
                     "all_tok_s": "/".join(f"{r['tok_s']:,.0f}" for r in runs),
                     "load": "/".join(f"{r['load'][0]:.1f}-{r['load'][1]:.1f}" for r in runs)})
    return rows


def table(results: list[dict]) -> str:
    rows = summarize(results)
    base = {r["mode"]: r for r in rows}
    pad, free = base.get("trl_padded"), base.get("trl_padding_free")
    lines = ["| mode | steps | tokens | train s | tok/s | tok/CPU-s | peak RSS MB | eval loss | tok/s vs TRL pf "
             "| tok/CPU-s vs TRL pf | RSS vs TRL padded | eval loss vs TRL pf | tok/s each run | load avg each run |",
             "|" + "---|" * 14]
    for r in rows:
        ratio = lambda key, ref: f"{r[key] / ref[key]:.2f}x" if ref else "-"  # noqa: E731
        lines.append(f"| {r['mode']} | {r['steps']} | {r['tokens']:,} | {r['wall']:.1f} | {r['tok_s']:,.0f} | "
                     f"{r['tok_cpu_s']:,.0f} | {r['rss']:,.0f} | {r['eval_loss']:.4f} | {ratio('tok_s', free)} | "
                     f"{ratio('tok_cpu_s', free)} | {ratio('rss', pad)} | {ratio('eval_loss', free)} | "
                     f"{r['all_tok_s']} | {r['load']} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="bench/out", help="inputs and runs are written here")
    ap.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, run in this order: {MODES}")
    ap.add_argument("--examples", type=int, default=2000, help="training rows")
    ap.add_argument("--eval-examples", type=int, default=200, help="held-out rows scored after training")
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=2, help="torch threads, the same for every mode")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=1,
                    help="run the modes this many times, alternating the order; the table keeps each mode's best")
    ap.add_argument("--instill", nargs="*", default=[], help="extra instill overrides, e.g. train.batching=packed")
    ap.add_argument("--mode", help=argparse.SUPPRESS)  # a single mode, in this process (the driver's subprocesses)
    args = ap.parse_args()
    if args.mode:
        return run_mode(args)
    out = Path(args.out)
    info = prepare(out, args.examples, args.eval_examples, args.seed)
    print(f"inputs: {info}", flush=True)
    results, modes = [], args.modes.split(",")
    for mode in [m for k in range(args.repeats) for m in (modes if k % 2 == 0 else modes[::-1])]:
        cmd = [sys.executable, __file__, "--mode", mode, "--out", str(out), "--epochs", str(args.epochs),
               "--threads", str(args.threads), "--seed", str(args.seed), "--instill", *args.instill]
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "TOKENIZERS_PARALLELISM": "false"}
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
        lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
        if done.returncode or not lines:
            sys.exit(f"{mode} failed:\n{done.stderr[-3000:]}")
        results.append(json.loads(lines[-1][len("RESULT ") :]))
        with open(out / "results.jsonl", "a") as f:  # kept as each mode ends, so a cut-short run still has them
            f.write(json.dumps(results[-1]) + "\n")
        print(f"{mode}: {results[-1]['tok_s']:,.0f} tok/s, {results[-1]['tok_cpu_s']:,.0f} tok/CPU-s, "
              f"peak RSS {results[-1]['rss']:,.0f} MB, eval loss {results[-1]['eval_loss']:.4f}", flush=True)
    print(table(results))


if __name__ == "__main__":
    main()
