"""Word-level alignment between tokenizers, so teachers with other vocabularies can teach a student.

Each (fast) tokenizer maps its sub-tokens to the words of the input (``word_ids``; -1 for special
tokens and padding). Token-task targets are taken at each word's first sub-token; hidden states
are mean-pooled per word. Raw text is split on whitespace *before* tokenizing
(``is_split_into_words=True``), so every tokenizer numbers the same words.

    from optimum_ro.distillation.alignment import prepare_teacher_inputs, align_to_student
    ds = prepare_teacher_inputs(ds, [tokenizer_b], words_field="tokens", start=1)   # adds teacher1_* columns
    aligned, valid = align_to_student(teacher_logits, batch["teacher1_word_ids"], batch["word_ids"])
"""

from __future__ import annotations

import torch

TEACHER_PREFIX = "teacher{}_"


class AlignmentError(ValueError):
    """Teacher and student outputs cannot be aligned (e.g. a slow tokenizer without word ids)."""


def check_fast_tokenizer(tokenizer, name: str = "tokenizer") -> None:
    """Word alignment needs ``word_ids()``, which only fast (Rust) tokenizers provide."""
    if not getattr(tokenizer, "is_fast", False):
        raise AlignmentError(
            f"{name} ({type(tokenizer).__name__}, "
            f"{getattr(tokenizer, 'name_or_path', '')!r}) is a slow tokenizer without "
            "offsets/word_ids, so its tokens cannot be aligned to the student's words; load it with "
            "AutoTokenizer.from_pretrained(..., use_fast=True) or convert it to a tokenizer.json"
        )


def encode_words(tokenizer, words_batch, max_length: int = 128, text_pairs=None) -> dict:
    """Tokenize pre-split words (lists of strings); returns input_ids, attention_mask, (token_type_ids), word_ids.

    With ``text_pairs`` (sequence-pair tasks) the second segment's words are numbered after the first's.
    """
    check_fast_tokenizer(tokenizer)
    enc = tokenizer(words_batch, text_pairs, is_split_into_words=True, truncation=True, max_length=max_length)
    out = {k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc}
    word_ids = []
    for i in range(len(words_batch)):
        offset = len(words_batch[i])
        seq_ids = enc.sequence_ids(i)
        word_ids.append([-1 if w is None else (w + offset if s == 1 else w) for w, s in zip(enc.word_ids(i), seq_ids)])
    out["word_ids"] = word_ids
    out["special_tokens_mask"] = [[1 if w == -1 else 0 for w in wids] for wids in word_ids]
    return out


def _words_of(batch, words_field=None, text_fields=None):
    if words_field is not None:
        return batch[words_field], None
    texts = [[t.split() for t in batch[f]] for f in text_fields]
    return texts[0], (texts[1] if len(texts) > 1 else None)


def prepare_teacher_inputs(
    dataset,
    tokenizers,
    words_field: str | None = None,
    text_fields=None,
    max_length: int = 128,
    start: int = 0,
    num_proc: int | None = None,
    split_words: bool = True,
):
    """Add ``teacher{i}_input_ids/attention_mask/token_type_ids/word_ids`` columns, one set per tokenizer.

    ``tokenizers[k]`` becomes teacher ``start + k`` (a teacher sharing the student's tokenizer needs no
    columns: it reads the student's). Read words from ``words_field`` (token tasks) or whitespace-split
    ``text_fields`` (sequence tasks, pairs, raw text for the MLM stage). ``split_words=False`` tokenizes
    ``text_fields`` as raw text, exactly like the student of a sequence task (no ``word_ids`` column then).
    """
    if (words_field is None) == (text_fields is None):
        raise ValueError("give exactly one of words_field (pre-split words) or text_fields (raw text columns)")
    for k, tok in enumerate(tokenizers):
        if split_words or words_field is not None:
            check_fast_tokenizer(tok, f"teacher {start + k} tokenizer")

    def add(batch):
        out = {}
        if not split_words and text_fields is not None:
            for k, tok in enumerate(tokenizers):
                enc = tok(*[batch[f] for f in text_fields], truncation=True, max_length=max_length)
                out.update(
                    {
                        TEACHER_PREFIX.format(start + k) + key: enc[key]
                        for key in ("input_ids", "attention_mask", "token_type_ids")
                        if key in enc
                    }
                )
            return out
        words, pairs = _words_of(batch, words_field, text_fields)
        for k, tok in enumerate(tokenizers):
            enc = encode_words(tok, words, max_length, pairs)
            enc.pop("special_tokens_mask")
            out.update({TEACHER_PREFIX.format(start + k) + key: v for key, v in enc.items()})
        return out

    return dataset.map(add, batched=True, num_proc=num_proc, desc="tokenizing for teachers")


def prepare_student_words(
    dataset,
    tokenizer,
    words_field: str | None = None,
    text_fields=None,
    max_length: int = 128,
    num_proc: int | None = None,
):
    """Student columns (input_ids, attention_mask, word_ids, special_tokens_mask) from whitespace-split raw text.

    Used for the MLM stage and for sequence tasks with word-aligned hidden-state losses; token tasks
    already get ``word_ids`` from ``optimum_ro.tasks.preprocess_task``.
    """

    def add(batch):
        words, pairs = _words_of(batch, words_field, text_fields)
        return encode_words(tokenizer, words, max_length, pairs)

    return dataset.map(add, batched=True, num_proc=num_proc, desc="tokenizing for the student")


def first_subtoken_index(word_ids: torch.Tensor, num_words: int) -> torch.Tensor:
    """[B, W] position of each word's first sub-token; ``T`` (one past the end) for words not present."""
    batch, length = word_ids.shape
    first = torch.full((batch * num_words,), length, dtype=torch.long, device=word_ids.device)
    valid = word_ids >= 0
    if valid.any():
        rows = torch.arange(batch, device=word_ids.device).unsqueeze(1).expand_as(word_ids)
        positions = torch.arange(length, device=word_ids.device).unsqueeze(0).expand_as(word_ids)
        first.scatter_reduce_(0, (rows * num_words + word_ids)[valid], positions[valid], reduce="amin")
    return first.view(batch, num_words)


def _num_words(*word_ids: torch.Tensor) -> int:
    return max(1, max(int(w.max().item()) + 1 if w.numel() else 0 for w in word_ids))


def align_to_student(teacher_values: torch.Tensor, teacher_word_ids: torch.Tensor, student_word_ids: torch.Tensor):
    """Put the teacher's value at each word's first sub-token onto the student's first sub-token of that word.

    Returns ``(aligned [B, Ts, ...], valid [B, Ts])``; ``valid`` is false for student positions that are
    special, not a word's first sub-token, or whose word the teacher does not see (e.g. truncated).
    """
    if teacher_word_ids.shape[0] != student_word_ids.shape[0]:
        raise AlignmentError(f"teacher batch {teacher_word_ids.shape[0]} != student batch {student_word_ids.shape[0]}")
    if teacher_values.shape[:2] != teacher_word_ids.shape:
        raise AlignmentError(
            f"teacher values {tuple(teacher_values.shape)} do not match its word_ids {tuple(teacher_word_ids.shape)}"
        )
    num_words = _num_words(teacher_word_ids, student_word_ids)
    t_len, s_len = teacher_word_ids.shape[1], student_word_ids.shape[1]
    t_first = first_subtoken_index(teacher_word_ids, num_words)
    s_first = first_subtoken_index(student_word_ids, num_words)
    s_words = student_word_ids.clamp_min(0)
    positions = torch.arange(s_len, device=student_word_ids.device).unsqueeze(0)
    is_first = (student_word_ids >= 0) & (s_first.gather(1, s_words) == positions)
    t_pos = t_first.gather(1, s_words)
    valid = is_first & (t_pos < t_len)
    index = t_pos.clamp_max(t_len - 1)
    extra = teacher_values.shape[2:]
    index = index.view(*index.shape, *([1] * len(extra))).expand(*index.shape, *extra)
    return teacher_values.gather(1, index), valid


def pool_words(hidden: torch.Tensor, word_ids: torch.Tensor, num_words: int):
    """Mean of the sub-token vectors of each word: returns ``(pooled [B, W, H], counts [B, W])``."""
    batch, _, size = hidden.shape
    valid = word_ids >= 0
    rows = torch.arange(batch, device=hidden.device).unsqueeze(1).expand_as(word_ids)
    index = (rows * num_words + word_ids.clamp_min(0))[valid]
    sums = hidden.new_zeros(batch * num_words, size).index_add(0, index, hidden[valid])
    counts = hidden.new_zeros(batch * num_words).index_add(0, index, hidden.new_ones(index.shape[0]))
    pooled = sums / counts.clamp_min(1).unsqueeze(-1)
    return pooled.view(batch, num_words, size), counts.view(batch, num_words)


def pool_both(student_hidden, student_word_ids, teacher_hidden, teacher_word_ids):
    """Word-pooled student and teacher states and the mask of words both of them see."""
    num_words = _num_words(student_word_ids, teacher_word_ids)
    s_pooled, s_counts = pool_words(student_hidden, student_word_ids, num_words)
    t_pooled, t_counts = pool_words(teacher_hidden, teacher_word_ids, num_words)
    return s_pooled, t_pooled, (s_counts > 0) & (t_counts > 0)


def count_shared_words(student_word_ids: torch.Tensor, teacher_word_ids: torch.Tensor) -> torch.Tensor:
    """Number of (example, word) pairs present in both tokenizations (the word-level cosine's item count)."""
    num_words = _num_words(student_word_ids, teacher_word_ids)
    s = first_subtoken_index(student_word_ids, num_words) < student_word_ids.shape[1]
    t = first_subtoken_index(teacher_word_ids, num_words) < teacher_word_ids.shape[1]
    return (s & t).sum()
