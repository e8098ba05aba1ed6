"""Speed and memory features that must not change what is learned: length grouping, token budgets, packing without
cross-example attention, the chunked loss head, activation checkpointing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml

from instill.config import Recipe, load_recipe
from instill.errors import InstillError
from instill.modeling import load_pretrained
from instill.tokenize import IGNORE_INDEX, Encoded
from instill.train.batching import BatchStream, GroupedStream, grouped_batches
from instill.train.loop import setup, train, train_step
from instill.train.loss import chunkable_head, count_loss_tokens, summed_loss
from instill.train.packing import best_fit_decreasing, collate_packed, collate_padded, collate_unmasked

X = IGNORE_INDEX


def _examples(n: int = 7, seed: int = 0) -> list[Encoded]:
    """Sequences of different lengths; the first half of each is prompt (label -100)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for k in range(n):
        length = int(torch.randint(4, 30, (1,), generator=g))
        ids = torch.randint(5, 300, (length,), generator=g).tolist()
        out.append(Encoded(ids, [X] * (length // 2) + ids[length // 2 :]))
    return out


def _token_losses(model, batch) -> torch.Tensor:
    """(R, T-1) cross-entropy of every position against the next label (0 where the label is -100)."""
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    logits = model(**inputs, use_cache=False).logits[:, :-1]
    labels = batch["labels"][:, 1:]
    return F.cross_entropy(logits.transpose(1, 2), labels, ignore_index=X, reduction="none")


def _packed_per_example(model, seqs, row_length, **extra) -> list[float]:
    batch = collate_packed(seqs, pad_id=0, row_length=row_length)
    assert len(batch["input_ids"]) < len(seqs)  # several sequences do share a row
    per_token = _token_losses(model, {**batch, **extra})
    rows = best_fit_decreasing([len(e.input_ids) for e in seqs], row_length)
    out = [0.0] * len(seqs)
    for r, row in enumerate(rows):
        at = 0
        for i in row:  # position t predicts t+1: sequence i's losses sit at [at, at + n - 1)
            out[i] = float(per_token.detach()[r, at : at + len(seqs[i].input_ids) - 1].sum())
            at += len(seqs[i].input_ids)
    return out


@pytest.fixture(scope="module", params=["sdpa", "eager"])
def llama64(request, tiny_llama_dir):
    """The tiny Llama in float64, so equal layouts agree to rounding."""
    model = load_pretrained(str(tiny_llama_dir)).model.double().eval()
    model.set_attn_implementation(request.param)
    return model


def test_packed_grouped_and_padded_give_the_same_per_example_loss(llama64):
    seqs = _examples()
    padded = _token_losses(llama64, collate_padded(seqs, pad_id=0)).sum(1).tolist()
    unmasked = _token_losses(llama64, collate_unmasked(seqs, pad_id=0)).sum(1).tolist()
    packed = _packed_per_example(llama64, seqs, row_length=48)
    assert unmasked == pytest.approx(padded, rel=1e-5, abs=1e-9)
    assert packed == pytest.approx(padded, rel=1e-5, abs=1e-9)


def test_an_attention_mask_on_packed_rows_would_leak_across_examples(llama64):
    """The test above can fail: an all-ones 2D mask switches off transformers' packed-sequence detection."""
    seqs = _examples()
    padded = _token_losses(llama64, collate_padded(seqs, pad_id=0)).sum(1).tolist()
    width = collate_packed(seqs, 0, 48)["input_ids"].shape
    leaked = _packed_per_example(llama64, seqs, 48, attention_mask=torch.ones(width, dtype=torch.long))
    assert leaked != pytest.approx(padded, rel=1e-3)


def test_packed_labels_mask_each_first_token_and_positions_restart():
    seqs = [Encoded([1, 2, 3], [X, 2, 3]), Encoded([4, 5], [4, 5]), Encoded([6, 7, 8, 9], [X, X, 8, 9])]
    batch = collate_packed(seqs, pad_id=0, row_length=6)
    assert batch.keys() == {"input_ids", "position_ids", "labels"}  # no attention mask
    assert batch["input_ids"].tolist() == [[6, 7, 8, 9, 4, 5], [1, 2, 3, 0, 0, 0]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 3, 0, 1], [0, 1, 2, 0, 1, 2]]
    assert batch["labels"].tolist() == [[X, X, 8, 9, X, 5], [X, 2, 3, X, X, X]]


def test_best_fit_decreasing_respects_capacity():
    lengths = [int(x) for x in torch.randint(1, 50, (200,), generator=torch.Generator().manual_seed(1))]
    bins = best_fit_decreasing(lengths, 64)
    assert sorted(i for b in bins for i in b) == list(range(200))
    assert all(sum(lengths[i] for i in b) <= 64 for b in bins)
    assert len(bins) <= 1.1 * sum(lengths) / 64 + 1  # nearly full rows


def test_chunked_head_projects_only_loss_positions(tiny_llama_dir):
    model = load_pretrained(str(tiny_llama_dir)).model.double()
    head, why = chunkable_head(model)
    assert head is model.get_output_embeddings(), why
    rows: list[int] = []
    hook = head.register_forward_hook(lambda m, args, out: rows.append(args[0].reshape(-1, args[0].shape[-1]).shape[0]))
    batch = collate_unmasked(_examples(), pad_id=0)
    loss = summed_loss(model, batch, is_seq2seq=False, head=head, chunk=16)
    loss.backward()
    hook.remove()
    chunked_grads = [p.grad.clone() for p in model.parameters()]
    n_loss = count_loss_tokens(batch, is_seq2seq=False)
    assert sum(rows) == n_loss and max(rows) <= 16  # the rows that reach the vocabulary: loss positions only
    model.zero_grad()
    full = summed_loss(model, batch, is_seq2seq=False)  # the model's own forward, all logits
    full.backward()
    assert loss.item() == pytest.approx(full.item(), rel=1e-10)
    for got, want in zip(chunked_grads, (p.grad for p in model.parameters())):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)


def test_chunked_head_refuses_a_model_whose_logits_are_not_the_projection():
    from transformers import Gemma2Config, Gemma2ForCausalLM

    cfg = Gemma2Config(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                       num_key_value_heads=2, head_dim=8, final_logit_softcapping=1.0)
    head, why = chunkable_head(Gemma2ForCausalLM(cfg))
    assert head is None and "not the output layer" in why


def test_grouped_stream_covers_each_sequence_once_per_epoch_and_is_a_function_of_step():
    lengths = [int(x) for x in torch.randint(3, 200, (300,), generator=torch.Generator().manual_seed(2))]
    stream = GroupedStream(lengths, batch_size=8, grad_accum=2, world_size=1, seed=5, window=64)
    epoch = stream.epoch(0)
    assert sorted(i for b in epoch for i in b) == list(range(300))
    again = GroupedStream(lengths, batch_size=8, grad_accum=2, world_size=1, seed=5, window=64)
    assert list(again.micro_batches(7, 0)) == list(stream.micro_batches(7, 0))  # resume: no history needed
    two = GroupedStream(lengths, batch_size=8, grad_accum=1, world_size=2, seed=5, window=64)
    assert [b for r in (0, 1) for b in two.micro_batches(7, r)] == list(stream.micro_batches(7, 0))
    # length grouping wastes far less padding than random batches
    waste = lambda batches: 1 - sum(lengths) / sum(len(b) * max(lengths[i] for i in b) for b in batches)  # noqa: E731
    random_batches = BatchStream(300, 8, 1, 1, seed=5)
    assert waste(epoch) < 0.15 < 0.3 < waste([next(random_batches.micro_batches(s, 0)) for s in range(37)])


@pytest.mark.parametrize("packed", [False, True])
def test_token_budget_bounds_each_batch(packed):
    lengths = [int(x) for x in torch.randint(3, 200, (300,), generator=torch.Generator().manual_seed(3))]
    batches = grouped_batches(lengths, seed=0, window=100, batch_size=1, budget=400, packed=packed)
    cost = (lambda b: sum(lengths[i] for i in b)) if packed else (lambda b: len(b) * max(lengths[i] for i in b))
    assert all(cost(b) <= 400 for b in batches)
    assert sum(cost(b) for b in batches) / len(batches) > 300  # budgets are nearly filled


def test_budget_below_max_length_and_packed_seq2seq_are_refused(tmp_path, tiny_t5_dir, alpaca_file, make_recipe):
    with pytest.raises(InstillError, match=r"train.tokens_per_batch=100 is less than data.max_length=512"):
        load_recipe(None, ["data.train=[{format: alpaca, path: x.json}]", "train.tokens_per_batch=100"])
    cfg = make_recipe(tmp_path / "t5", alpaca_file, str(tiny_t5_dir), max_steps=1, batching="packed")
    with pytest.raises(InstillError, match="batching=packed needs a decoder-only model"):
        setup(Recipe.model_validate(cfg))


def _step(tmp_path, name, tiny_llama_dir, alpaca_file, make_recipe, **train_cfg):
    """Loss and gradient of step 0 over the padded stream's first 8 sequences, in the given layout; fp32, whatever
    `auto` is on this CPU (under bf16 the layouts' roundings differ by ~1e-2 of a gradient)."""
    cfg = make_recipe(tmp_path / name, alpaca_file, str(tiny_llama_dir), max_steps=1, batch_size=8, precision="fp32",
                      **train_cfg)
    s = setup(Recipe.model_validate(cfg))
    s.stream = BatchStream(len(s.train_data), 8 // s.recipe.train.grad_accum, s.recipe.train.grad_accum, 1, 0)
    s.optimizer.zero_grad = lambda set_to_none=True: None  # keep the gradient for inspection
    loss, tokens = train_step(s, 0)
    return loss, tokens, [p.grad.clone() for p in s.model.parameters()]


def test_one_step_is_the_same_in_every_layout(tmp_path, tiny_llama_dir, alpaca_file, make_recipe):
    """Padded + full head (the reference), grouped, packed (2 micro-batches), activation checkpointing: the same
    loss, the same tokens and the same gradient."""
    ref = _step(tmp_path, "ref", tiny_llama_dir, alpaca_file, make_recipe, batching="padded", loss_head="full")
    for name, extra in [("grouped", {"batching": "grouped"}), ("packed", {"batching": "packed", "grad_accum": 2}),
                        ("ckpt", {"batching": "packed", "activation_checkpointing": True})]:
        loss, tokens, grads = _step(tmp_path, name, tiny_llama_dir, alpaca_file, make_recipe, **extra)
        assert loss == pytest.approx(ref[0], rel=1e-5) and tokens == ref[1], name
        for g, h in zip(grads, ref[2]):
            torch.testing.assert_close(g, h, rtol=1e-4, atol=1e-6, msg=name)


def test_validation_loss_is_collated_as_training_is(tmp_path, tiny_llama_dir, alpaca_file, make_recipe, monkeypatch):
    """Validation micro-batches go through train.batching's own collate (packed rows with position ids, right-padded
    rows without a mask, padded rows with one), and the loss is the same number in every layout (fp32). A mask
    added to packed rows lets packed sequences attend to each other: the number would change."""
    import dataclasses

    from instill.train.batching import BATCHINGS
    from instill.train.loop import validation_loss

    def spy(name, layouts, add_mask=False):
        collate = BATCHINGS[name].collate

        def wrapped(seqs, pad, row_length):
            batch = collate(seqs, pad, row_length)
            if add_mask:
                batch["attention_mask"] = torch.ones_like(batch["input_ids"])
            layouts.append((len(seqs), sorted(batch)))
            return batch
        monkeypatch.setitem(BATCHINGS, name, dataclasses.replace(BATCHINGS[name], collate=wrapped))

    keys = {"padded": ["attention_mask", "input_ids", "labels"], "grouped": ["input_ids", "labels"],
            "packed": ["input_ids", "labels", "position_ids"]}
    losses = {}
    for name in keys:
        cfg = make_recipe(tmp_path / name, alpaca_file, str(tiny_llama_dir), max_steps=1, batch_size=3,
                          precision="fp32", batching=name)
        cfg["data"]["validation_fraction"] = 0.4
        s = setup(Recipe.model_validate(cfg))
        layouts = []
        spy(name, layouts)
        losses[name] = validation_loss(s)
        assert sum(n for n, _ in layouts) == len(s.val_data) >= 4 and {tuple(k) for _, k in layouts} == {tuple(keys[name])}
    assert losses["grouped"] == pytest.approx(losses["padded"], abs=1e-5)
    assert losses["packed"] == pytest.approx(losses["padded"], abs=1e-5)
    spy("packed", [], add_mask=True)
    assert abs(validation_loss(s) - losses["packed"]) > 1e-4  # ten times the tolerance above


def test_packed_training_under_a_budget_lowers_loss(tmp_path, tiny_llama_dir, alpaca_file, make_recipe):
    cfg = make_recipe(tmp_path / "run", alpaca_file, str(tiny_llama_dir), max_steps=40, batching="packed",
                      tokens_per_batch=128, grad_accum=2)
    train(Recipe.model_validate(cfg))
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines() if "loss" in x]
    assert rows[-1]["loss"] < 0.2 * rows[0]["loss"]


@pytest.mark.slow
def test_packed_two_processes_match_one(tmp_path, tiny_llama_dir, alpaca_file, make_recipe):
    """Packed micro-batches under a token budget: 2 processes x 1 micro-batch = 1 process x 2 micro-batches."""
    one = make_recipe(tmp_path / "one", alpaca_file, str(tiny_llama_dir), max_steps=3, batching="packed",
                      tokens_per_batch=96, grad_accum=2)
    train(Recipe.model_validate(one))
    two = make_recipe(tmp_path / "two", alpaca_file, str(tiny_llama_dir), max_steps=3, batching="packed",
                      tokens_per_batch=96)
    recipe = tmp_path / "two.yaml"
    recipe.write_text(yaml.safe_dump(two))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "instill.cli", "train",
           str(recipe)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    read = lambda d: [json.loads(x)["loss"] for x in (d / "metrics.jsonl").read_text().splitlines() if '"loss"' in x]  # noqa: E731
    assert read(tmp_path / "two") == pytest.approx(read(tmp_path / "one"), rel=1e-5)


def test_bench_inputs_are_deterministic():
    """bench/train_throughput.py builds its data from a seed; the same seed gives the same rows."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
    try:
        import train_throughput as bench
    finally:
        sys.path.pop(0)
    a, b = bench.make_rows(20, seed=3), bench.make_rows(20, seed=3)
    assert a == b and a != bench.make_rows(20, seed=4)
