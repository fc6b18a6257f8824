"""Shared test fixtures: tiny tokenizers and models built in the test, made-up data files.

The builders live in ``optimum_ro.testing`` (importable by tests and examples alike); this file holds the
pytest fixtures over them and the test environment.
"""

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# remote code (trust_remote_code=True) is copied here, not into the user's ~/.cache
os.environ.setdefault("HF_MODULES_CACHE", tempfile.mkdtemp(prefix="optimum-ro-hf-modules-"))

# after the environment above: importing transformers reads it
from optimum_ro.testing import tiny_bert, trained_wordpiece_tokenizer  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def fixture_texts():
    import json

    texts = []
    for file in sorted((FIXTURES / "ro").glob("*/train.jsonl")):
        for line in file.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            texts.append(" ".join(row["tokens"]) if "tokens" in row else row.get("text") or row["sentence1"])
    return texts


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """Tiny test models gain nothing from threads, and 2 threads on a busy 2-core machine
    thrash; tests that exercise threading set their own count."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def fixtures_dir():
    return FIXTURES


@pytest.fixture(scope="session")
def tiny_tokenizer():
    return trained_wordpiece_tokenizer(fixture_texts())


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory, tiny_tokenizer):
    """A folder with a randomly initialised 2-layer BERT (MLM head) and its tokenizer."""
    model = tiny_bert(
        "BertForMaskedLM",
        vocab_size=len(tiny_tokenizer),
        num_layers=2,
        max_position_embeddings=128,
        pad_token_id=tiny_tokenizer.pad_token_id,
    )
    path = tmp_path_factory.mktemp("tiny_bert")
    model.save_pretrained(path)
    tiny_tokenizer.save_pretrained(path)
    return path


def shared_task_dir(task_folder: str) -> Path:
    path = SHARED_DATA / "ro" / task_folder
    if not path.is_dir():
        pytest.skip(f"real data not found at {path} (the ../shared/data folder beside the checkout)")
    return path
