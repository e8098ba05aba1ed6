"""Tiny models and tokenizers built in the tests: random weights, a tokenizer trained on a few lines, no hub."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from instill.modeling import train_tiny_tokenizer

CORPUS = [
    "What is the capital of France? The capital of France is Paris.",
    "Reverse the words: red green blue. blue green red",
    "Add 2 and 3. The answer is 5.",
    "Hello there, how are you today? I am fine, thank you.",
    "Is this sentence positive or negative? The food was great. positive",
] * 20

TINY_EXAMPLES = [
    {"instruction": "What is the capital of France?", "input": "", "output": "Paris."},
    {"instruction": "Reverse the words.", "input": "red green blue", "output": "blue green red"},
    {"instruction": "Add 2 and 3.", "input": "", "output": "The answer is 5."},
    {"instruction": "Is this sentence positive or negative?", "input": "The food was great.", "output": "positive"},
] * 4


@pytest.fixture(scope="session")
def bpe_tokenizer():
    """Byte-level BPE with ChatML turn tokens; the chat template is ChatML."""
    return train_tiny_tokenizer(CORPUS, vocab_size=400)


@pytest.fixture(scope="session")
def merging_tok():
    """Character BPE with one merge, "\\n" + "P", so a response starting with P merges across the boundary with
    a ChatML generation prompt (which ends in "assistant\\n")."""
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    from instill.chat_format import CHATML_TEMPLATE

    text = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\nassistant\nParis"
    chars = sorted(set("user\nWhat is the capital of France?assistantParis"))
    vocab = {c: i for i, c in enumerate(chars)}
    vocab["\nP"] = len(vocab)
    tk = Tokenizer(models.BPE(vocab=vocab, merges=[("\n", "P")]))
    tok = PreTrainedTokenizerFast(tokenizer_object=tk)
    tok.add_special_tokens({"eos_token": "<|im_end|>", "pad_token": "<|pad|>",
                            "additional_special_tokens": ["<|im_start|>"]})
    tok.chat_template = CHATML_TEMPLATE
    assert "\nP" in tok.convert_ids_to_tokens(tok(text, add_special_tokens=False)["input_ids"])
    return tok


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory, bpe_tokenizer) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM

    out = tmp_path_factory.mktemp("tiny_llama")
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(bpe_tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
        pad_token_id=bpe_tokenizer.pad_token_id, eos_token_id=bpe_tokenizer.eos_token_id, bos_token_id=None,
    )
    LlamaForCausalLM(cfg).save_pretrained(out)
    bpe_tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_t5_dir(tmp_path_factory, bpe_tokenizer) -> Path:
    from transformers import T5Config, T5ForConditionalGeneration

    out = tmp_path_factory.mktemp("tiny_t5")
    torch.manual_seed(0)
    cfg = T5Config(
        vocab_size=len(bpe_tokenizer), d_model=32, d_ff=64, d_kv=16, num_layers=2, num_decoder_layers=2,
        num_heads=2, pad_token_id=bpe_tokenizer.pad_token_id, eos_token_id=bpe_tokenizer.eos_token_id,
        decoder_start_token_id=bpe_tokenizer.pad_token_id,
    )
    T5ForConditionalGeneration(cfg).save_pretrained(out)
    bpe_tokenizer.save_pretrained(out)
    return out


@pytest.fixture
def alpaca_file(tmp_path) -> Path:
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in TINY_EXAMPLES))
    return path


@pytest.fixture
def make_recipe():
    """Build a recipe dict for a few fast steps on a tiny model."""
    return _tiny_recipe


def _tiny_recipe(run_dir: Path, data: Path, model: str, **train) -> dict:
    return {
        "run_dir": str(run_dir),
        "seed": 0,
        "model": {"name": model},
        "data": {"train": [{"format": "alpaca", "path": str(data)}], "max_length": 64},
        "train": {"epochs": 1, "batch_size": 4, "lr": 1e-2, "log_every": 1, **train},
    }



@pytest.fixture(scope="module")
def one_thread():
    """Tiny models run fastest on one thread: a second one only adds hand-offs (and fights other processes for
    the cores, which made the serving tests 10-20x slower on a busy 2-core machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def cm(tiny_llama_dir):
    """The tiny Llama loaded as a chat model (generation, serving and backend tests share it per module)."""
    from instill.inference.chat_model import load_chat_model

    return load_chat_model(str(tiny_llama_dir))


def _write_sni(folder, name, n=5, categories=("Sentiment Analysis",), definition=("Say if the review is good.",)):
    task = {
        "Definition": list(definition), "Categories": list(categories), "Domains": ["Reviews"],
        "Positive Examples": [{"input": "Great film", "output": "good", "explanation": "praise"},
                              {"input": "Awful", "output": "bad", "explanation": "blame"}],
        "Negative Examples": [],
        "Instances": [{"id": f"{name}-{i}", "input": f"review {i}", "output": ["good" if i % 2 else "bad", "ok"]}
                      for i in range(n)] + [{"id": f"{name}-blank", "input": "x", "output": [""]}],
    }
    (folder / "tasks").mkdir(parents=True, exist_ok=True)
    (folder / "tasks" / f"{name}.json").write_text(json.dumps(task), encoding="utf-8")


@pytest.fixture
def write_sni():
    """Writes a Super-NaturalInstructions task file (fixture data the tests make): write_sni(folder, name, n=...)."""
    return _write_sni


@pytest.fixture
def write_sni_folder(write_sni):
    """Writes a small Super-NaturalInstructions copy (task files and the official split files):
    write_sni_folder(root, train=(...), test=(...), n=40) -> root."""
    def write(root, train=("task001_train_a", "task003_train_b"), test=("task002_test_c",), n=40):
        for name in (*train, *test):
            if name in test:
                write_sni(root, name, n=n, categories=("Title Generation",), definition=("Give the review a title.",))
            else:
                write_sni(root, name, n=n)
        (root / "splits" / "default").mkdir(parents=True, exist_ok=True)
        (root / "splits" / "default" / "train_tasks.txt").write_text("".join(f"{t}\n" for t in train))
        (root / "splits" / "default" / "test_tasks.txt").write_text("".join(f"{t}\n" for t in test))
        return root

    return write
