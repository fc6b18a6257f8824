import json

import numpy as np
import pytest
from conftest import shared_task_dir

from optimum_ro.tasks import (
    IGNORE_INDEX,
    TASKS,
    TaskDataError,
    TokenizerError,
    align_word_labels,
    decode_predictions,
    load_task,
    preprocess_task,
    task_texts,
)


@pytest.mark.parametrize("task", sorted(TASKS))
def test_load_fixture_folder_gives_validation_split(task, fixtures_dir):
    ds = load_task(task, fixtures_dir / "ro" / task)
    assert set(ds) == {"train", "validation", "test"}
    assert len(ds["train"]) == 24 and len(ds["validation"]) == 8
    spec = TASKS[task]
    row = ds["train"][0]
    assert set(spec.text_fields) | {spec.label_field} <= set(row)


def test_sequence_labels_become_names(fixtures_dir):
    ds = load_task("sentiment", fixtures_dir / "ro" / "sentiment")
    assert set(ds["train"]["label"]) == {"negative", "positive"}


def _write(tmp_path, rows):
    d = tmp_path / "data"
    d.mkdir()
    (d / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return d


def test_unknown_label_names_file_and_line(tmp_path):
    d = _write(tmp_path, [{"tokens": ["a"], "upos": ["NOUN"]}, {"tokens": ["b", "c"], "upos": ["NOUN", "FOO"]}])
    with pytest.raises(TaskDataError, match=r"train.jsonl:2: unknown pos label\(s\) \['FOO'\]"):
        load_task("pos", d)


def test_missing_field_names_file_and_line(tmp_path):
    d = _write(tmp_path, [{"sentence1": "a", "score": 1.0}])
    with pytest.raises(TaskDataError, match=r"train.jsonl:1: missing field\(s\) \['sentence2'\]"):
        load_task("sts", d)


def test_bad_json_and_out_of_range_score(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "train.jsonl").write_text('{"sentence1": "a", "sentence2": "b", "score": 7}\n')
    with pytest.raises(TaskDataError, match="outside the task's range"):
        load_task("sts", d)
    (d / "train.jsonl").write_text('{"text": "x", "label": "RO"}\n{oops\n')
    with pytest.raises(TaskDataError, match="train.jsonl:2: not valid JSON"):
        load_task("dialect", d)


def test_mismatched_token_and_tag_lengths(tmp_path):
    d = _write(tmp_path, [{"tokens": ["a", "b"], "ner_tags": ["O"]}])
    with pytest.raises(TaskDataError, match="equal length"):
        load_task("ner", d)


def test_no_data_is_a_clear_error():
    with pytest.raises(TaskDataError, match="No data given"):
        load_task("ner", None)
    with pytest.raises(ValueError, match="Unknown task"):
        load_task("parsing", "x")


def test_datasets_source_saved_to_disk_with_class_labels(tmp_path):
    import datasets

    feats = datasets.Features(
        {
            "tokens": datasets.List(datasets.Value("string")),
            "upos": datasets.List(datasets.ClassLabel(names=list(TASKS["pos"].labels))),
        }
    )
    ds = datasets.Dataset.from_dict({"tokens": [["Ion", "merge"]], "upos": [[11, 15]]}, features=feats)
    datasets.DatasetDict({"train": ds, "validation": ds}).save_to_disk(tmp_path / "saved")
    out = load_task("pos", tmp_path / "saved")
    assert out["validation"][0]["upos"] == ["PROPN", "VERB"]


def test_align_word_labels_first_subtoken():
    assert align_word_labels([None, 0, 0, 1, None], [5, 7]) == [IGNORE_INDEX, 5, IGNORE_INDEX, 7, IGNORE_INDEX]


def test_token_preprocessing_aligns_labels_to_words(fixtures_dir, tiny_tokenizer):
    raw = load_task("pos", fixtures_dir / "ro" / "pos")
    ds = preprocess_task(raw, tiny_tokenizer, "pos")
    label2id = TASKS["pos"].label2id
    for raw_row, row in zip(raw["train"], ds["train"]):
        labelled = [label for label in row["labels"] if label != IGNORE_INDEX]
        assert labelled == [label2id[t] for t in raw_row["upos"]]
        assert len(row["word_ids"]) == len(row["input_ids"])
        assert row["word_ids"][0] == -1 and row["labels"][0] == IGNORE_INDEX


def test_pair_and_sequence_preprocessing(fixtures_dir, tiny_tokenizer):
    sts = preprocess_task(load_task("sts", fixtures_dir / "ro" / "sts"), tiny_tokenizer, "sts")
    row = sts["train"][0]
    assert isinstance(row["labels"], float)
    assert row["input_ids"].count(tiny_tokenizer.sep_token_id) == 2
    sen = preprocess_task(
        load_task("dialect", fixtures_dir / "ro" / "dialect"), tiny_tokenizer, "dialect", max_length=8
    )
    assert all(len(r) <= 8 for r in sen["train"]["input_ids"])
    assert set(sen["train"]["labels"]) == {0, 1}


def test_slow_tokenizer_is_refused_for_token_tasks(fixtures_dir):
    class PythonOnlyTokenizer:  # transformers 5 still has python-backend tokenizers without word_ids
        is_fast = False

    with pytest.raises(TokenizerError, match="PythonOnlyTokenizer is a slow tokenizer"):
        preprocess_task(load_task("ner", fixtures_dir / "ro" / "ner"), PythonOnlyTokenizer(), "ner")


def test_decode_predictions_token_task():
    logits = np.zeros((1, 4, 3))
    logits[0, 1, 2] = logits[0, 3, 1] = 1
    labels = np.array([[IGNORE_INDEX, 2, IGNORE_INDEX, 0]])
    preds, refs = decode_predictions("ner", logits, labels)
    names = TASKS["ner"].labels
    assert preds == [[names[2], names[1]]] and refs == [[names[2], names[0]]]


@pytest.mark.shared_data
@pytest.mark.parametrize("task", sorted(TASKS))
def test_real_data_loads_and_validates(task):
    ds = load_task(task, shared_task_dir(TASKS[task].folder), max_samples=200)
    assert len(ds["train"]) == 200 and "validation" in ds


def test_task_texts_yields_every_text_field_of_one_split(fixtures_dir, tmp_path):
    texts = list(task_texts(fixtures_dir / "ro", "train"))
    expected = 0
    for name, spec in TASKS.items():
        rows = load_task(name, fixtures_dir / "ro" / spec.folder, splits=["train"])["train"]
        expected += len(rows) * len(spec.text_fields)
    assert len(texts) == expected and all(isinstance(t, str) and t for t in texts)
    pos = load_task("pos", fixtures_dir / "ro" / "pos", splits=["train"])["train"]
    assert " ".join(pos[0]["tokens"]) in texts  # tagging rows are joined with spaces
    sts = load_task("sts", fixtures_dir / "ro" / "sts", splits=["train"])["train"]
    assert sts[0]["sentence2"] in texts  # both sentences of a pair
    # a split a task folder does not have is skipped, not an error
    (tmp_path / "sentiment").mkdir()
    (tmp_path / "sentiment" / "train.jsonl").write_text(
        (fixtures_dir / "ro" / "sentiment" / "train.jsonl").read_text()
    )
    assert list(task_texts(tmp_path, "validation")) == []
    assert len(list(task_texts(tmp_path, "train"))) == len(
        load_task("sentiment", fixtures_dir / "ro" / "sentiment", splits=["train"])["train"]
    )
