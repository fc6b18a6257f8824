from types import SimpleNamespace

import pytest
import torch
from datasets import Dataset

from optimum_ro.distillation.alignment import (
    AlignmentError,
    align_to_student,
    check_fast_tokenizer,
    count_shared_words,
    encode_words,
    first_subtoken_index,
    pool_both,
    pool_words,
    prepare_teacher_inputs,
)
from optimum_ro.testing import tiny_unigram_tokenizer, tiny_wordpiece_tokenizer

# teacher: [CLS] w0 w0 w1 w2 w2 [SEP]     student: [CLS] w0 w1 w1 w2 [SEP] [PAD]
TEACHER_WIDS = torch.tensor([[-1, 0, 0, 1, 2, 2, -1]])
STUDENT_WIDS = torch.tensor([[-1, 0, 1, 1, 2, -1, -1]])


def test_first_subtoken_index():
    assert first_subtoken_index(TEACHER_WIDS, 4).tolist() == [[1, 3, 4, 7]]  # word 3 absent -> T


def test_align_first_subtokens_by_hand():
    values = torch.arange(7.0).view(1, 7, 1) * 10  # teacher value at position p is 10 p
    aligned, valid = align_to_student(values, TEACHER_WIDS, STUDENT_WIDS)
    assert valid.tolist() == [[False, True, True, False, True, False, False]]
    assert aligned[0, [1, 2, 4], 0].tolist() == [10.0, 30.0, 40.0]  # teacher positions 1, 3, 4


def test_align_truncated_teacher_word_is_invalid():
    teacher = torch.tensor([[-1, 0, 0, -1]])  # the teacher kept only word 0
    aligned, valid = align_to_student(torch.ones(1, 4, 3), teacher, STUDENT_WIDS)
    assert valid.tolist() == [[False, True, False, False, False, False, False]]
    assert aligned.shape == (1, 7, 3)
    with pytest.raises(AlignmentError, match="word_ids"):
        align_to_student(torch.ones(1, 5, 3), teacher, STUDENT_WIDS)


def test_pool_words_and_shared_count():
    hidden = torch.tensor([[[0.0], [1.0], [3.0], [5.0], [7.0], [9.0], [0.0]]])
    pooled, counts = pool_words(hidden, TEACHER_WIDS, 3)
    assert pooled[0, :, 0].tolist() == [2.0, 5.0, 8.0] and counts.tolist() == [[2.0, 1.0, 2.0]]
    s, t, valid = pool_both(torch.ones(1, 7, 2), STUDENT_WIDS, torch.ones(1, 4, 2), torch.tensor([[-1, 0, 1, -1]]))
    assert valid.tolist() == [[True, True, False]] and s.shape == t.shape == (1, 3, 2)
    assert count_shared_words(STUDENT_WIDS, torch.tensor([[-1, 0, 1, -1]])).item() == 2


def test_encode_words_same_words_across_tokenizers():
    wp = tiny_wordpiece_tokenizer(["ana", "are"])
    ug = tiny_unigram_tokenizer({"▁ana": -1.0, "▁mere": -1.0})
    words = [["ana", "are", "merele"]]
    a, b = encode_words(wp, words), encode_words(ug, words)
    assert sorted(set(a["word_ids"][0]) - {-1}) == sorted(set(b["word_ids"][0]) - {-1}) == [0, 1, 2]
    assert a["word_ids"][0][0] == a["word_ids"][0][-1] == -1
    pair = encode_words(wp, [["ana"]], text_pairs=[["are", "ana"]])
    assert [w for w in pair["word_ids"][0] if w >= 0] == [0, 1, 2]  # the second segment continues the numbering


def test_slow_tokenizer_gets_a_clear_error():
    slow = SimpleNamespace(is_fast=False, name_or_path="my-slow-bert")
    with pytest.raises(AlignmentError, match="my-slow-bert.*slow tokenizer.*use_fast=True"):
        check_fast_tokenizer(slow, "teacher 1 tokenizer")
    ds = Dataset.from_dict({"tokens": [["ana"]]})
    with pytest.raises(AlignmentError, match="teacher 2 tokenizer"):
        prepare_teacher_inputs(ds, [slow], words_field="tokens", start=2)
    with pytest.raises(ValueError, match="exactly one of"):
        prepare_teacher_inputs(ds, [], words_field="tokens", text_fields=["text"])
