"""Joint intent + slot distillation, the NLU dev curve, and the stage-2 pretraining pieces (made-up data)."""

import json

import pytest
import torch
import torch.nn.functional as F
from card_checks import load_card_metadata
from test_nlu import nlu_dir  # noqa: F401  (fixture)

from optimum_ro.distillation.nlu import (
    INTENT_KEY,
    SLOT_KEY,
    WithTeacherTargets,
    collate_nlu_distill,
    intent_slot_distillation_loss,
    soft_cross_entropy,
)
from optimum_ro.models.intent_slot import IntentSlotOutput


def test_soft_cross_entropy_is_t_squared_kl():
    s, t = torch.randn(4, 5), torch.randn(4, 5)
    by_hand = (F.softmax(t / 2, -1) * (F.log_softmax(t / 2, -1) - F.log_softmax(s / 2, -1))).sum(-1).mean() * 4
    assert torch.allclose(soft_cross_entropy(s, t, 2.0), by_hand, atol=1e-6)
    assert soft_cross_entropy(t, t, 2.0).abs() < 1e-6


def test_slot_distillation_reads_only_labelled_positions():
    torch.manual_seed(0)
    out = IntentSlotOutput(loss=torch.tensor(1.5), intent_logits=torch.randn(2, 3), slot_logits=torch.randn(2, 4, 5))
    labels = torch.tensor([[-100, 1, -100, 2], [-100, 0, -100, -100]])
    batch = {"slot_labels": labels, INTENT_KEY: torch.randn(2, 3), SLOT_KEY: torch.randn(2, 4, 5)}
    loss, parts = intent_slot_distillation_loss(out, batch, 2.0, alpha_kd=0.5, alpha_task=0.5)
    assert torch.allclose(loss, 0.5 * (parts["kd_intent"] + parts["kd_slot"]) + 0.5 * 1.5)
    changed = dict(batch)
    changed[SLOT_KEY] = batch[SLOT_KEY].clone()
    changed[SLOT_KEY][labels == -100] = 100.0  # teacher logits at unlabelled positions must not matter
    assert torch.allclose(intent_slot_distillation_loss(out, changed, 2.0, 0.5, 0.5)[0], loss)
    changed[SLOT_KEY][0, 1, 0] += 3.0  # ... and at a labelled one they do
    assert not torch.allclose(intent_slot_distillation_loss(out, changed, 2.0, 0.5, 0.5)[0], loss)


def test_teacher_targets_must_match_the_dataset():
    encoded = [
        {"input_ids": [2, 5, 3], "attention_mask": [1, 1, 1], "intent_labels": 0, "slot_labels": [-100, 1, -100]}
    ]
    targets = {"intent": torch.zeros(2, 3).numpy(), "slot": [torch.zeros(3, 4).numpy()] * 2}
    with pytest.raises(ValueError, match="cover 2 examples but the dataset has 1"):
        WithTeacherTargets(encoded, targets)
    short = WithTeacherTargets(encoded, {"intent": targets["intent"][:1], "slot": [torch.zeros(2, 4).numpy()]})
    with pytest.raises(ValueError, match="share the tokenizer"):
        short[0]
    ok = WithTeacherTargets(encoded, {"intent": targets["intent"][:1], "slot": [torch.ones(3, 4).numpy()]})
    batch = collate_nlu_distill([ok[0], ok[0]])
    assert batch[SLOT_KEY].shape == (2, 3, 4) and batch[INTENT_KEY].shape == (2, 3)


@pytest.fixture(scope="module")
def nlu_teacher(tiny_bert_dir, tmp_path_factory):
    from test_nlu import UTTERANCES, records

    from optimum_ro.tasks.nlu_finetune import NLUFinetuneConfig, finetune_nlu

    data = tmp_path_factory.mktemp("nlu_data")
    for split, rows in (("train", UTTERANCES * 4), ("dev", UTTERANCES[:3]), ("test", UTTERANCES[3:])):
        (data / f"{split}.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records(rows)))
    out = tmp_path_factory.mktemp("nlu_teacher")
    cfg = NLUFinetuneConfig(
        model=str(tiny_bert_dir),
        data=str(data),
        output_dir=str(out),
        max_steps=100,
        batch_size=8,
        learning_rate=2e-3,
        head_learning_rate=2e-2,
        curve_steps=50,
        save_steps=100,
    )
    results = finetune_nlu(cfg)
    return out, data, results


def test_finetune_writes_a_dev_curve(nlu_teacher):
    _, _, results = nlu_teacher
    assert [p["step"] for p in results["curve"]] == [50, 100]
    assert results["curve"][-1]["intent_accuracy"] == results["dev"]["intent_accuracy"] == 1.0


def test_distill_intent_slot_learns_from_the_teacher_and_resumes(nlu_teacher, tiny_bert_dir, tmp_path):
    from optimum_ro.distillation.nlu_distill import NLUDistillConfig, distill_intent_slot
    from optimum_ro.models.intent_slot import BertForIntentSlot

    teacher, data, _ = nlu_teacher
    cfg = NLUDistillConfig(
        teacher=str(teacher),
        student=str(tiny_bert_dir),
        data=str(data),
        output_dir=str(tmp_path / "student"),
        max_steps=100,
        batch_size=8,
        learning_rate=2e-3,
        curve_steps=50,
        save_steps=50,
    )
    results = distill_intent_slot(cfg)
    assert sorted(results["heads_copied_from_teacher"]) == [
        "intent_classifier.bias",
        "intent_classifier.weight",
        "slot_classifier.bias",
        "slot_classifier.weight",
    ]
    assert results["train_steps"] == 100 and [p["step"] for p in results["curve"]] == [50, 100]
    assert results["dev"]["intent_accuracy"] == 1.0 and results["dev"]["intent_loyalty"] == 1.0
    student = BertForIntentSlot.from_pretrained(tmp_path / "student")
    assert student.config.intent_labels == BertForIntentSlot.from_pretrained(teacher).config.intent_labels
    assert "intent loyalty" in (tmp_path / "student" / "README.md").read_text()
    load_card_metadata(tmp_path / "student", pipeline_tag="token-classification", base_model=teacher.name)
    again = distill_intent_slot(cfg)  # the same call again: resumes from its last checkpoint, same scores
    assert again["resumed_from"].endswith("checkpoint-100") and again["dev"]["intent_accuracy"] == 1.0


def test_distill_intent_slot_refuses_a_student_with_another_vocabulary(nlu_teacher, tmp_path):
    from optimum_ro.distillation.nlu_distill import NLUDistillConfig, distill_intent_slot
    from optimum_ro.testing import tiny_bert, trained_wordpiece_tokenizer

    other = trained_wordpiece_tokenizer(["alte cuvinte cu totul diferite aici"], vocab_size=60)
    folder = tmp_path / "other"
    tiny_bert("BertModel", vocab_size=len(other), num_layers=1).save_pretrained(folder)
    other.save_pretrained(folder)
    teacher, data, _ = nlu_teacher
    cfg = NLUDistillConfig(teacher=str(teacher), student=str(folder), data=str(data), output_dir=str(tmp_path / "s"))
    with pytest.raises(SystemExit, match="different vocabularies"):
        distill_intent_slot(cfg)


def test_heldout_mlm_loss_is_repeatable_and_leaves_the_rng_alone(tiny_bert_dir):
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from optimum_ro.tasks.mlm_eval import heldout_mlm_loss

    model = AutoModelForMaskedLM.from_pretrained(tiny_bert_dir)
    tok = AutoTokenizer.from_pretrained(tiny_bert_dir)
    lines = ["aprinde lumina în bucătărie", "pune muzică de la Queen", "oprește muzica"] * 5
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    a = heldout_mlm_loss(model, tok, lines, max_length=16, seed=0)
    assert torch.equal(torch.random.get_rng_state(), state)
    b = heldout_mlm_loss(model, tok, lines, max_length=16, seed=0)
    assert a == b and a["masked_tokens"] > 0 and a["lines"] == 15
    with pytest.raises(ValueError, match="non-empty line"):
        heldout_mlm_loss(model, tok, ["", " "])


def test_pretrain_head_only_keeps_the_encoder_and_reports_heldout_loss(tiny_bert_dir, tmp_path):
    from transformers import AutoModelForMaskedLM

    from optimum_ro.tasks.pretrain import PretrainConfig, pretrain

    text = tmp_path / "text.txt"
    text.write_text("\n".join(["aprinde lumina în bucătărie și pune muzică de la Queen"] * 200))
    heldout = tmp_path / "heldout.txt"
    heldout.write_text("\n".join(["aprinde lumina în bucătărie", "pune muzică de la Queen"] * 10))
    out = tmp_path / "head"
    summary = pretrain(
        PretrainConfig(
            text=str(text),
            output_dir=str(out),
            from_model=str(tiny_bert_dir),
            max_length=16,
            batch_size=8,
            learning_rate=5e-3,
            max_steps=30,
            warmup_steps=1,
            save_steps=30,
            head_only=True,
            heldout_text=str(heldout),
        )
    )
    before = AutoModelForMaskedLM.from_pretrained(tiny_bert_dir).state_dict()
    after = AutoModelForMaskedLM.from_pretrained(out).state_dict()
    encoder = [k for k in before if k.startswith("bert.")]
    assert encoder and all(torch.equal(before[k], after[k]) for k in encoder)
    assert not torch.equal(
        before["cls.predictions.transform.dense.weight"], after["cls.predictions.transform.dense.weight"]
    )
    assert summary["heldout_mlm"]["after"]["loss"] < summary["heldout_mlm"]["before"]["loss"]


def test_distill_nlu_command_runs_and_refuses_a_missing_teacher(nlu_teacher, tiny_bert_dir, tmp_path, capsys):
    from optimum_ro.cli import main

    teacher, data, _ = nlu_teacher
    out = tmp_path / "cli-student"
    common = ["--student", str(tiny_bert_dir), "--data", str(data), "--output", str(out)]
    assert main(["distill-nlu", "--teacher", str(teacher), *common, "--max_steps", "3", "--batch_size", "4"]) == 0
    assert json.loads((out / "eval_results.json").read_text())["train_steps"] == 3
    capsys.readouterr()
    assert main(["distill-nlu", "--teacher", str(tmp_path / "no-teacher"), *common]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--teacher" in err[0]
