#!/usr/bin/env python
"""Super-NaturalInstructions' sanity baselines beside a model's predictions, from one predictions.jsonl.

ROUGE-L rewards overlap, and many SNI test tasks (question rewriting, title generation) keep much of their input, so
SNI reports "copying the instance input" as a baseline. This prints, per cluster and overall, the model's ROUGE-L and
exact match, that baseline's, and how often the model's answer *is* its input (after SNI's normalization), so a gain
can be read against what copying alone would score.

    python tools/sni_baselines.py runs/gemma_sni/eval/tuned/predictions.jsonl [runs/gemma_sni/eval/base/predictions.jsonl ...]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

from instill.evaluate.metrics import exact_match, mean_x100, normalize_answer, rouge_l

MARK = "Now complete the following example -\nInput: "  # the Tk-Instruct encoding's last instance


def instance_input(prompt: str) -> str | None:
    """The asked instance's input in a Tk-Instruct prompt; None when the prompt is not one.

    >>> instance_input("Definition: d\\n\\nNow complete the following example -\\nInput: x y.\\nOutput: ")
    'x y.'
    """
    at = prompt.rfind(MARK)
    if at < 0:
        return None
    return re.sub(r"\n ?Output: ?$", "", prompt[at + len(MARK):])


def rows_of(path: Path) -> list[dict]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        p = json.loads(line)
        x = instance_input(p["prompt"][-1]["content"])
        if x is None:
            sys.exit(f"{path}:{n}: not a Tk-Instruct prompt (no '{MARK.splitlines()[0]}')")
        rows.append({"cluster": p["cluster"], "pred": p["prediction"] or "", "input": x, "refs": p["references"]})
    return rows


def table(rows: list[dict]) -> dict[str, dict[str, float]]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        groups[r["cluster"]].append(r)
    groups["overall"] = rows
    out = {}
    for name, rs in groups.items():
        out[name] = {
            "n": len(rs),
            "rouge_l": mean_x100(rouge_l(r["pred"], r["refs"]) for r in rs),
            "exact_match": mean_x100(exact_match(r["pred"], r["refs"]) for r in rs),
            "copy_input_rouge_l": mean_x100(rouge_l(r["input"], r["refs"]) for r in rs),
            "copy_input_exact_match": mean_x100(exact_match(r["input"], r["refs"]) for r in rs),
            "answer_is_input": mean_x100(float(normalize_answer(r["pred"]) == normalize_answer(r["input"])) for r in rs),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("predictions", nargs="+", type=Path)
    args = ap.parse_args()
    for path in args.predictions:
        if not path.is_file():
            sys.exit(f"{path}: file not found")
        t = table(rows_of(path))
        print(f"\n{path}\n")
        print("| cluster | n | ROUGE-L | EM | copy-input ROUGE-L | copy-input EM | answer is the input, % |")
        print("|---|---|---|---|---|---|---|")
        for name, r in sorted(t.items(), key=lambda kv: (kv[0] == "overall", kv[0])):
            print(f"| {name} | {r['n']} | {r['rouge_l']:.1f} | {r['exact_match']:.1f} | {r['copy_input_rouge_l']:.1f} | "
                  f"{r['copy_input_exact_match']:.1f} | {r['answer_is_input']:.1f} |")


if __name__ == "__main__":
    main()
