import math
from pathlib import Path

import numpy as np
import pytest

from optimum_ro.metrics.loyalty import (
    jensen_shannon_divergence,
    label_loyalty,
    load,
    probability_loyalty,
    regression_loyalty,
)


def test_label_loyalty_sequence_and_tokens():
    assert label_loyalty([1, 0, 2, 2], [1, 1, 2, 0]) == 0.5
    # tagging: nested per sentence, -100 skipped on either side
    student = [[3, 1, -100, 2], [0, 0]]
    teacher = [[3, 2, -100, 2], [0, -100]]
    assert label_loyalty(student, teacher) == pytest.approx(3 / 4)
    assert label_loyalty([[5, 5]], [[5, 5]]) == 1.0
    assert label_loyalty([0, 1], [1, 0]) == 0.0
    assert label_loyalty(np.array([[1, 7]]), np.array([[1, 9]]), ignore_index=7) == 1.0


def test_label_loyalty_errors():
    with pytest.raises(ValueError, match="differ in shape"):
        label_loyalty([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="differ in shape"):
        label_loyalty([[1, 2], [3]], [[1], [2, 3]])  # same total, different sentences
    with pytest.raises(ValueError, match="nothing|no positions"):
        label_loyalty([-100], [-100])


def test_probability_loyalty_hand_values():
    # identical -> 1, disjoint one-hots -> 0
    assert probability_loyalty([[0.2, 0.8]], [[0.2, 0.8]]) == pytest.approx(1.0)
    assert probability_loyalty([[1.0, 0.0]], [[0.0, 1.0]]) == pytest.approx(0.0, abs=1e-12)
    # p=(1,0), q=(.5,.5): m=(.75,.25); JSD = .5*log2(1/.75) + .5*(.5*log2(.5/.75) + .5*log2(.5/.25))
    jsd = 0.5 * math.log2(4 / 3) + 0.5 * (0.5 * math.log2(2 / 3) + 0.5 * 1.0)
    assert jensen_shannon_divergence(np.array([[1.0, 0.0]]), np.array([[0.5, 0.5]]))[0] == pytest.approx(jsd)
    expected = ((1 - math.sqrt(jsd)) + 1.0) / 2
    assert probability_loyalty([[1.0, 0.0], [0.3, 0.7]], [[0.5, 0.5], [0.3, 0.7]]) == pytest.approx(expected)
    # symmetric
    assert probability_loyalty([[0.5, 0.5]], [[1.0, 0.0]]) == pytest.approx(1 - math.sqrt(jsd))


def test_probability_loyalty_tagging_mask_and_errors():
    teacher = [[[1.0, 0.0], [0.0, 1.0]], [[0.5, 0.5]]]
    student = [[[1.0, 0.0], [1.0, 0.0]], [[0.5, 0.5]]]
    assert probability_loyalty(teacher, student) == pytest.approx(2 / 3)
    assert probability_loyalty(teacher, student, mask=[[1, 0], [1]]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="differ in shape"):
        probability_loyalty([[1.0, 0.0]], [[1.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match="softmax"):
        probability_loyalty([[2.0, -1.0]], [[1.0, 0.0]])  # logits, not probabilities
    with pytest.raises(ValueError, match="mask"):
        probability_loyalty([[1.0, 0.0]], [[1.0, 0.0]], mask=[1, 1])


def test_regression_loyalty():
    out = regression_loyalty([1.0, 4.0], [1.5, 4.0])
    assert out["regression_loyalty"] == pytest.approx(1 - 0.25 / 5)
    assert out["pearson"] == pytest.approx(1.0)
    assert regression_loyalty([0.0, 5.0], [5.0, 0.0])["regression_loyalty"] == pytest.approx(0.0)
    assert regression_loyalty([0.2, 0.4, 0.9], [0.2, 0.4, 0.9], score_range=(0, 1))["regression_loyalty"] == 1.0
    assert math.isnan(regression_loyalty([1.0, 1.0], [2.0, 3.0])["pearson"])
    with pytest.raises(ValueError, match="one score per example"):
        regression_loyalty([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="score_range"):
        regression_loyalty([1.0], [1.0], score_range=(5, 0))


def test_evaluate_modules_load_offline_and_agree(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")
    student, teacher = [[3, 1, -100, 2], [0, 0]], [[3, 2, -100, 2], [0, -100]]
    m = load("label_loyalty", cache_dir=str(tmp_path))
    assert m.compute(predictions=student, references=teacher)["label_loyalty"] == pytest.approx(
        label_loyalty(student, teacher)
    )
    assert m.compute(predictions=[1, 0, 2], references=[1, 1, 2])["label_loyalty"] == pytest.approx(2 / 3)

    p_t, p_s = [[1.0, 0.0], [0.3, 0.7]], [[0.5, 0.5], [0.3, 0.7]]
    m = load("probability_loyalty", cache_dir=str(tmp_path))
    assert m.compute(predictions=p_s, references=p_t)["probability_loyalty"] == pytest.approx(
        probability_loyalty(p_t, p_s)
    )

    m = load("regression_loyalty", cache_dir=str(tmp_path))
    out = m.compute(predictions=[1.0, 4.0, 2.0], references=[1.5, 4.0, 3.0])
    ref = regression_loyalty([1.0, 4.0, 2.0], [1.5, 4.0, 3.0])
    assert out["regression_loyalty"] == pytest.approx(ref["regression_loyalty"])
    assert out["pearson"] == pytest.approx(ref["pearson"])


def test_module_cards_state_formula():
    root = Path(__file__).resolve().parents[1] / "optimum_ro" / "metrics" / "loyalty"
    for name, needle in [
        ("label_loyalty", "1[student_label_i == teacher_label_i]"),
        ("probability_loyalty", "1 - sqrt(JSD"),
        ("regression_loyalty", "|s_i - t_i| / (hi - lo)"),
    ]:
        assert needle in (root / name / "README.md").read_text()
    with pytest.raises(ValueError, match="choose one of"):
        load("loyalty")
