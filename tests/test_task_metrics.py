from pathlib import Path

import evaluate
import pytest

from optimum_ro.metrics import task_scores

MODULE = str(Path(__file__).resolve().parents[1] / "optimum_ro" / "metrics" / "romanian_tasks")


def test_pos_accuracy_counts_words():
    assert task_scores("pos", [["NOUN", "VERB"], ["ADJ"]], [["NOUN", "NOUN"], ["ADJ"]]) == {"accuracy": 2 / 3}


def test_ner_is_strict_entity_f1():
    refs = [["B-PERSON", "I-PERSON", "O", "B-GPE"]]
    # half-matched PERSON span counts as wrong in strict mode; GPE correct
    preds = [["B-PERSON", "O", "O", "B-GPE"]]
    s = task_scores("ner", preds, refs)
    assert s["precision"] == pytest.approx(0.5) and s["recall"] == pytest.approx(0.5) and s["f1"] == pytest.approx(0.5)
    # an I- tag without B- is not an entity under strict IOB2
    assert task_scores("ner", [["I-GPE"]], [["B-GPE"]])["f1"] == 0.0


def test_classification_accuracy_and_macro_f1():
    s = task_scores(
        "sentiment", ["positive", "positive", "negative", "positive"], ["positive", "negative", "negative", "positive"]
    )
    assert s["accuracy"] == 0.75
    # F1(pos) = 2*2/(2*2+1+0) = 0.8 ; F1(neg) = 2*1/(2*1+0+1) = 2/3
    assert s["macro_f1"] == pytest.approx((0.8 + 2 / 3) / 2)


def test_sts_pearson_spearman():
    s = task_scores("sts", [1.0, 2.0, 3.0, 5.0], [1.0, 2.0, 3.0, 4.0])
    assert s["spearman"] == pytest.approx(1.0)
    assert 0.95 < s["pearson"] < 1.0
    assert task_scores("sts", [2.0, 2.0], [1.0, 3.0]) == {"pearson": 0.0, "spearman": 0.0}


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="sentence 0"):
        task_scores("pos", [["NOUN"]], [["NOUN", "VERB"]])
    with pytest.raises(ValueError, match="Unknown task"):
        task_scores("qa", [], [])


@pytest.mark.parametrize(
    "task,preds,refs",
    [
        ("ner", [["B-GPE", "O"]], [["B-GPE", "O"]]),
        ("dialect", ["MD", "RO"], ["MD", "MD"]),
        ("sts", [0.5, 2.0, 4.0], [1.0, 2.5, 4.5]),
    ],
)
def test_evaluate_module_loads_offline_and_matches(task, preds, refs):
    metric = evaluate.load(MODULE, task)
    assert metric.compute(predictions=preds, references=refs) == pytest.approx(task_scores(task, preds, refs))
