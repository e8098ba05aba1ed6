"""Benchmark: Self-Instruct's novelty filter (reject a candidate whose ROUGE-L F1 with any seed or kept instruction
is > 0.7), instill's rapidfuzz-backed filter against the rouge-score loop, on the same candidate stream.

    python bench/selfinstruct_novelty.py                      # both parts
    python bench/selfinstruct_novelty.py --compare 1500 --pool 52000

Part 1 runs the rouge-score loop as the paper's script does (every pair scored with rouge-score's LCS, so the
top-10 neighbours and the mean are known) and instill's filter (neighbours=10) on one stream, and prints both
times, the ratio and whether every keep/reject decision is identical (both on one thread). Part 2 runs instill's
filter alone until the pool holds --pool instructions, with --workers threads (default 2, this machine's cores).
Candidates are synthetic instruction-like sentences from word lists (seeded), with near-copies mixed in so that
the filter has work to do; they arrive in batches of 13, as one request's.
"""

from __future__ import annotations

import argparse
import os
import random
import time

from rouge_score.rouge_scorer import _score_lcs

from instill.selfinstruct.novelty import NoveltyIndex, rouge_tokens

VERBS = ("describe explain list summarize compare classify suggest rewrite translate identify generate evaluate "
         "outline rank name predict convert find write create design plan analyze recommend estimate choose "
         "argue define illustrate paraphrase").split()
DETS = "a the some three five two several ten four six".split()
ADJS = ("important common unusual simple historical modern healthy cheap famous quiet strange local seasonal "
        "digital ancient popular small large friendly formal funny serious short long creative").split()
NOUNS = ("recipes rivers habits inventions poems cities sports tools planets songs languages jobs games trees "
         "markets proverbs bridges festivals apps birds emails stories laws movies books diets cars schools "
         "islands museums").split()
TAILS = ("for a beginner|in three sentences|in a short list|for a school report|with examples|in plain words|"
         "for a friend|and give reasons|from the given text|in one paragraph|for children|as a table|"
         "using simple language|with pros and cons|in the style of a news report|for a job interview|"
         "that a tourist would enjoy|without technical terms|in under fifty words|as a short story").split("|")
TOPICS = ("about climate|about money|about health|about travel|about history|about science|about food|"
          "about music|about work|about school|about sport|about the ocean|about space|about cities").split("|")


def candidate_stream(rng: random.Random, seeds: list[str]):
    """Endless instruction-like sentences; about one in five is a near-copy of an earlier one (1-3 words changed)."""
    recent: list[str] = list(seeds)
    while True:
        if recent and rng.random() < 0.2:
            words = rng.choice(recent).split()
            for _ in range(rng.randint(1, 3)):
                words[rng.randrange(len(words))] = rng.choice(ADJS + NOUNS)
            s = " ".join(words)
        else:
            s = (f"{rng.choice(VERBS).capitalize()} {rng.choice(DETS)} {rng.choice(ADJS)} {rng.choice(NOUNS)} "
                 f"{rng.choice(TOPICS)} {rng.choice(TAILS)}.")
        recent.append(s)
        if len(recent) > 5000:
            recent = recent[-2000:]
        yield s


def rouge_score_loop(candidates: list[str], seeds: list[str], threshold: float = 0.7) -> list[bool]:
    """The paper's way: score the candidate against every pool item with rouge-score (pre-tokenized), keep it
    when the max is <= threshold, then keep the top-10 and the mean (computed here to match the work done)."""
    pool = [rouge_tokens(s) for s in seeds]
    keep = []
    for c in candidates:
        tokens = rouge_tokens(c)
        scores = [_score_lcs(tokens, p).fmeasure for p in pool]
        ok = max(scores) <= threshold
        if ok:
            sorted(range(len(scores)), key=scores.__getitem__)[-10:]  # top-10 neighbours
            sum(scores) / len(scores)  # mean similarity
            pool.append(tokens)
        keep.append(ok)
    return keep


def instill_filter(candidates, seeds: list[str], neighbours: int, batch: int = 13, until: int | None = None,
                   workers: int = 1):
    index = NoveltyIndex(neighbours=neighbours, workers=workers)
    index.add_many(seeds, seeds=True)
    keep, seen = [], 0
    it = iter(candidates)
    while until is None or len(index) < until:
        chunk = [c for _, c in zip(range(batch), it)]
        if not chunk:
            break
        keep += [v.keep for v in index.check(chunk, limit=None if until is None else until - len(index))]
        seen += len(chunk)
    return keep, len(index), seen


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--compare", type=int, default=1500, help="candidates in the head-to-head (0: skip)")
    ap.add_argument("--pool", type=int, default=52000, help="pool size for the filter alone (0: skip)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2, help="threads scoring pool chunks in the filter alone")
    ap.add_argument("--neighbours", type=int, nargs="+", default=[10, 0],
                    help="neighbours settings for the filter alone (10: the paper's top-10 and mean; 0: decisions only)")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    gen = candidate_stream(rng, [])
    seeds = [next(gen) for _ in range(175)]
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.compare:
        cands = [next(gen) for _ in range(args.compare)]
        t0 = time.perf_counter()
        ref = rouge_score_loop(cands, seeds)
        t_ref = time.perf_counter() - t0
        t0 = time.perf_counter()
        fast, _, _ = instill_filter(cands, seeds, neighbours=10)
        t_fast = time.perf_counter() - t0
        fast0, _, _ = instill_filter(cands, seeds, neighbours=0)
        print(f"{len(cands)} candidates against 175 seeds + everything kept ({sum(ref)} kept, {len(ref) - sum(ref)} rejected)")
        print(f"rouge-score loop: {t_ref:.2f} s")
        print(f"instill filter:   {t_fast:.3f} s (neighbours=10, one thread)")
        print(f"ratio: {t_ref / t_fast:.0f}x")
        print(f"identical decisions: {ref == fast and ref == fast0} ({sum(a == b for a, b in zip(ref, fast))}/{len(ref)}; "
              f"neighbours=0: {sum(a == b for a, b in zip(ref, fast0))}/{len(ref)})")
    if args.pool:
        for k in args.neighbours:
            stream = candidate_stream(random.Random(args.seed + 1), [])
            t0, c0 = time.perf_counter(), time.process_time()
            keep, size, seen = instill_filter(stream, seeds, neighbours=k, until=args.pool, workers=args.workers)
            dt, cpu = time.perf_counter() - t0, time.process_time() - c0
            print(f"filter alone, pool grown to {size} instructions (175 seeds + {sum(keep)} kept of {seen} "
                  f"candidates), neighbours={k}, workers={args.workers}: {dt:.1f} s wall, {cpu:.1f} s CPU")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
