"""Tiny tokenizers and models built in memory, for tests and examples (no hub, no files).

    from optimum_ro.distillation.testing import tiny_wordpiece_tokenizer, tiny_bert
    tok = tiny_wordpiece_tokenizer(["ana", "are", "mere"])
    model = tiny_bert("BertForTokenClassification", vocab_size=len(tok), num_labels=3)
"""
from __future__ import annotations

import transformers
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from transformers import BertConfig, PreTrainedTokenizerFast

BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
XLMR_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]


def tiny_wordpiece_tokenizer(words, subwords=("##a", "##e", "##i", "##re", "##le", "##uri")) -> PreTrainedTokenizerFast:
    """A BERT-style (uncased WordPiece) fast tokenizer over ``words`` plus a few ``##`` pieces."""
    vocab = {tok: i for i, tok in enumerate(BERT_SPECIALS + sorted(set(words)) + sorted(set(subwords)))}
    for ch in "abcdefghijklmnopqrstuvwxyzăâîșț.,!?":  # single characters so most words split instead of [UNK]
        vocab.setdefault(ch, len(vocab))
        vocab.setdefault("##" + ch, len(vocab))
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")


def tiny_unigram_tokenizer(pieces) -> PreTrainedTokenizerFast:
    """An XLM-R-style (SentencePiece Unigram, ``▁`` word boundary) fast tokenizer; ``pieces`` maps piece -> log-prob score."""
    vocab = [(p, 0.0) for p in XLMR_SPECIALS] + list(pieces.items())
    for ch in "abcdefghijklmnopqrstuvwxyzăâîșț.,!?▁":
        if ch not in pieces:
            vocab.append((ch, -20.0))
    vocab.append(("<mask>", 0.0))
    tok = Tokenizer(models.Unigram(vocab, unk_id=3, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>", cls_token="<s>", sep_token="</s>", mask_token="<mask>")


def tiny_bert(architecture: str = "BertForMaskedLM", vocab_size: int = 64, hidden_size: int = 32, num_layers: int = 4,
              num_labels: int = 2, seed: int = 0, **config_kwargs):
    """A randomly initialised BERT of the named ``transformers`` class (tiny widths)."""
    import torch

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=vocab_size, hidden_size=hidden_size, num_hidden_layers=num_layers,
                        num_attention_heads=2, intermediate_size=2 * hidden_size, max_position_embeddings=64,
                        num_labels=num_labels, **config_kwargs)
    return getattr(transformers, architecture)(config)
