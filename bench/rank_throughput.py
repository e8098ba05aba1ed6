"""Rank-classification throughput: each context once with its KV cache vs every (context + option) row on its own.

    python bench/rank_throughput.py [--items 500] [--threads 2] [--repeats 2] [--items-per-step 8] [--train-steps 60]

Builds, in the run and seeded, the model of the shared lm-evaluation-harness baseline (a Llama with hidden 256,
4 layers, 4 heads, intermediate 688, a byte-level BPE of 4096 tokens trained on synthetic text, a short warm-up
training so that its predictions are not flat) and a synthetic multiple-choice set: `--items` items of 4 options,
contexts of 100-300 tokens ending in "Answer:", options of 1-10 tokens. It then scores the set, in one process and
in turn, with instill's cached scorer, instill's one-row-per-option scorer (`use_cache=False`), and, when `lm_eval`
is importable (`pip install -e '.[bench]'`), lm-evaluation-harness's `HFLM.loglikelihood` on the same requests.
The table shows the median wall time over `--repeats`, items/s, speed relative to each reference, the largest
log-likelihood difference from each reference, and how many items get the same acc and acc_norm predictions.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import statistics
import time

import torch

from instill.evaluate.rank import OptionScores, choose, rank_classify

SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "ta", "so", "vi", "pe", "da", "gu", "fa", "zo", "be", "xi", "ho"]


def make_text(seed: int, n_sentences: int) -> tuple[list[str], list[str]]:
    """(words, sentences): 3000 pseudo-words with a skewed frequency, sentences of 5-15 of them."""
    rng = random.Random(seed)
    words = sorted({"".join(rng.choices(SYLLABLES, k=rng.randint(1, 4))) for _ in range(6000)})[:3000]
    weights = [1 / (rank + 5) for rank in range(len(words))]  # Zipf-like, so BPE merges whole common words
    rng.shuffle(words)
    sentences = [" ".join(rng.choices(words, weights, k=rng.randint(5, 15))).capitalize() + "."
                 for _ in range(n_sentences)]
    return words, sentences


def build_model(sentences: list[str], train_steps: int, seed: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    from instill.modeling import train_tiny_tokenizer

    tok = train_tiny_tokenizer(sentences, vocab_size=4096)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tok), hidden_size=256, intermediate_size=688, num_hidden_layers=4, num_attention_heads=4,
        num_key_value_heads=4, max_position_embeddings=512, pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id, bos_token_id=None, tie_word_embeddings=False))
    if train_steps:
        warm_up(model, tok, sentences, train_steps, seed)
    return model.eval(), tok


def warm_up(model, tok, sentences: list[str], steps: int, seed: int) -> None:
    """A few steps of next-token training on 8 x 128-token chunks of the text."""
    ids = [i for s in tok([" " + s for s in sentences], add_special_tokens=False)["input_ids"] for i in s]
    chunks = torch.tensor(ids[: len(ids) // 128 * 128]).view(-1, 128)  # (N, 128)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    model.train()
    for _ in range(steps):
        batch = chunks[torch.randint(len(chunks), (8,), generator=g)]
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    print(f"warm-up: {steps} steps, last loss {loss.item():.2f}, {time.perf_counter() - t0:.0f} s")


def make_items(tok, words: list[str], sentences: list[str], n: int, seed: int) -> list[tuple[str, list[str], int]]:
    """(context, 4 choices, label): contexts of 100-300 tokens ending in "Answer:", choices of 1-10 tokens."""
    rng = random.Random(seed + 1)
    lengths = [len(ids) for ids in tok([" " + s for s in sentences], add_special_tokens=False)["input_ids"]]
    items = []
    for _ in range(n):
        target, parts, size = rng.randint(100, 300), [], 0
        while size < target:
            k = rng.randrange(len(sentences))
            parts.append(sentences[k])
            size += lengths[k]
        choices = []
        while len(choices) < 4:
            target, choice = rng.randint(1, 10), rng.choice(words)
            while len(tok(" " + choice, add_special_tokens=False)["input_ids"]) < target:
                choice += " " + rng.choice(words)
            if len(tok(" " + choice, add_special_tokens=False)["input_ids"]) <= 10 and choice not in choices:
                choices.append(choice)
        items.append((" ".join(parts) + "\nAnswer:", choices, rng.randrange(4)))
    return items


def instill_scorer(model, tok, items, use_cache: bool, per_step: int):
    contexts, choices = [c + " " for c, _, _ in items], [ch for _, ch, _ in items]  # the space moves onto the option
    return lambda: rank_classify(model, tok, contexts, choices, items_per_step=per_step, use_cache=use_cache)


def lm_eval_scorer(model, tok, items, batch_size: int):
    """lm-evaluation-harness's loglikelihood on the (context, " " + choice) requests a multiple_choice task makes."""
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    lm = HFLM(pretrained=model, tokenizer=tok, batch_size=batch_size)
    requests = [Instance(request_type="loglikelihood", doc={}, arguments=(c, " " + ch), idx=j)
                for c, chs, _ in items for j, ch in enumerate(chs)]

    def run() -> list[OptionScores]:
        out = iter(lm.loglikelihood(requests, disable_tqdm=True))
        scores = []
        for _, chs, _ in items:
            pairs = [next(out) for _ in chs]
            scores.append(OptionScores(loglik=[ll for ll, _ in pairs], n_tokens=[0] * len(chs),
                                       n_chars=[len(ch) for ch in chs], greedy=[g for _, g in pairs]))
        return scores

    return run


def timed(run, repeats: int) -> tuple[float, list[OptionScores]]:
    walls = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        scores = run()
        walls.append(time.perf_counter() - t0)
    return statistics.median(walls), scores


def compare(a: list[OptionScores], b: list[OptionScores]) -> tuple[float, str]:
    """(max |ΔLL| over all options, "same acc / acc_norm predictions")."""
    diff = max(abs(x - y) for sa, sb in zip(a, b) for x, y in zip(sa.loglik, sb.loglik))
    same = [sum(choose(sa, norm) == choose(sb, norm) for sa, sb in zip(a, b)) for norm in ("none", "chars")]
    return diff, f"{same[0]}/{len(a)}, {same[1]}/{len(a)}"


def table(results: dict[str, tuple[float, list[OptionScores]]], labels: list[int]) -> None:
    refs = [r for r in ("rows", "lm_eval") if r in results]
    head = ["scorer", "wall s", "items/s"] + [f"x vs {r}" for r in refs] + [f"max abs ΔLL vs {r}" for r in refs]
    head += [f"same pred vs {refs[-1]} (acc, acc_norm)", "acc", "acc_norm"]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for name, (wall, scores) in results.items():
        cells = [name, f"{wall:.2f}", f"{len(labels) / wall:.1f}"]
        cells += [f"{results[r][0] / wall:.2f}" for r in refs]
        cells += [f"{compare(scores, results[r][1])[0]:.1e}" for r in refs]
        cells.append(compare(scores, results[refs[-1]][1])[1])
        for norm in ("none", "chars"):
            cells.append(f"{sum(choose(s, norm) == y for s, y in zip(scores, labels)) / len(labels):.3f}")
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--items", type=int, default=500)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=2, help="timed runs per scorer; the table shows the median")
    p.add_argument("--items-per-step", type=int, default=8, help="cached: items per forward; rows: rows per forward")
    p.add_argument("--train-steps", type=int, default=60, help="warm-up training steps (0: random weights)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    words, sentences = make_text(args.seed, 4000)
    model, tok = build_model(sentences, args.train_steps, args.seed)
    items = make_items(tok, words, sentences, args.items, args.seed)
    ctx_len = statistics.mean(len(tok(c)["input_ids"]) for c, _, _ in items)
    opt_len = statistics.mean(len(tok(" " + ch, add_special_tokens=False)["input_ids"]) for _, chs, _ in items
                              for ch in chs)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    print(f"model: Llama {params:.1f}M parameters, vocab {len(tok)}; {len(items)} items x 4 options, context "
          f"{ctx_len:.0f} tokens, option {opt_len:.1f} tokens on average; {args.threads} threads; "
          f"load average {os.getloadavg()[0]:.2f}")
    step = args.items_per_step
    scorers = {"cached": lambda subset: instill_scorer(model, tok, subset, True, step),
               "rows": lambda subset: instill_scorer(model, tok, subset, False, step)}
    if importlib.util.find_spec("lm_eval") is None:
        print("lm_eval is not importable: no harness column (pip install -e '.[bench]')")
    else:
        scorers["lm_eval"] = lambda subset: lm_eval_scorer(model, tok, subset, step)
    results = {}
    for name, make in scorers.items():
        make(items[:16])()  # warm-up: first-call costs stay out of the numbers
        results[name] = timed(make(items), args.repeats)
        print(f"{name}: {results[name][0]:.2f} s")
    table(results, [y for _, _, y in items])
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
