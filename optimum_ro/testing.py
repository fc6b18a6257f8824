"""Tiny tokenizers, models and datasets built in memory, for tests and examples (no hub, no files).

from optimum_ro.testing import tiny_wordpiece_tokenizer, tiny_bert
tok = tiny_wordpiece_tokenizer(["ana", "are", "mere"])
model = tiny_bert("BertForTokenClassification", vocab_size=len(tok), num_labels=3)
tok = trained_wordpiece_tokenizer(texts, vocab_size=200)   # a WordPiece vocabulary learned from texts
"""

from __future__ import annotations

import transformers
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import BertConfig, PreTrainedTokenizerFast

BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
XLMR_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]


def _bert_pipeline(tok: Tokenizer, lowercase: bool) -> Tokenizer:
    """BERT's normalizer, pre-tokenizer and decoder on a WordPiece ``tok`` (before any training)."""
    tok.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    return tok


def _bert_fast_tokenizer(tok: Tokenizer) -> PreTrainedTokenizerFast:
    """``[CLS] A [SEP] (B [SEP])`` around a WordPiece ``tok`` holding BERT's special tokens."""
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


def tiny_wordpiece_tokenizer(
    words, subwords=("##a", "##e", "##i", "##re", "##le", "##uri")
) -> PreTrainedTokenizerFast:
    """A BERT-style (uncased WordPiece) fast tokenizer over ``words`` plus a few ``##`` pieces."""
    vocab = {tok: i for i, tok in enumerate(BERT_SPECIALS + sorted(set(words)) + sorted(set(subwords)))}
    for ch in "abcdefghijklmnopqrstuvwxyzăâîșț.,!?":  # single characters so most words split instead of [UNK]
        vocab.setdefault(ch, len(vocab))
        vocab.setdefault("##" + ch, len(vocab))
    return _bert_fast_tokenizer(_bert_pipeline(Tokenizer(models.WordPiece(vocab, unk_token="[UNK]")), lowercase=True))


def trained_wordpiece_tokenizer(texts, vocab_size: int = 200, lowercase: bool = False) -> PreTrainedTokenizerFast:
    """A BERT-style fast tokenizer whose WordPiece vocabulary (at most ``vocab_size``) is trained on ``texts``."""
    tok = _bert_pipeline(Tokenizer(models.WordPiece(unk_token="[UNK]")), lowercase=lowercase)
    tok.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=BERT_SPECIALS))
    return _bert_fast_tokenizer(tok)


def tiny_unigram_tokenizer(pieces) -> PreTrainedTokenizerFast:
    """An XLM-R-style (SentencePiece Unigram, ``▁`` word boundary) fast tokenizer.

    ``pieces`` maps piece -> log-prob score.
    """
    vocab = [(p, 0.0) for p in XLMR_SPECIALS] + list(pieces.items())
    for ch in "abcdefghijklmnopqrstuvwxyzăâîșț.,!?▁":
        if ch not in pieces:
            vocab.append((ch, -20.0))
    vocab.append(("<mask>", 0.0))
    tok = Tokenizer(models.Unigram(vocab, unk_id=3, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        cls_token="<s>",
        sep_token="</s>",
        mask_token="<mask>",
    )


def tiny_bert(
    architecture: str = "BertForMaskedLM",
    vocab_size: int = 64,
    hidden_size: int = 32,
    num_layers: int = 4,
    num_labels: int = 2,
    seed: int = 0,
    **config_kwargs,
):
    """A randomly initialised BERT of the named ``transformers`` class (tiny widths); ``config_kwargs`` override
    any other ``BertConfig`` field (e.g. ``max_position_embeddings``)."""
    import torch

    torch.manual_seed(seed)
    settings = dict(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=2,
        intermediate_size=2 * hidden_size,
        max_position_embeddings=64,
        num_labels=num_labels,
    )
    config = BertConfig(**{**settings, **config_kwargs})
    return getattr(transformers, architecture)(config)


TOY_WORDS = ["ana", "are", "mere", "pere", "casa", "mare", "copil", "frumoasa", "merge", "acasa", "multe", "rosii"]


def toy_sentences(n: int = 16, seed: int = 0):
    """``n`` made-up sentences (lists of words, 3-8 long) and word tags in {0, 1, 2} (a function of the word)."""
    import random

    rng = random.Random(seed)
    sentences = [
        [rng.choice(TOY_WORDS) + rng.choice(["", "", "le", "uri"]) for _ in range(rng.randint(3, 8))] for _ in range(n)
    ]
    tags = [[len(w) % 3 for w in s] for s in sentences]
    return sentences, tags


def toy_token_dataset(tokenizer, n: int = 16, seed: int = 0, teacher_tokenizers=(), teacher_start: int = 1):
    """A tagging ``datasets.Dataset`` (student columns + ``teacher{i}_`` columns for other tokenizers)."""
    from datasets import Dataset

    from optimum_ro.distillation.alignment import encode_words, prepare_teacher_inputs

    sentences, tags = toy_sentences(n, seed)

    def encode(batch):
        enc = encode_words(tokenizer, batch["tokens"], max_length=32)
        enc.pop("special_tokens_mask")
        enc["labels"] = []
        for wids, word_tags in zip(enc["word_ids"], batch["tags"]):
            enc["labels"].append(
                [word_tags[w] if w >= 0 and (j == 0 or wids[j - 1] != w) else -100 for j, w in enumerate(wids)]
            )
        return enc

    ds = Dataset.from_dict({"tokens": sentences, "tags": tags}).map(encode, batched=True)
    if teacher_tokenizers:
        ds = prepare_teacher_inputs(
            ds, list(teacher_tokenizers), words_field="tokens", max_length=32, start=teacher_start
        )
    return ds


def toy_sequence_dataset(tokenizer, n: int = 16, seed: int = 0, regression: bool = False):
    """A sentence classification (label = 1 if the sentence mentions 'mere') or regression ``datasets.Dataset``."""
    from datasets import Dataset

    sentences, _ = toy_sentences(n, seed)
    texts = [" ".join(s) for s in sentences]
    labels = (
        [float(len(s) % 6) for s in sentences]
        if regression
        else [int(any(w.startswith("mere") for w in s)) for s in sentences]
    )
    ds = Dataset.from_dict({"text": texts, "labels": labels})
    return ds.map(lambda b: tokenizer(b["text"], truncation=True, max_length=32), batched=True)


def prune_random_blocks(encoder, sparsity: float, seed: int = 0) -> None:
    """Zero a random ``sparsity`` share of the 16x4 blocks of every linear layer under ``encoder``, in place
    (16x4 packs without padding into both fast kernel layouts)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    for module in encoder.modules():
        if isinstance(module, torch.nn.Linear):
            n, k = module.weight.shape
            keep = (torch.rand(n // 16, k // 4, generator=gen) >= sparsity).float()
            module.weight.data *= keep.repeat_interleave(16, 0).repeat_interleave(4, 1)
