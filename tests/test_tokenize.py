"""Loss masks token by token, the exact prompt/response boundary, truncation, encoder-decoder targets."""

from __future__ import annotations

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from instill.chat_format import CHATML_TEMPLATE, DEFAULT_TEMPLATE, ChatFormat, chat_format_for
from instill.errors import InstillError
from instill.records import Example, chat_to_conversation, example_to_conversation
from instill.tokenize import IGNORE_INDEX, encode_causal, encode_prompt, encode_seq2seq, split_chat

X = IGNORE_INDEX

# Words as tokens, so expected ids can be written out by hand.
SPACED_TEMPLATE = (
    "{% for m in messages %}{{ '<s> ' + m['role'] + ' ' + m['content'] + ' </s> ' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<s> assistant ' }}{% endif %}"
)
WORDS = ["<pad>", "<unk>", "<s>", "</s>", "system", "user", "assistant", "hi", "there", "hello",
         "how", "are", "you", "fine", "bye", "be", "brief"]


@pytest.fixture(scope="module")
def word_tok():
    tk = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, eos_token="</s>", pad_token="<pad>", unk_token="<unk>")
    tok.chat_template = SPACED_TEMPLATE
    return tok


def ids(tok, words: str) -> list[int]:
    return [tok.convert_tokens_to_ids(w) for w in words.split()]


def test_single_turn_labels_exact(word_tok):
    fmt = chat_format_for(word_tok)
    conv = chat_to_conversation([{"role": "user", "content": "hi there"}, {"role": "assistant", "content": "hello"}])
    enc = encode_causal(word_tok, fmt, conv, max_length=64)
    assert enc.input_ids == ids(word_tok, "<s> user hi there </s> <s> assistant hello </s>")
    # loss on the response and its end-of-turn token, nowhere else
    assert enc.labels == [X] * 7 + ids(word_tok, "hello </s>")


def test_multi_turn_labels_exact_all_and_last(word_tok):
    fmt = chat_format_for(word_tok)
    chat = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "how are you"},
        {"role": "assistant", "content": "fine"},
    ]
    everything = "<s> system be brief </s> <s> user hi </s> <s> assistant hello </s> <s> user how are you </s> <s> assistant fine </s>"
    enc = encode_causal(word_tok, fmt, chat_to_conversation(chat), max_length=64)
    assert enc.input_ids == ids(word_tok, everything)
    expected = [X] * 11 + ids(word_tok, "hello </s>") + [X] * 8 + ids(word_tok, "fine </s>")
    assert enc.labels == expected
    last = encode_causal(word_tok, fmt, chat_to_conversation(chat, train_on="last"), max_length=64)
    assert last.input_ids == enc.input_ids
    assert last.labels == [X] * 21 + ids(word_tok, "fine </s>")


def test_mask_matches_transformers_generation_markers(bpe_tokenizer):
    """Our mask equals the assistant mask transformers computes from {% generation %} markers."""
    marked = (
        "{%- for m in messages -%}"
        "{%- if m['role'] == 'assistant' -%}{{ '<|im_start|>assistant\n' }}"
        "{%- generation -%}{{ m['content'] + '<|im_end|>' }}{%- endgeneration -%}{{ '\n' }}"
        "{%- else -%}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}{%- endif -%}"
        "{%- endfor -%}"
    )
    chat = [{"role": "user", "content": "What is the capital of France?"},
            {"role": "assistant", "content": "The capital of France is Paris."},
            {"role": "user", "content": "Add 2 and 3."},
            {"role": "assistant", "content": "The answer is 5."}]
    ref = bpe_tokenizer.apply_chat_template(chat, chat_template=marked, tokenize=True, return_dict=True,
                                            return_assistant_tokens_mask=True)
    ours = encode_causal(bpe_tokenizer, chat_format_for(bpe_tokenizer), chat_to_conversation(chat), max_length=256)
    # transformers' ids include the final "\n" after the last turn; ours stop at the end-of-turn token
    n = len(ours.input_ids)
    assert ours.input_ids == ref["input_ids"][:n]
    assert [int(lab != X) for lab in ours.labels] == ref["assistant_masks"][:n]


def test_boundary_is_exact_despite_bpe_merge(merging_tok):
    fmt = chat_format_for(merging_tok)
    chat = [{"role": "user", "content": "What is the capital of France?"}, {"role": "assistant", "content": "Paris"}]
    enc = encode_causal(merging_tok, fmt, chat_to_conversation(chat), max_length=256)
    prompt_text = fmt.render(merging_tok, chat[:1], add_generation_prompt=True)
    asked = merging_tok(prompt_text, add_special_tokens=False)["input_ids"]  # what generate() is given
    # Tokenizing the whole text at once merges "\n" of the prompt with "P" of the response:
    whole = merging_tok(fmt.render(merging_tok, chat, add_generation_prompt=False), add_special_tokens=False)["input_ids"]
    assert whole[: len(asked)] != asked
    # Segment-wise encoding keeps the prompt exactly as inference sees it, and the response starts at "P".
    assert encode_prompt(merging_tok, fmt, chat[:1]) == asked
    assert enc.input_ids[: len(asked)] == asked
    assert enc.labels[: len(asked)] == [X] * len(asked)
    response = merging_tok.convert_ids_to_tokens(enc.input_ids[len(asked) :])
    assert response == ["P", "a", "r", "i", "s", "<|im_end|>"]
    assert "".join(merging_tok.convert_ids_to_tokens(enc.input_ids)) == prompt_text + "Paris<|im_end|>"


def test_inference_prompt_is_prefix_of_training_ids_every_turn(bpe_tokenizer):
    fmt = chat_format_for(bpe_tokenizer)
    chat = [{"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello there"}, {"role": "assistant", "content": "Hello, how are you?"},
            {"role": "user", "content": "Add 2 and 3."}, {"role": "assistant", "content": "5"}]
    enc = encode_causal(bpe_tokenizer, fmt, chat_to_conversation(chat), max_length=256)
    for k in (2, 4):
        asked = encode_prompt(bpe_tokenizer, fmt, chat[:k])
        assert enc.input_ids[: len(asked)] == asked
        assert enc.labels[len(asked)] != X  # the first response token carries loss


def test_default_template_used_without_one_and_ends_with_eos(bpe_tokenizer):
    fmt = chat_format_for(bpe_tokenizer, template="default")
    assert fmt.template == DEFAULT_TEMPLATE and fmt.end_of_turn == bpe_tokenizer.eos_token
    conv = example_to_conversation(Example(instruction="Add 2 and 3.", output="5"))
    text = fmt.render(bpe_tokenizer, conv.chat(), add_generation_prompt=False)
    assert text == "### Instruction:\nAdd 2 and 3.\n\n### Response:\n5<|im_end|>\n\n"
    enc = encode_causal(bpe_tokenizer, fmt, conv, max_length=64)
    loss_text = bpe_tokenizer.decode([t for t, lab in zip(enc.input_ids, enc.labels) if lab != X])
    assert loss_text == "5<|im_end|>"


def test_template_without_end_of_turn_is_a_clear_error(bpe_tokenizer):
    fmt = ChatFormat(template=SPACED_TEMPLATE, end_of_turn="<|im_end|>")
    conv = example_to_conversation(Example(instruction="hi", output="hello"))
    with pytest.raises(InstillError, match="end-of-turn"):
        encode_causal(bpe_tokenizer, fmt, conv, max_length=64)


def test_long_prompt_is_cut_keeping_head_and_response(word_tok):
    fmt = chat_format_for(word_tok)
    chat = [{"role": "user", "content": " ".join(["hi"] * 30)}, {"role": "assistant", "content": "hello bye"}]
    enc = encode_causal(word_tok, fmt, chat_to_conversation(chat), max_length=12, keep_head=3)
    assert len(enc.input_ids) == 12
    assert enc.input_ids[:3] == ids(word_tok, "<s> user hi")  # instruction head kept
    assert enc.input_ids[-4:] == ids(word_tok, "assistant hello bye </s>")
    assert enc.labels[-3:] == ids(word_tok, "hello bye </s>") and enc.labels[:-3] == [X] * 9


def test_response_that_cannot_fit_is_dropped(word_tok):
    fmt = chat_format_for(word_tok)
    chat = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": " ".join(["hello"] * 20)}]
    assert encode_causal(word_tok, fmt, chat_to_conversation(chat), max_length=16) is None


def test_seq2seq_encoder_gets_prompt_decoder_gets_response(word_tok):
    fmt = chat_format_for(word_tok)
    chat = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "how are you"}, {"role": "assistant", "content": "fine"}]
    out = encode_seq2seq(word_tok, fmt, chat_to_conversation(chat), max_length=64, max_target_length=8)
    assert len(out) == 2  # one sequence per loss-bearing turn
    assert out[0].input_ids == ids(word_tok, "<s> user hi </s> <s> assistant")
    assert out[0].labels == ids(word_tok, "hello </s>")
    assert out[1].input_ids == ids(word_tok, "<s> user hi </s> <s> assistant hello </s> <s> user how are you </s> <s> assistant")
    assert out[1].labels == ids(word_tok, "fine </s>")
    assert encode_prompt(word_tok, fmt, chat[:3], is_seq2seq=True) == out[1].input_ids
    last = encode_seq2seq(word_tok, fmt, chat_to_conversation(chat, train_on="last"), 64, 8)
    assert [e.labels for e in last] == [ids(word_tok, "fine </s>")]


def test_split_chat_refuses_unstable_template(word_tok):
    unstable = "{{ messages | length }}{% for m in messages %} {{ m['content'] }} </s>{% endfor %}"
    fmt = ChatFormat(template=unstable, end_of_turn="</s>")
    chat = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    with pytest.raises(InstillError, match="renders turn"):
        split_chat(word_tok, fmt, chat, [False, True], add_generation_prompt=False)


def test_sentencepiece_style_prefix_is_not_added_to_a_response():
    """A Metaspace tokenizer marks the start of a text with "▁"; a response piece must not get that mark."""
    from tokenizers import trainers

    tk = Tokenizer(models.BPE(unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    corpus = ["user: What is the capital of France? assistant: Paris", "Paris is the capital"] * 50
    tk.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=120, special_tokens=["<unk>", "</s>", "<s>"]))
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, eos_token="</s>", unk_token="<unk>")
    fmt = ChatFormat(
        template="{% for m in messages %}{{ '<s>' + m['role'] + ':' + m['content'] + '</s>' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<s>assistant:' }}{% endif %}",
        end_of_turn="</s>",
    )
    chat = [{"role": "user", "content": "What is the capital of France?"}, {"role": "assistant", "content": "Paris"}]
    tokens = tok.convert_ids_to_tokens
    assert tokens(tok("Paris</s>", add_special_tokens=False)["input_ids"])[0].startswith("▁")  # alone: marked
    enc = encode_causal(tok, fmt, chat_to_conversation(chat), max_length=128)
    whole = tok(fmt.render(tok, chat, add_generation_prompt=False), add_special_tokens=False)["input_ids"]
    assert enc.input_ids == whole  # no merge crosses the boundary, so the pieces tokenize as the whole text does
    asked = tok(fmt.render(tok, chat[:1], add_generation_prompt=True), add_special_tokens=False)["input_ids"]
    assert encode_prompt(tok, fmt, chat[:1]) == asked == enc.input_ids[: len(asked)]
    response = tokens(enc.input_ids[len(asked) :])
    assert "".join(response) == "Paris</s>" and not response[0].startswith("▁")


def test_a_template_that_refuses_a_record_names_it(word_tok):
    from instill.config import DataConfig
    from instill.records import Conversation, Message
    from instill.train.data import encode_all

    strict = ChatFormat(
        template="{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
        + SPACED_TEMPLATE, end_of_turn="</s>")
    conv = Conversation((Message("system", "be brief"), Message("user", "hi"), Message("assistant", "hello", loss=True)),
                        source="chats.jsonl:7")
    cfg = DataConfig(train=[{"format": "openai", "path": "x.jsonl"}])
    with pytest.raises(InstillError, match=r"^chats.jsonl:7: the chat template refused .*System role not supported"):
        encode_all([conv], word_tok, strict, cfg, is_seq2seq=False)



def test_a_refused_alpaca_record_is_named_by_file_and_line(word_tok, tmp_path):
    """Alpaca and Dolly records keep where they were read, through to training's errors (not "conversation 1")."""
    import json

    from instill.config import DataConfig
    from instill.records import to_conversations
    from instill.sources import load_source
    from instill.train.data import encode_all

    strict = ChatFormat(template="{% if 'boom' in messages[-1]['content'] %}{{ raise_exception('no boom') }}{% endif %}"
                        + SPACED_TEMPLATE, end_of_turn="</s>")
    path = tmp_path / "alpaca.jsonl"
    path.write_text("".join(json.dumps({"instruction": "Say it.", "output": out}) + "\n" for out in ("ok", "boom")))
    convs = list(to_conversations(load_source(format="alpaca", path=str(path))))
    cfg = DataConfig(train=[{"format": "alpaca", "path": str(path)}])
    with pytest.raises(InstillError, match=rf"^{path}:2: the chat template refused .*no boom"):
        encode_all(convs, word_tok, strict, cfg, is_seq2seq=False)


def test_default_template_starts_with_bos_when_the_tokenizer_has_one(word_tok, bpe_tokenizer):
    conv = example_to_conversation(Example(instruction="hi", output="hello"))
    with_bos = ChatFormat(DEFAULT_TEMPLATE, "</s>")
    word_tok.bos_token = "<s>"
    try:
        assert with_bos.render(word_tok, conv.chat(), add_generation_prompt=False).startswith("<s>### Instruction:")
    finally:
        word_tok.bos_token = None
    assert with_bos.render(bpe_tokenizer, conv.chat(), False).startswith("### Instruction:")  # no bos: nothing


def test_missing_end_of_turn_names_the_token_the_template_writes(bpe_tokenizer):
    fmt = ChatFormat(template=CHATML_TEMPLATE, end_of_turn="<|endoftext|>")  # a base model's eos, not its turn end
    conv = example_to_conversation(Example(instruction="hi", output="hello"))
    with pytest.raises(InstillError, match=r"set chat.end_of_turn='<\|im_end\|>'"):
        encode_causal(bpe_tokenizer, fmt, conv, max_length=64)


class CountingTokenizer:
    """A tokenizer that records how many characters each call was given (and otherwise is the one it wraps)."""

    def __init__(self, inner):
        self.inner, self.seen = inner, []

    def __call__(self, text=None, *args, text_target=None, **kwargs):
        self.seen.append(len(text if text is not None else text_target))
        return self.inner(text, *args, text_target=text_target, **kwargs)

    def __len__(self):
        return len(self.inner)

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.mark.parametrize("is_seq2seq", [False, True])
def test_a_response_of_megabytes_is_dropped_before_it_is_tokenized_and_counted(bpe_tokenizer, is_seq2seq):
    """A record whose response alone is megabytes is dropped by its characters, before the tokenizer sees it; a
    long prompt with a short response still fits (cut from the left), as before."""
    from instill.config import DataConfig
    from instill.train.data import encode_all

    tok = CountingTokenizer(bpe_tokenizer)
    fmt = chat_format_for(bpe_tokenizer)
    huge = "The food was great. " * 150_000  # 3 MB
    convs = [chat_to_conversation(c) for c in (
        [{"role": "user", "content": "Add 2 and 3."}, {"role": "assistant", "content": "5"}],
        [{"role": "user", "content": "Say hi."}, {"role": "assistant", "content": huge}],
        [{"role": "user", "content": "Reverse the words: " + "red green blue " * 300}, {"role": "assistant", "content": "ok"}],
    )]
    cfg = DataConfig(train=[{"format": "openai", "path": "x.jsonl"}], max_length=64, max_target_length=16)
    encoded, stats = encode_all(convs, tok, fmt, cfg, is_seq2seq=is_seq2seq)
    assert stats.dropped_too_long == 1 and stats.sequences == 2 and stats.truncated == 1
    assert tok.seen and max(tok.seen) < 50_000  # never the 3 MB text: at most the 4.5 kB prompt and its context


def test_the_early_length_bound_never_drops_what_fits(bpe_tokenizer, word_tok):
    """The bound rests on "no token stands for more than longest_token_chars kept characters": checked on texts
    that pack the most characters into a token (the longest vocabulary entry repeated, runs of one character,
    white space, characters of four bytes); then "at least n tokens" is never said of a text with fewer."""
    import re

    from instill.tokenize import longest_token_chars, surely_at_least

    per_token = longest_token_chars(bpe_tokenizer)
    longest = max(bpe_tokenizer.get_vocab(), key=len)
    assert per_token == len(longest)
    assert longest_token_chars(word_tok) is None  # unknown words become one <unk>: no character bound holds
    text_of_longest = bpe_tokenizer.convert_tokens_to_string([longest]) * 2_000
    texts = [text_of_longest, "capital of France " * 800, "a" * 20_000, "  \n" * 9_000 + "Paris " * 900,
             "\U0001f600" * 3_000]
    for text in texts:
        n = len(bpe_tokenizer(text, add_special_tokens=False)["input_ids"])
        assert n * per_token >= len(re.sub(r"\s+", "", text)), text[:30]
        for asked in (1, n // 8, n // 4, n // 2, n, n + 1):
            assert not surely_at_least(text, asked, per_token) or n >= asked, (text[:30], n, asked)
    kept = len(re.sub(r"\s+", "", text_of_longest))  # the margin: 4x the characters a token may stand for
    assert surely_at_least(text_of_longest, kept // (4 * per_token), per_token)
    assert not surely_at_least(text_of_longest, kept // (4 * per_token) + 1, per_token)
