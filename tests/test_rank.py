"""Rank classification: the cached scorer gives the per-row scores, the split follows lm-evaluation-harness, the
choice follows the model."""

from __future__ import annotations

import logging

import pytest
import torch
from torch import nn

from instill.errors import InstillError
from instill.evaluate.rank import OptionScores, choose, rank_classify, score_options, split_context

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def llama(tiny_llama_dir):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(tiny_llama_dir).eval()


@pytest.fixture(scope="module")
def t5(tiny_t5_dir):
    from transformers import AutoModelForSeq2SeqLM

    return AutoModelForSeq2SeqLM.from_pretrained(tiny_t5_dir).eval()


def _items(vocab: int, n: int = 9, seed: int = 0) -> list[tuple[list[int], list[list[int]]]]:
    """Contexts of 1-40 tokens, 1-4 options of 1-6 tokens each."""
    g = torch.Generator().manual_seed(seed)

    def ids(lo: int, hi: int) -> list[int]:
        return torch.randint(5, vocab, (int(torch.randint(lo, hi, (1,), generator=g)),), generator=g).tolist()

    return [(ids(1, 41), [ids(1, 7) for _ in range(int(torch.randint(1, 5, (1,), generator=g)))]) for _ in range(n)]


def _hand_loglik(model, context: list[int], option: list[int]) -> float:
    """One unpadded full forward, log_softmax over every position, the option's tokens picked out."""
    with torch.no_grad():
        if model.config.is_encoder_decoder:
            start = model.config.decoder_start_token_id
            logits = model(input_ids=torch.tensor([context]), decoder_input_ids=torch.tensor([[start] + option[:-1]]))
            logp = torch.log_softmax(logits.logits[0].float(), dim=-1)  # (N, V)
            return sum(logp[t, tok].item() for t, tok in enumerate(option))
        logp = torch.log_softmax(model(torch.tensor([context + option])).logits[0].float(), dim=-1)  # (T, V)
        return sum(logp[len(context) - 1 + t, tok].item() for t, tok in enumerate(option))


@pytest.mark.parametrize("which", ["llama", "t5"])
def test_cache_and_rows_give_the_hand_computed_logliks(which, request):
    model = request.getfixturevalue(which)
    items = _items(model.config.vocab_size)
    cached = score_options(model, items, items_per_step=4)
    rows = score_options(model, items, items_per_step=5, use_cache=False)
    for (context, options), c, r in zip(items, cached, rows):
        hand = [_hand_loglik(model, context, o) for o in options]
        assert c.loglik == pytest.approx(hand, abs=1e-5)
        assert r.loglik == pytest.approx(hand, abs=1e-5)
        assert c.greedy == r.greedy and c.n_tokens == [len(o) for o in options]


def test_batching_does_not_change_scores(llama):
    items = _items(llama.config.vocab_size, n=6, seed=1)
    one = score_options(llama, items, items_per_step=1)
    many = score_options(llama, items, items_per_step=6)
    assert [s.loglik for s in one] == [pytest.approx(s.loglik, abs=1e-5) for s in many]


def _prefers(tokenizer, text: str, base_dir):
    """The tiny Llama with its output layer replaced by a constant: the tokens of `text` get logit 4, others 0."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base_dir).eval()
    head = nn.Linear(model.config.hidden_size, model.config.vocab_size, bias=True)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    with torch.no_grad():
        head.bias[tokenizer(text, add_special_tokens=False)["input_ids"]] = 4.0
    model.lm_head = head
    return model


def test_picks_the_option_the_model_prefers(bpe_tokenizer, tiny_llama_dir):
    model = _prefers(bpe_tokenizer, " Paris", tiny_llama_dir)
    options = ["London", "Paris", "Rome", "Paris"]
    scores = rank_classify(model, bpe_tokenizer, ["The capital of France is "], [options])[0]
    assert choose(scores) == 1  # Paris, and the identical option 3 ties with it: the first wins
    assert scores.loglik[1] == scores.loglik[3] and scores.greedy == [False, True, False, True]
    assert scores.n_chars == [6, 5, 4, 5]


def test_identical_options_tie_to_the_first(llama, bpe_tokenizer):
    scores = rank_classify(llama, bpe_tokenizer, ["Add 2 and 3.", "Hello"], [[" positive"] * 3, [" there"]])
    assert scores[0].loglik[0] == scores[0].loglik[1] == scores[0].loglik[2]
    assert choose(scores[0]) == 0 and choose(scores[1]) == 0  # an item with one option is fine


def test_chars_normalization_changes_the_choice(bpe_tokenizer, tiny_llama_dir):
    model = _prefers(bpe_tokenizer, "", tiny_llama_dir)  # every token equally likely: loglik = -n_tokens * log V
    options = ["Paris", "The capital of France"]  # 1 token in 5 chars, 4 tokens in 21 chars
    scores = rank_classify(model, bpe_tokenizer, ["Answer: "], [options])[0]
    assert scores.n_tokens == [1, 4]
    assert choose(scores, "none") == 0 and choose(scores, "tokens") == 0  # -log V per token either way
    assert choose(scores, "chars") == 1  # -log V / 5 < -4 log V / 21


def test_chars_needs_the_lengths():
    with pytest.raises(InstillError, match="characters"):
        choose(OptionScores(loglik=[-1.0], n_tokens=[1], n_chars=[0], greedy=[True]), "chars")


def test_split_moves_trailing_space_onto_the_option(bpe_tokenizer):
    tok = bpe_tokenizer
    ctx, opt = split_context(tok, "The capital of France is ", "Paris")
    assert (ctx, opt) == split_context(tok, "The capital of France is", " Paris")
    assert ctx == tok("The capital of France is")["input_ids"]
    assert opt == tok(" Paris", add_special_tokens=False)["input_ids"]
    assert split_context(CharTokenizer(), "ab ", "c", is_seq2seq=True) == ([1, 97, 98], [32, 99])  # enc(option)


def test_split_takes_the_option_from_the_joined_text(bpe_tokenizer):
    # "The capital is Par" ends in ...Par|is, but "The capital is Paris" ends in ...Paris: the join swallows "is".
    tok = bpe_tokenizer
    assert tok("The capital is Paris")["input_ids"][-1] == tok(" Paris", add_special_tokens=False)["input_ids"][0]
    with pytest.raises(InstillError, match="option 'is' has no tokens of its own"):
        split_context(tok, "The capital is Par", "is")
    with pytest.raises(InstillError, match="option '' has no tokens"):
        split_context(tok, "The capital is", "")


class CharTokenizer:
    """One id per character, BOS (1) in front when special tokens are added."""

    bos_token_id, eos_token_id = 1, 2

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict:
        return {"input_ids": [1] * add_special_tokens + [ord(c) for c in text]}


def test_split_adds_bos_to_the_context_only():
    assert split_context(CharTokenizer(), "ab ", "c") == ([1, 97, 98], [32, 99])
    assert split_context(CharTokenizer(), "", "c") == ([1], [99])  # an empty context is BOS, as in the harness


def test_rank_classify_names_the_item_and_option(llama, bpe_tokenizer):
    with pytest.raises(InstillError, match=r"item 1: option 'is'"):
        rank_classify(llama, bpe_tokenizer, ["Hello", "The capital is Par"], [[" there"], [" x", "is"]])
    with pytest.raises(InstillError, match="item 0: no options"):
        score_options(llama, [([5, 6], [])])
    with pytest.raises(InstillError, match="item 0, option 1: no tokens"):
        score_options(llama, [([5, 6], [[7], []])])


def test_long_context_is_cut_from_the_left(llama, caplog):
    limit = llama.config.max_position_embeddings  # 256
    context, options = list(range(5, 5 + 300)), [[9, 10, 11], [12]]
    with caplog.at_level(logging.WARNING, logger="instill.evaluate"):
        cut = score_options(llama, [(context, options)])[0]
    assert "1 of 1 contexts were cut" in caplog.text
    kept = context[-(limit - 3 + 1):]  # the longest option's last token is never fed
    assert cut.loglik == pytest.approx(score_options(llama, [(kept, options)])[0].loglik, abs=1e-5)
    with pytest.raises(InstillError, match="longer than the model's 256 positions"):
        score_options(llama, [([5], [[7] * 257])])


def test_chat_options_are_the_tokens_training_puts_after_the_prompt_across_a_bpe_merge(merging_tok):
    """Chat style: the generation prompt ends in "assistant\\n" and the tokenizer merges "\\n" + "P". lm-eval's rule,
    enc(prompt + option)[len(enc(prompt)):], would score "aris" for "Paris" (the "P" went into the merged token
    the prompt ids do not have); training put "P", "a", "r", "i", "s" after the prompt ids, and that is what is
    scored. Raw style, a base model used as the harness uses it, keeps the harness's rule."""
    from types import SimpleNamespace

    from instill.chat_format import chat_format_for
    from instill.evaluate.items import EvalRow
    from instill.evaluate.predict import option_requests, raw_prompt
    from instill.records import chat_to_conversation
    from instill.tokenize import encode_causal

    tok, fmt = merging_tok, chat_format_for(merging_tok)
    cm = SimpleNamespace(tokenizer=tok, fmt=fmt, is_seq2seq=False)
    question = [{"role": "user", "content": "What is the capital of France?"}]
    item = EvalRow(task="t", cluster="c", messages=question, references=["Paris"], answer="Paris",
                    options=["Paris", "France"])
    ctx, options = option_requests(cm, item, "chat")
    prompt = fmt.render(tok, question, add_generation_prompt=True)
    lm_eval_slice = tok(prompt + "Paris", add_special_tokens=False)["input_ids"][len(ctx):]
    assert tok.convert_ids_to_tokens(lm_eval_slice) == ["a", "r", "i", "s"]  # where the rule goes wrong
    assert [tok.convert_ids_to_tokens(o) for o in options] == [list("Paris"), list("France")]
    for option, ids in zip(item.options, options):
        trained = encode_causal(tok, fmt, chat_to_conversation([*question, {"role": "assistant", "content": option}]),
                                max_length=256).input_ids
        assert trained[: len(ctx)] == ctx and trained[len(ctx) : len(ctx) + len(ids)] == ids
    raw_ctx, raw_options = option_requests(cm, item, "raw")
    assert (raw_ctx, raw_options[0]) == split_context(tok, raw_prompt(item), "Paris")
    assert tok.convert_ids_to_tokens(raw_options[0]) == ["\nP", "a", "r", "i", "s"]  # "\n" moved onto the option
