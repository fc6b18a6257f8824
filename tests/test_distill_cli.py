"""End to end through ``optimum-ro distill`` on tiny made-up data and tiny random teachers."""

import json
import re

import pytest
from card_checks import load_card_metadata, result_metrics
from transformers import AutoModelForMaskedLM, AutoModelForTokenClassification, AutoTokenizer

from optimum_ro.cli import main
from optimum_ro.tasks import TASKS
from optimum_ro.testing import (
    TOY_WORDS,
    tiny_bert,
    tiny_unigram_tokenizer,
    tiny_wordpiece_tokenizer,
    toy_sentences,
)

UPOS = TASKS["pos"].labels


@pytest.fixture(scope="module")
def tokenizers():
    pieces = {"▁" + w: -2.0 - i / 20 for i, w in enumerate(TOY_WORDS[::2])}
    pieces.update({"le": -3.0, "uri": -3.0})
    return tiny_wordpiece_tokenizer(TOY_WORDS), tiny_unigram_tokenizer(pieces)


def _save(model, tok, path):
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


def _pos_data(folder):
    folder.mkdir()
    for split, seed in (("train", 0), ("dev", 1)):
        sentences, _ = toy_sentences(8, seed)
        rows = [{"tokens": s, "upos": [UPOS[len(w) % len(UPOS)] for w in s]} for s in sentences]
        (folder / f"{split}.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    return str(folder)


def test_cli_two_teachers_token_task_with_trimming(tmp_path, tokenizers):
    wp, ug = tokenizers
    labels = dict(id2label=dict(enumerate(UPOS)), label2id={label: i for i, label in enumerate(UPOS)})
    teacher_a = _save(
        tiny_bert("BertForTokenClassification", vocab_size=len(wp), num_labels=17, **labels), wp, tmp_path / "ta"
    )
    teacher_b = _save(
        tiny_bert("BertForTokenClassification", vocab_size=len(ug), num_labels=17, hidden_size=48, **labels),
        ug,
        tmp_path / "tb",
    )
    data = _pos_data(tmp_path / "pos")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(" ".join(s) for s in toy_sentences(16, 0)[0] + toy_sentences(8, 1)[0]))
    out = tmp_path / "student"
    code = main(
        [
            "distill",
            "--teacher",
            teacher_a,
            "--teacher",
            teacher_b,
            "--task",
            "pos",
            "--data",
            data,
            "--student-layers",
            "2",
            "--output",
            str(out),
            "--trim-vocab-corpus",
            str(corpus),
            "--teacher-weights",
            "0.5",
            "0.5",
            "--tune-teacher-weights",
            "--tune-steps",
            "2",
            "--max-steps",
            "2",
            "--batch-size",
            "4",
        ]
    )
    assert code == 0
    results = json.loads((out / "distill_results.json").read_text())
    assert results["vocabulary"]["after"] < results["vocabulary"]["before"] == len(wp)
    assert results["student_parameters"] < results["student_parameters_before_trim"] < results["teacher_parameters"][0]
    assert (
        0 <= results["validation"]["validation_label_loyalty"] <= 1 and "validation_accuracy" in results["validation"]
    )
    student = AutoModelForTokenClassification.from_pretrained(out)
    tok = AutoTokenizer.from_pretrained(out)
    assert student.config.num_hidden_layers == 2 and student.config.vocab_size == len(tok) < len(wp)
    assert not (out / "distillation_projections.safetensors").exists()
    card = (out / "README.md").read_text()  # push_to_hub-ready: YAML header, both teachers, scores and loyalty
    assert "| ta | " in card and "| tb | " in card and str(tmp_path) not in card  # teachers by name, not path
    meta = load_card_metadata(
        out, language="ro", license="cc-by-sa-4.0", base_model="ta", datasets=["universal_dependencies"]
    )
    assert "distillation" in meta["tags"] and meta["pipeline_tag"] == "token-classification"
    assert ("validation", "label_loyalty") in result_metrics(out)
    assert "| validation | loyalty | label_loyalty |" in card and "| validation | teacher(s) | accuracy |" in card
    assert results["loss_weights"]["alpha_task"] == 0.5
    tuning = results["teacher_weights_tuning"]  # chosen on dev among (0, 1), (0.5, 0.5), (1, 0); the card shows them
    assert tuning["previous"] == [0.5, 0.5] and [w for w, _ in tuning["grid"]] == [[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]]
    assert results["teacher_weights"] == tuning["weights"] and tuning["score"] == max(s for _, s in tuning["grid"])
    assert f"| tb | {tuning['weights'][1]:g} |" in card


def test_cli_cosine_loss_on_a_sequence_task_needs_a_shared_vocabulary(tmp_path, tokenizers, capsys):
    """A trimmed student no longer shares its teacher's vocabulary, and a sentence pair has no word alignment: the
    hidden-state cosine loss cannot be computed, which must be said before any training (it used to fail at step 0)."""
    wp, _ = tokenizers
    teacher = _save(tiny_bert("BertForSequenceClassification", vocab_size=len(wp), num_labels=1), wp, tmp_path / "t")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(" ".join(s) for s in toy_sentences(16, 0)[0]))
    (tmp_path / "no-data-needed").mkdir()  # checked to exist, never read: the error comes first
    args = [
        "distill",
        "--teacher",
        teacher,
        "--task",
        "sts",
        "--data",
        str(tmp_path / "no-data-needed"),
        "--student-layers",
        "1",
        "--output",
        str(tmp_path / "student"),
        "--trim-vocab-corpus",
        str(corpus),
        "--max-steps",
        "2",
    ]
    assert main(args + ["--alpha-cos", "1.0"]) == 2
    assert re.search(r"alpha_cos=1.0 on the sequence task 'sts'.*teacher\(s\) \[0\] do not", capsys.readouterr().err)
    assert not (tmp_path / "student" / "distill_results.json").exists()


def test_cli_mlm_stage(tmp_path, tokenizers):
    wp, ug = tokenizers
    teacher_a = _save(tiny_bert("BertForMaskedLM", vocab_size=len(wp)), wp, tmp_path / "ta")
    teacher_b = _save(tiny_bert("BertForMaskedLM", vocab_size=len(ug), hidden_size=48), ug, tmp_path / "tb")
    text = tmp_path / "raw.txt"
    text.write_text("\n".join(" ".join(s) for s in toy_sentences(12, 4)[0]))
    out = tmp_path / "student"
    assert (
        main(
            [
                "distill",
                "--teacher",
                teacher_a,
                "--teacher",
                teacher_b,
                "--task",
                "mlm",
                "--data",
                str(text),
                "--student-layers",
                "2",
                "--output",
                str(out),
                "--max-steps",
                "2",
                "--batch-size",
                "4",
                "--save-steps",
                "1",
            ]
        )
        == 0
    )
    results = json.loads((out / "distill_results.json").read_text())
    assert results["train"]["steps"] == 2
    assert (out / "checkpoints" / "checkpoint-2" / "distillation_projections.safetensors").exists()
    assert AutoModelForMaskedLM.from_pretrained(out).config.num_hidden_layers == 2
    assert "masked-LM (general distillation)" in (out / "README.md").read_text()

    # task distillation from the general student: no task head of its own, so it starts from the teacher's
    labels = dict(id2label=dict(enumerate(UPOS)), label2id={label: i for i, label in enumerate(UPOS)})
    task_teacher = _save(
        tiny_bert("BertForTokenClassification", vocab_size=len(wp), num_labels=17, **labels), wp, tmp_path / "ta-pos"
    )
    task_out = tmp_path / "student-pos"
    assert (
        main(
            [
                "distill",
                "--teacher",
                task_teacher,
                "--task",
                "pos",
                "--data",
                _pos_data(tmp_path / "pos"),
                "--student",
                str(out),
                "--output",
                str(task_out),
                "--max-steps",
                "1",
                "--batch-size",
                "4",
            ]
        )
        == 0
    )
    task_results = json.loads((task_out / "distill_results.json").read_text())
    assert {"classifier.weight", "classifier.bias"} <= set(task_results["head_copied_from_teacher"])


def test_cli_mlm_stage_with_a_vocabulary_size(tmp_path, tokenizers, capsys):
    """--trim-vocab-size keeps the corpus's most frequent tokens; in the MLM stage the teacher the student is cut
    from is trimmed to the same tokens, so its soft targets still cover the student's vocabulary."""
    from optimum_ro.distillation import count_token_ids, select_vocabulary

    wp, _ = tokenizers
    teacher = _save(tiny_bert("BertForMaskedLM", vocab_size=len(wp)), wp, tmp_path / "ta")
    lines = [" ".join(s) for s in toy_sentences(12, 4)[0]]
    text = tmp_path / "raw.txt"
    text.write_text("\n".join(lines))
    size = len(select_vocabulary(wp, count_token_ids(wp, lines), max_size=10**6)) - 3  # three used words fewer
    out = tmp_path / "student"
    assert (
        main(
            [
                "distill",
                "--teacher",
                teacher,
                "--task",
                "mlm",
                "--data",
                str(text),
                "--student-layers",
                "2",
                "--output",
                str(out),
                "--max-steps",
                "2",
                "--batch-size",
                "4",
                "--trim-vocab-corpus",
                str(text),
                "--trim-vocab-size",
                str(size),
            ]
        )
        == 0
    )
    results = json.loads((out / "distill_results.json").read_text())
    assert results["vocabulary"]["after"] == size and results["vocabulary"]["max_size"] == size
    assert (
        results["loss_weights"]["alpha_ce"] > 0
    )  # the soft-target loss ran: the trimmed teacher shares the vocabulary
    tok = AutoTokenizer.from_pretrained(out)
    assert len(tok) == size == AutoModelForMaskedLM.from_pretrained(out).config.vocab_size
    assert tok.unk_token_id not in tok(lines)["input_ids"][0]
    assert (
        main(
            [
                "distill",
                "--teacher",
                teacher,
                "--task",
                "mlm",
                "--data",
                str(text),
                "--output",
                str(tmp_path / "x"),
                "--trim-vocab-size",
                "20",
            ]
        )
        == 2
    )
    assert "needs --trim-vocab-corpus" in capsys.readouterr().err
