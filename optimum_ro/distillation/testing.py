"""The former home of :mod:`optimum_ro.testing` (tiny tokenizers, models and datasets); kept as an alias."""

from optimum_ro.testing import (
    BERT_SPECIALS,
    TOY_WORDS,
    XLMR_SPECIALS,
    tiny_bert,
    tiny_unigram_tokenizer,
    tiny_wordpiece_tokenizer,
    toy_sentences,
    toy_sequence_dataset,
    toy_token_dataset,
    trained_wordpiece_tokenizer,
)

__all__ = [
    "BERT_SPECIALS",
    "XLMR_SPECIALS",
    "TOY_WORDS",
    "tiny_bert",
    "tiny_unigram_tokenizer",
    "tiny_wordpiece_tokenizer",
    "trained_wordpiece_tokenizer",
    "toy_sentences",
    "toy_sequence_dataset",
    "toy_token_dataset",
]
