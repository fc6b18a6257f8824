import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForMaskedLM, AutoModelForTokenClassification

from optimum_ro.distillation import (
    AlignmentError,
    DistillationTrainer,
    DistillationTrainingArguments,
    make_student,
    prepare_student_words,
    prepare_teacher_inputs,
)
from optimum_ro.tasks import metrics_fn
from optimum_ro.testing import (
    TOY_WORDS,
    tiny_bert,
    tiny_unigram_tokenizer,
    tiny_wordpiece_tokenizer,
    toy_sentences,
    toy_sequence_dataset,
    toy_token_dataset,
)

NO_DROPOUT = dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


@pytest.fixture(scope="module")
def wordpiece():
    return tiny_wordpiece_tokenizer(TOY_WORDS)


@pytest.fixture(scope="module")
def unigram():
    pieces = {"▁" + w: -2.0 - i / 20 for i, w in enumerate(TOY_WORDS[::2])}
    pieces.update({"le": -3.0, "uri": -3.0, "ri": -4.0, "ma": -4.0, "re": -4.0})
    return tiny_unigram_tokenizer(pieces)


def _args(tmp_path, **kw):
    base = dict(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        learning_rate=1e-3,
        max_steps=2,
        report_to=[],
        save_strategy="no",
        logging_steps=1,
        use_cpu=True,
        seed=0,
        disable_tqdm=True,
    )
    base.update(kw)
    return DistillationTrainingArguments(**base)


def _params(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_single_teacher_token_task_trains_student_and_freezes_teacher(tmp_path, wordpiece):
    teacher = tiny_bert("BertForTokenClassification", vocab_size=len(wordpiece), num_labels=3)
    student = make_student(teacher, num_layers=2)
    before_t, before_s = _params(teacher), _params(student)
    ds = toy_token_dataset(wordpiece, n=12)
    trainer = DistillationTrainer(
        model=student,
        teacher=teacher,
        args=_args(tmp_path),
        train_dataset=ds,
        eval_dataset=ds,
        processing_class=wordpiece,
    )
    trainer.train()
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    assert all(torch.equal(before_t[k], v) for k, v in teacher.state_dict().items())
    assert any(not torch.equal(before_s[k], v) for k, v in student.state_dict().items())
    logged = [h for h in trainer.state.log_history if "loss" in h]
    assert logged and {"loss_kl", "loss_task"} <= set(logged[0])
    assert all(torch.isfinite(torch.tensor(h["loss"])) for h in logged)
    metrics = trainer.evaluate()
    assert metrics["eval_loss"] > 0
    loyalty = trainer.loyalty(ds)
    assert 0 <= loyalty["label_loyalty"] <= 1 and 0 < loyalty["probability_loyalty"] < 1
    # a student that is a full copy of its teacher is perfectly loyal
    clone = DistillationTrainer(
        model=make_student(teacher, layers=[0, 1, 2, 3]),
        teacher=teacher,
        args=_args(tmp_path),
        eval_dataset=ds,
        processing_class=wordpiece,
        compute_metrics=metrics_fn("pos"),
    )
    perfect = clone.loyalty(task="pos")
    assert perfect["label_loyalty"] == 1.0 and perfect["probability_loyalty"] == pytest.approx(1.0, abs=1e-3)
    # the teacher's own score, computed inside loyalty(), is the score of its exact copy
    assert perfect["teacher_score_accuracy"] == pytest.approx(clone.evaluate()["eval_accuracy"])
    assert "teacher_score_accuracy" not in trainer.loyalty(ds)  # only when the task is named
    preds = trainer.predict(ds)
    assert preds.predictions.shape[0] == 12 and preds.predictions.shape[-1] == 3
    trainer.save_model(str(tmp_path / "student"))
    exported = AutoModelForTokenClassification.from_pretrained(tmp_path / "student")
    assert exported.config.num_hidden_layers == 2
    assert set(load_file(tmp_path / "student" / "model.safetensors")) == set(student.state_dict())


def _ga_run(tmp_path, tok, batch, ga):
    teacher = tiny_bert("BertForTokenClassification", vocab_size=len(tok), num_labels=3, seed=1, **NO_DROPOUT)
    student = make_student(teacher, num_layers=2)
    torch.nn.init.normal_(student.classifier.weight, std=0.5)  # a student that disagrees with its teacher
    ds = toy_token_dataset(tok, n=4, seed=3)
    lengths = [sum(x != -100 for x in row) for row in ds["labels"]]
    assert len(set(lengths)) > 1  # micro-batches differ in labelled tokens: that is what GA must get right
    args = _args(
        tmp_path / f"b{batch}",
        per_device_train_batch_size=batch,
        gradient_accumulation_steps=ga,
        max_steps=1,
        optim="sgd",
        learning_rate=0.5,
        lr_scheduler_type="constant",
        alpha_ce=0.7,
        alpha_task=0.3,
        max_grad_norm=0.0,
    )
    DistillationTrainer(model=student, teacher=teacher, args=args, train_dataset=ds, processing_class=tok).train()
    return _params(student), _params(make_student(teacher, num_layers=2))


def test_gradient_accumulation_matches_larger_batch(tmp_path, wordpiece):
    small, _ = _ga_run(tmp_path, wordpiece, batch=2, ga=2)
    large, _ = _ga_run(tmp_path, wordpiece, batch=4, ga=1)
    moved = max((small[k] - large[k]).abs().max().item() for k in small)
    assert moved < 1e-5, f"2x2 accumulation differs from batch 4 by {moved}"
    torch.manual_seed(0)
    init = make_student(
        tiny_bert("BertForTokenClassification", vocab_size=len(wordpiece), num_labels=3, seed=1, **NO_DROPOUT), 2
    )
    # the update itself is not trivially zero
    assert max((large[k] - v).abs().max().item() for k, v in _params(init).items() if "classifier" not in k) > 1e-4


def test_resume_from_checkpoint_continues_exactly_and_skips_teacher(tmp_path, wordpiece):
    def run(out, resume=None):
        teacher = tiny_bert("BertForSequenceClassification", vocab_size=len(wordpiece), num_labels=2, seed=2)
        student = make_student(teacher, num_layers=2)
        ds = toy_sequence_dataset(wordpiece, n=16)
        args = _args(out, per_device_train_batch_size=4, max_steps=3, save_strategy="steps", save_steps=1)
        trainer = DistillationTrainer(
            model=student, teacher=teacher, args=args, train_dataset=ds, processing_class=wordpiece
        )
        trainer.train(resume_from_checkpoint=resume)
        return _params(student), student

    full, student = run(tmp_path / "a")
    checkpoint = tmp_path / "a" / "checkpoint-1"
    saved = load_file(checkpoint / "model.safetensors")
    assert set(saved) <= set(student.state_dict())  # the student only: no teacher tensors
    assert json.loads((checkpoint / "config.json").read_text())["num_hidden_layers"] == 2
    resumed, _ = run(tmp_path / "b", resume=str(checkpoint))
    diff = max((full[k] - resumed[k]).abs().max().item() for k in full)
    assert diff == 0.0, f"resumed run differs by {diff}"


def test_regression_task_uses_teacher_scores(tmp_path, wordpiece):
    teacher = tiny_bert(
        "BertForSequenceClassification", vocab_size=len(wordpiece), num_labels=1, problem_type="regression"
    )
    student = make_student(teacher, num_layers=1)
    ds = toy_sequence_dataset(wordpiece, n=8, regression=True)
    trainer = DistillationTrainer(
        model=student, teacher=teacher, args=_args(tmp_path, max_steps=2), train_dataset=ds, processing_class=wordpiece
    )
    assert trainer.task_kind == "regression"
    trainer.train()
    assert {"loss_mse", "loss_task"} <= set(trainer.state.log_history[0])
    clone = DistillationTrainer(
        model=make_student(teacher, layers=[0, 1, 2, 3]),
        teacher=teacher,
        args=_args(tmp_path),
        eval_dataset=ds,
        processing_class=wordpiece,
        compute_metrics=metrics_fn("sts"),
    )
    perfect = clone.loyalty(task="sts")
    assert perfect["regression_loyalty"] == pytest.approx(1.0) and perfect["pearson"] == pytest.approx(1.0)
    assert perfect["teacher_score_pearson"] == pytest.approx(clone.evaluate()["eval_pearson"], abs=1e-6)
    partial = trainer.loyalty(ds, score_range=(0, 5))
    assert partial["regression_loyalty"] < 1.0


def test_two_teachers_different_tokenizers_token_task(tmp_path, wordpiece, unigram):
    teacher_a = tiny_bert("BertForTokenClassification", vocab_size=len(wordpiece), num_labels=3, seed=3, **NO_DROPOUT)
    teacher_b = tiny_bert(
        "BertForTokenClassification", vocab_size=len(unigram), num_labels=3, seed=4, hidden_size=48, **NO_DROPOUT
    )
    student = make_student(teacher_a, num_layers=2)
    ds = toy_token_dataset(wordpiece, n=8, teacher_tokenizers=[unigram]).remove_columns(["tokens", "tags"])
    assert "teacher1_word_ids" in ds.column_names

    def trainer_with(weights):
        args = _args(tmp_path, teacher_weights=weights, per_device_train_batch_size=8)
        return DistillationTrainer(
            model=student,
            teachers=[teacher_a, teacher_b],
            teacher_tokenizers=[None, unigram],
            args=args,
            train_dataset=ds,
            processing_class=wordpiece,
        )

    trainer = trainer_with([1.0, 0.0])
    assert trainer.shares_vocab == [True, False]
    batch = trainer.data_collator([ds[i] for i in range(8)])
    only_a = trainer.compute_loss(student, batch).item()
    single = DistillationTrainer(
        model=student,
        teacher=teacher_a,
        args=_args(tmp_path, per_device_train_batch_size=8),
        train_dataset=ds,
        processing_class=wordpiece,
    )
    batch_a = {k: v for k, v in batch.items() if not k.startswith("teacher1_")}
    assert single.compute_loss(student, batch_a).item() == pytest.approx(only_a, rel=1e-6)
    only_b = trainer_with([0.0, 1.0]).compute_loss(student, batch).item()
    both = trainer_with([0.5, 0.5])
    assert only_b != pytest.approx(only_a)
    both.train()
    assert {"loss_kl", "loss_task"} <= set(both.state.log_history[0])
    loyalty = both.loyalty(ds)
    assert 0 < loyalty["probability_loyalty"] < 1


def test_mlm_stage_projection_checkpoint_and_export(tmp_path, wordpiece, unigram):
    from datasets import Dataset

    teacher_a = tiny_bert("BertForMaskedLM", vocab_size=len(wordpiece), seed=5)
    teacher_b = tiny_bert("BertForMaskedLM", vocab_size=len(unigram), hidden_size=48, seed=6)
    texts = [" ".join(s) for s in toy_sentences(8, seed=7)[0]]
    ds = Dataset.from_dict({"text": texts})
    ds = prepare_student_words(ds, wordpiece, text_fields=["text"], max_length=32)
    ds = prepare_teacher_inputs(ds, [unigram], text_fields=["text"], max_length=32, start=1)

    def make(out, max_steps):
        args = _args(
            out,
            alpha_ce=5.0,
            alpha_mlm=2.0,
            alpha_cos=1.0,
            max_steps=max_steps,
            save_strategy="steps",
            save_steps=1,
            per_device_train_batch_size=4,
        )
        return DistillationTrainer(
            model=make_student(teacher_a, num_layers=2),
            teachers=[teacher_a, teacher_b],
            teacher_tokenizers=[wordpiece, unigram],
            args=args,
            train_dataset=ds,
            processing_class=wordpiece,
        )

    trainer = make(tmp_path / "a", 2)
    assert trainer.task_kind == "mlm" and trainer.shares_vocab == [True, False]
    proj = trainer.model.projections["teacher1"]
    assert (proj.in_features, proj.out_features) == (32, 48)
    trainer.train()
    logged = trainer.state.log_history[0]
    assert {"loss_kl", "loss_mlm", "loss_cos"} <= set(logged)
    checkpoint = tmp_path / "a" / "checkpoint-1"
    assert (checkpoint / "distillation_projections.safetensors").exists()
    trainer.save_model(str(tmp_path / "export"))
    assert not (tmp_path / "export" / "distillation_projections.safetensors").exists()
    exported = AutoModelForMaskedLM.from_pretrained(tmp_path / "export")
    assert all(torch.equal(v, trainer.student.state_dict()[k]) for k, v in exported.state_dict().items())

    resumed = make(tmp_path / "b", 2)
    resumed.train(resume_from_checkpoint=str(checkpoint))
    # the projection was restored from the checkpoint and then trained on: it is not the fresh random init
    fresh = make(tmp_path / "c", 2).model.projections["teacher1"].weight
    assert not torch.equal(resumed.model.projections["teacher1"].weight, fresh)


def test_errors_are_clear(tmp_path, wordpiece, unigram):
    teacher = tiny_bert("BertForTokenClassification", vocab_size=len(wordpiece), num_labels=3)
    student = make_student(teacher, num_layers=1)
    with pytest.raises(ValueError, match="exactly one of teacher"):
        DistillationTrainer(model=student, teacher=teacher, teachers=[teacher], args=_args(tmp_path))
    with pytest.raises(ValueError, match="one per teacher"):
        DistillationTrainer(model=student, teachers=[teacher], args=_args(tmp_path, teacher_weights=[1.0, 1.0]))
    with pytest.raises(ValueError, match="label space"):
        DistillationTrainer(
            model=student,
            teacher=tiny_bert("BertForTokenClassification", vocab_size=len(wordpiece), num_labels=5),
            args=_args(tmp_path),
        )
    with pytest.raises(TypeError, match="DistillationTrainingArguments"):
        from transformers import TrainingArguments

        DistillationTrainer(model=student, teacher=teacher, args=TrainingArguments(str(tmp_path), use_cpu=True))
    mlm_b = tiny_bert("BertForMaskedLM", vocab_size=len(unigram))
    with pytest.raises(ValueError, match="shares the student's vocabulary"):
        DistillationTrainer(
            model=tiny_bert("BertForMaskedLM", vocab_size=len(wordpiece)),
            teacher=mlm_b,
            teacher_tokenizers=[unigram],
            args=_args(tmp_path, alpha_ce=1.0),
            processing_class=wordpiece,
        )
    # a teacher with another vocabulary but no teacher{i}_ columns in the batch
    other = tiny_bert("BertForTokenClassification", vocab_size=len(unigram), num_labels=3)
    ds = toy_token_dataset(wordpiece, n=4).remove_columns(["tokens", "tags"])
    trainer = DistillationTrainer(
        model=student,
        teacher=other,
        teacher_tokenizers=[unigram],
        args=_args(tmp_path),
        train_dataset=ds,
        processing_class=wordpiece,
    )
    with pytest.raises(AlignmentError, match="prepare_teacher_inputs"):
        trainer.compute_loss(student, trainer.data_collator([ds[i] for i in range(4)]))
    with pytest.raises(ValueError, match="temperature"):
        _args(tmp_path, temperature=0)
    with pytest.raises(ValueError, match="student:teacher"):
        _args(tmp_path, hidden_layer_map=["3-6"])


def test_mlm_head_on_masked_positions_only_gives_the_full_loss(tmp_path, wordpiece):
    from datasets import Dataset

    from optimum_ro.distillation.losses import cross_entropy_loss, soft_target_loss, teacher_probabilities

    teacher = tiny_bert("BertForMaskedLM", vocab_size=len(wordpiece), seed=8, **NO_DROPOUT).eval()
    student = make_student(teacher, num_layers=2).eval()
    ds = Dataset.from_dict({"text": [" ".join(s) for s in toy_sentences(6, seed=9)[0]]})
    ds = prepare_student_words(ds, wordpiece, text_fields=["text"], max_length=32).remove_columns(["text"])
    args = _args(tmp_path, alpha_ce=2.0, alpha_mlm=0.5, alpha_cos=0.0, temperature=3.0)
    trainer = DistillationTrainer(
        model=student, teacher=teacher, args=args, train_dataset=ds, processing_class=wordpiece
    )
    assert type(trainer.model).__name__ == "StudentWithProjections"
    torch.manual_seed(0)
    batch = trainer.data_collator([ds[i] for i in range(6)])
    masked = batch["labels"].ne(-100)
    assert 0 < masked.sum() < masked.numel()
    loss = trainer.compute_loss(trainer.model, batch).item()
    feed = {k: batch[k] for k in ("input_ids", "attention_mask")}
    s_logits, t_logits = student(**feed).logits, teacher(**feed).logits
    expected = 2.0 * soft_target_loss(
        s_logits, teacher_probabilities(t_logits, 3.0), 3.0, mask=masked
    ) + 0.5 * cross_entropy_loss(s_logits, batch["labels"])
    assert loss == pytest.approx(expected.item(), rel=1e-5)


def test_hidden_layer_map_cosine_loss(tmp_path, wordpiece):
    from datasets import Dataset

    from optimum_ro.distillation.losses import cosine_hidden_loss

    teacher = tiny_bert("BertForMaskedLM", vocab_size=len(wordpiece), seed=10, **NO_DROPOUT).eval()
    student = make_student(teacher, layers=[1, 3]).eval()
    ds = Dataset.from_dict({"text": [" ".join(s) for s in toy_sentences(4, seed=11)[0]]})
    ds = prepare_student_words(ds, wordpiece, text_fields=["text"], max_length=32).remove_columns(["text"])
    args = _args(tmp_path, alpha_ce=0.0, alpha_mlm=0.0, alpha_cos=1.0, hidden_layer_map=["1:2", "-1:-1"])
    trainer = DistillationTrainer(
        model=student, teacher=teacher, args=args, train_dataset=ds, processing_class=wordpiece
    )
    torch.manual_seed(0)
    batch = trainer.data_collator([ds[i] for i in range(4)])
    loss = trainer.compute_loss(trainer.model, batch).item()
    feed = {k: batch[k] for k in ("input_ids", "attention_mask")}
    s_h = student(**feed, output_hidden_states=True).hidden_states
    t_h = teacher(**feed, output_hidden_states=True).hidden_states
    mask = batch["attention_mask"]
    expected = (cosine_hidden_loss(s_h[1], t_h[2], mask) + cosine_hidden_loss(s_h[-1], t_h[-1], mask)) / 2
    assert loss == pytest.approx(expected.item(), rel=1e-5)
    assert expected.item() > 0


def test_sequence_task_teacher_with_other_tokenizer_reads_its_own_columns(tmp_path, wordpiece, unigram):
    teacher_a = tiny_bert("BertForSequenceClassification", vocab_size=len(wordpiece), num_labels=2, seed=12)
    teacher_b = tiny_bert(
        "BertForSequenceClassification", vocab_size=len(unigram), num_labels=2, hidden_size=48, seed=13
    )
    ds = toy_sequence_dataset(wordpiece, n=8)
    ds = prepare_teacher_inputs(ds, [unigram], text_fields=["text"], max_length=32, start=1, split_words=False)
    assert "teacher1_input_ids" in ds.column_names and "teacher1_word_ids" not in ds.column_names
    assert ds[0]["teacher1_input_ids"] == unigram(ds[0]["text"])["input_ids"]
    trainer = DistillationTrainer(
        model=make_student(teacher_a, num_layers=1),
        teachers=[teacher_a, teacher_b],
        teacher_tokenizers=[wordpiece, unigram],
        args=_args(tmp_path, max_steps=1),
        train_dataset=ds,
        eval_dataset=ds,
        processing_class=wordpiece,
    )
    trainer.train()
    assert 0 <= trainer.loyalty()["label_loyalty"] <= 1


def test_sequence_task_cosine_loss_with_other_tokenizer_is_refused_before_training(tmp_path, wordpiece, unigram):
    teacher_a = tiny_bert("BertForSequenceClassification", vocab_size=len(wordpiece), num_labels=2, seed=12)
    teacher_b = tiny_bert(
        "BertForSequenceClassification", vocab_size=len(unigram), num_labels=2, hidden_size=48, seed=13
    )
    ds = prepare_teacher_inputs(
        toy_sequence_dataset(wordpiece, n=8),
        [unigram],
        text_fields=["text"],
        max_length=32,
        start=1,
        split_words=False,
    )
    kw = dict(
        model=make_student(teacher_a, num_layers=1),
        teachers=[teacher_a, teacher_b],
        teacher_tokenizers=[wordpiece, unigram],
        train_dataset=ds,
        processing_class=wordpiece,
    )
    with pytest.raises(
        ValueError, match=r"alpha_cos=1.0 on a sequence task.*teacher\(s\) \[1\] do not.*'teacher1_word_ids'"
    ):
        DistillationTrainer(args=_args(tmp_path, alpha_cos=1.0), **kw)
    # the same teachers without the cosine term train; so does the cosine term with only the shared-vocabulary teacher
    DistillationTrainer(args=_args(tmp_path, alpha_cos=0.0), **kw)
    DistillationTrainer(
        model=make_student(teacher_a, num_layers=1),
        teacher=teacher_a,
        train_dataset=ds,
        args=_args(tmp_path, alpha_cos=1.0),
        processing_class=wordpiece,
    )


def test_head_learning_rate_and_head_copied_from_the_teacher(tmp_path, wordpiece):
    from optimum_ro.tasks.modeling import copy_task_head

    teacher = tiny_bert("BertForSequenceClassification", vocab_size=len(wordpiece), num_labels=2, seed=5)
    fresh = tiny_bert("BertForSequenceClassification", vocab_size=len(wordpiece), num_labels=2, seed=6, num_layers=1)
    assert not torch.equal(fresh.classifier.weight, teacher.classifier.weight)
    copied = copy_task_head(fresh, teacher)
    assert {"classifier.weight", "classifier.bias", "bert.pooler.dense.weight"} <= set(copied)
    assert torch.equal(fresh.classifier.weight, teacher.classifier.weight)
    assert not any("encoder" in name or "embeddings" in name for name in copied)
    other = tiny_bert("BertForSequenceClassification", vocab_size=len(wordpiece), num_labels=3)
    assert "classifier.weight" not in copy_task_head(other, teacher)  # shapes differ: left alone

    ds = toy_sequence_dataset(wordpiece, n=8)
    trainer = DistillationTrainer(
        model=fresh,
        teacher=teacher,
        args=_args(tmp_path, head_learning_rate=1e-3),
        train_dataset=ds,
        processing_class=wordpiece,
    )
    trainer.create_optimizer()
    rates = {id(p): g["lr"] for g in trainer.optimizer.param_groups for p in g["params"]}
    assert rates[id(fresh.classifier.weight)] == 1e-3 and rates[id(fresh.bert.pooler.dense.weight)] == 1e-3
    assert rates[id(fresh.bert.encoder.layer[0].attention.self.query.weight)] == trainer.args.learning_rate


def _ensemble_by_hand(teachers, ds, weights, regression=False):
    """The weighted teacher ensemble's predictions, computed directly from the teachers (the test's oracle)."""
    with torch.no_grad():  # one row at a time: no padding involved
        outs = [
            torch.cat([t(input_ids=torch.tensor([row["input_ids"]])).logits.float() for row in ds]) for t in teachers
        ]
    if regression:
        return (sum(w * o.view(-1) for w, o in zip(weights, outs)) / sum(weights)).tolist()
    probs = sum(w * torch.softmax(o, -1) for w, o in zip(weights, outs)) / sum(weights)
    return probs.argmax(-1).tolist()


def test_tune_teacher_weights_keeps_the_best_dev_ensemble(tmp_path, wordpiece):
    from optimum_ro.distillation.trainer import simplex_grid
    from optimum_ro.tasks.evaluation import scores_from_label_ids

    teachers = [
        tiny_bert("BertForSequenceClassification", vocab_size=len(wordpiece), num_labels=2, seed=s, **NO_DROPOUT)
        for s in (21, 22)
    ]
    ds = toy_sequence_dataset(wordpiece, n=24, seed=5)
    trainer = DistillationTrainer(
        model=make_student(teachers[0], num_layers=1),
        teachers=teachers,
        args=_args(tmp_path, teacher_weights=[0.5, 0.5]),
        eval_dataset=ds,
        processing_class=wordpiece,
    )
    tuned = trainer.tune_teacher_weights(task="sentiment", steps=4)
    assert tuned["metric"] == "accuracy" and tuned["previous"] == [0.5, 0.5]
    assert [w for w, _ in tuned["grid"]] == [list(w) for w in simplex_grid(2, 4)]
    for weights, score in tuned["grid"]:  # every candidate scored like the ensemble computed by hand
        expected = scores_from_label_ids("sentiment", _ensemble_by_hand(teachers, ds, weights), ds["labels"])[
            "accuracy"
        ]
        assert score == pytest.approx(expected)
    scores = [s for _, s in tuned["grid"]]
    assert tuned["score"] == max(scores) and trainer.teacher_weights == tuned["weights"]
    ties = [w for w, s in tuned["grid"] if s == max(scores)]
    assert tuned["weights"] == min(ties, key=lambda w: abs(w[0] - 0.5))  # ties: closest to equal weights
    # loyalty() now measures against the tuned ensemble: its teacher score is the tuned score
    assert trainer.loyalty(task="sentiment")["teacher_score_accuracy"] == pytest.approx(tuned["score"])


def test_tune_teacher_weights_regression_and_errors(tmp_path, wordpiece):
    from optimum_ro.distillation.trainer import simplex_grid
    from optimum_ro.tasks.evaluation import scores_from_label_ids

    assert simplex_grid(2, 4) == [(0.0, 1.0), (0.25, 0.75), (0.5, 0.5), (0.75, 0.25), (1.0, 0.0)]
    three = simplex_grid(3, 2)
    assert len(three) == 6 and all(sum(w) == pytest.approx(1.0) for w in three) and (0.5, 0.0, 0.5) in three
    teachers = [
        tiny_bert(
            "BertForSequenceClassification",
            vocab_size=len(wordpiece),
            num_labels=1,
            problem_type="regression",
            seed=s,
            **NO_DROPOUT,
        )
        for s in (31, 32)
    ]
    ds = toy_sequence_dataset(wordpiece, n=16, seed=6, regression=True)
    trainer = DistillationTrainer(
        model=make_student(teachers[0], num_layers=1),
        teachers=teachers,
        args=_args(tmp_path),
        eval_dataset=ds,
        processing_class=wordpiece,
    )
    tuned = trainer.tune_teacher_weights(task="sts", steps=2)
    for weights, score in tuned["grid"]:
        expected = scores_from_label_ids("sts", _ensemble_by_hand(teachers, ds, weights, True), ds["labels"])[
            "pearson"
        ]
        assert score == pytest.approx(expected, abs=1e-4)  # padded batches vs one row at a time
    assert trainer.teacher_weights == tuned["weights"] and tuned["score"] == max(s for _, s in tuned["grid"])
    with pytest.raises(ValueError, match="needs task="):
        trainer.tune_teacher_weights()
    with pytest.raises(ValueError, match="steps must be >= 1"):
        trainer.tune_teacher_weights(task="sts", steps=0)


def test_the_student_wrappers_old_name_still_imports_with_a_warning():
    from optimum_ro.distillation import StudentWithProjections

    with pytest.warns(FutureWarning, match="StudentWithProjections"):
        from optimum_ro.distillation import DistillationStudent
    with pytest.warns(FutureWarning, match="StudentWithProjections"):
        from optimum_ro.distillation.trainer import DistillationStudent as from_trainer
    assert DistillationStudent is StudentWithProjections and from_trainer is StudentWithProjections
