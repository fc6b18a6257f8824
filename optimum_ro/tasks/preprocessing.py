"""Tokenize a task's ``DatasetDict`` for a model, with labels aligned to sub-tokens.

    from optimum_ro.tasks import load_task, preprocess_task
    ds = preprocess_task(load_task("pos", "data/pos"), tokenizer, "pos")
    ds["train"][0]["labels"][:4]   # [-100, 7, -100, 3]: first sub-token of each word

Token tasks label the first sub-token of every word and give -100 to the other
sub-tokens and to special tokens; a ``word_ids`` column (-1 for special tokens)
is kept so that students and teachers with different tokenizers can be aligned
word by word. Sequence tasks get an integer label, regression a float.
"""

from __future__ import annotations

from .specs import REGRESSION, SEQUENCE, TOKEN, get_task

IGNORE_INDEX = -100


class TokenizerError(ValueError):
    """The tokenizer cannot do what the task needs (e.g. word alignment)."""


def require_fast_tokenizer(tokenizer, why: str = "word alignment (word_ids / offsets)"):
    if not getattr(tokenizer, "is_fast", False):
        raise TokenizerError(
            f"{type(tokenizer).__name__} is a slow tokenizer; {why} needs a fast tokenizer "
            "(load it with AutoTokenizer.from_pretrained(..., use_fast=True) or convert it "
            "with the `tokenizers` library)."
        )


def align_word_labels(word_ids, word_labels, label_all_subtokens: bool = False):
    """Labels per sub-token from labels per word: first sub-token labelled, rest -100."""
    labels, previous = [], None
    for wid in word_ids:
        if wid is None:
            labels.append(IGNORE_INDEX)
        elif wid != previous or label_all_subtokens:
            labels.append(word_labels[wid])
        else:
            labels.append(IGNORE_INDEX)
        previous = wid
    return labels


def preprocess_task(
    dsd, tokenizer, task, max_length: int | None = None, num_proc: int | None = None, keep_raw: bool = False
):
    """Tokenize every split of ``dsd`` for ``task``; returns a new ``DatasetDict``.

    keep_raw: keep the original text/label columns (needed by multi-teacher distillation,
    which re-tokenizes the raw words for each teacher).
    """
    spec = get_task(task)
    max_length = max_length or spec.default_max_length
    if spec.kind == TOKEN:
        require_fast_tokenizer(tokenizer)
    fn = {TOKEN: _token_batch, SEQUENCE: _sequence_batch, REGRESSION: _regression_batch}[spec.kind]

    def apply(batch):
        return fn(spec, tokenizer, batch, max_length)

    out = {}
    for split, ds in dsd.items():
        remove = [] if keep_raw else list(ds.column_names)
        out[split] = ds.map(
            apply, batched=True, remove_columns=remove, num_proc=num_proc, desc=f"tokenizing {spec.name}/{split}"
        )
    return type(dsd)(out)


def _token_batch(spec, tokenizer, batch, max_length):
    words = batch[spec.text_fields[0]]
    enc = tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_length)
    label2id = spec.label2id
    enc["labels"], enc["word_ids"] = [], []
    for i, tags in enumerate(batch[spec.label_field]):
        wids = enc.word_ids(i)
        enc["labels"].append(align_word_labels(wids, [label2id[t] for t in tags]))
        enc["word_ids"].append([-1 if w is None else w for w in wids])
    return enc


def _sequence_batch(spec, tokenizer, batch, max_length):
    texts = [batch[f] for f in spec.text_fields]
    enc = tokenizer(*texts, truncation=True, max_length=max_length)
    label2id = spec.label2id
    enc["labels"] = [label2id[label] for label in batch[spec.label_field]]
    return enc


def _regression_batch(spec, tokenizer, batch, max_length):
    texts = [batch[f] for f in spec.text_fields]
    enc = tokenizer(*texts, truncation=True, max_length=max_length)
    enc["labels"] = [float(s) for s in batch[spec.label_field]]
    return enc
