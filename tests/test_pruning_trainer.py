"""BlockPruner inside `transformers.Trainer` runs: schedule, masks through training, checkpoints and resume."""

import os
import shutil

import pytest
import torch
from datasets import Dataset
from transformers import Trainer, TrainerCallback, TrainingArguments

from optimum_ro import testing
from optimum_ro.pruning import STATE_NAME, BlockPruner, BlockPruningConfig, scheduled_sparsity

SEQ, N = 8, 32


def tiny_bert(seed=0):
    return testing.tiny_bert(
        "BertForSequenceClassification", vocab_size=50, num_layers=2, seed=seed, max_position_embeddings=16
    )


def synthetic_dataset():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1, 50, (N, SEQ), generator=g)
    labels = (ids[:, 0] > 25).long()  # learnable: the label is a function of the first token
    return Dataset.from_dict({"input_ids": ids.tolist(), "attention_mask": [[1] * SEQ] * N, "labels": labels.tolist()})


def training_args(out, max_steps, save_steps=None, **kwargs):
    return TrainingArguments(
        output_dir=str(out),
        max_steps=max_steps,
        per_device_train_batch_size=8,
        learning_rate=1e-3,
        use_cpu=True,
        report_to=[],
        disable_tqdm=True,
        logging_strategy="no",
        seed=0,
        save_strategy="steps" if save_steps else "no",
        save_steps=save_steps or 500,
        dataloader_num_workers=0,
        **kwargs,
    )


class RecordAfterOptimizerStep(TrainerCallback):
    """Checks, right after the pruner's `on_optimizer_step`, that pruned blocks are exactly zero."""

    def __init__(self, pruner):
        self.pruner, self.max_pruned_abs, self.sparsity = pruner, [], {}

    def on_optimizer_step(self, args, state, control, model=None, **kwargs):
        modules = dict(model.named_modules())
        worst = 0.0
        for name, mask in self.pruner.masks.items():
            full = mask.repeat_interleave(self.pruner.config.block_shape[0], 0).repeat_interleave(
                self.pruner.config.block_shape[1], 1
            )
            worst = max(worst, modules[name].weight.detach()[~full].abs().max().item() if (~full).any() else 0.0)
        self.max_pruned_abs.append(worst)
        self.sparsity[state.global_step] = sum(self.pruner.block_sparsity().values()) / len(self.pruner.masks)


def run(out, config, max_steps=12, save_steps=None, resume=None, subclass=Trainer, check=False):
    model = tiny_bert()
    pruner = BlockPruner(config)
    callbacks = [pruner]
    recorder = RecordAfterOptimizerStep(pruner) if check else None
    if recorder:
        callbacks.append(recorder)
    trainer = subclass(
        model=model,
        args=training_args(out, max_steps, save_steps),
        train_dataset=synthetic_dataset(),
        callbacks=callbacks,
    )
    result = trainer.train(resume_from_checkpoint=resume)
    return model, pruner, recorder, result


def test_trainer_reaches_target_and_keeps_pruned_weights_zero(tmp_path):
    config = BlockPruningConfig(block_shape="16x1", target_sparsity=0.8, start_step=0, end_step=8, pruning_frequency=2)
    model, pruner, recorder, result = run(tmp_path, config, max_steps=12, check=True)
    assert torch.isfinite(torch.tensor(result.training_loss))
    # Pruned weights stay exactly zero after every optimizer step, although Adam keeps moving them.
    assert len(recorder.max_pruned_abs) == 12 and max(recorder.max_pruned_abs) == 0.0
    # The schedule: masks are set at on_step_begin(t) for t = 0, 2, 4, 6, 8 (cubic), before step t's update.
    for step, expected in [
        (0, 0.0),
        (2, scheduled_sparsity(config, 2)),
        (4, scheduled_sparsity(config, 4)),
        (8, 0.8),
        (11, 0.8),
    ]:
        assert recorder.sparsity[step] == pytest.approx(expected, abs=0.005), step
    assert 0 < recorder.sparsity[2] == recorder.sparsity[3] < recorder.sparsity[4]  # no update between steps
    modules = dict(model.named_modules())
    for name in pruner.targets:
        w = modules[name].weight.detach()
        zeros = (w == 0).reshape(w.shape[0] // 16, 16, w.shape[1]).sum(1)
        assert bool(((zeros == 0) | (zeros == 16)).all()), name  # exact block structure
        assert (zeros == 16).float().mean().item() == pytest.approx(0.8, abs=0.005), name
    assert not pruner.finalized
    pruner.finalize(model)
    assert model.config.sparsity["layers"] == pytest.approx({n: 0.8 for n in pruner.targets}, abs=0.005)


def test_masks_would_not_hold_without_reapplying(tmp_path):
    """Guards the test above: without `on_optimizer_step` the optimizer revives pruned weights."""

    class NoReapply(BlockPruner):
        def on_optimizer_step(self, args, state, control, **kwargs):
            pass

    model = tiny_bert()
    pruner = NoReapply(BlockPruningConfig(block_shape="4x1", target_sparsity=0.5, schedule="oneshot"))
    recorder = RecordAfterOptimizerStep(pruner)
    Trainer(
        model=model, args=training_args(tmp_path, 3), train_dataset=synthetic_dataset(), callbacks=[pruner, recorder]
    ).train()
    assert max(recorder.max_pruned_abs) > 0


class CustomLossTrainer(Trainer):
    """A Trainer subclass with its own compute_loss, like a distillation trainer."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        outputs = model(**{k: v for k, v in inputs.items() if k != "labels"})
        loss = torch.nn.functional.cross_entropy(outputs.logits, inputs["labels"])
        return (loss, outputs) if return_outputs else loss


@pytest.mark.parametrize("criterion", ["movement", "snip_momentum"])
def test_gradient_criteria_in_a_trainer_subclass(tmp_path, criterion):
    config = BlockPruningConfig(
        block_shape="1x4", target_sparsity=0.5, criterion=criterion, start_step=2, end_step=6, pruning_frequency=2
    )
    model, pruner, recorder, _ = run(tmp_path, config, max_steps=8, subclass=CustomLossTrainer, check=True)
    assert pruner.score_updates == 8
    assert max(recorder.max_pruned_abs) == 0.0
    assert recorder.sparsity[2] == 0.0 and recorder.sparsity[6] == pytest.approx(0.5, abs=0.005)
    # Movement scores are sums of -W * grad: non-zero, and pruned blocks score below kept ones on average.
    name = "bert.encoder.layer.1.intermediate.dense"
    scores, mask = pruner.scores[name], pruner.masks[name]
    assert scores.abs().sum() > 0 and scores[mask].mean() > scores[~mask].mean()


def test_end_step_none_is_seventy_percent_of_training(tmp_path):
    config = BlockPruningConfig(block_shape="16x1", target_sparsity=0.5, pruning_frequency=1)
    _, pruner, recorder, _ = run(tmp_path, config, max_steps=10, check=True)
    assert pruner.end_step == 7 and pruner.step == 7
    assert recorder.sparsity[5] < 0.5 and recorder.sparsity[7] == pytest.approx(0.5, abs=0.005)


@pytest.mark.parametrize("criterion", ["magnitude", "movement"])
def test_resume_reproduces_masks_and_weights(tmp_path, criterion):
    config = BlockPruningConfig(
        block_shape="16x1", target_sparsity=0.75, criterion=criterion, start_step=1, end_step=10, pruning_frequency=3
    )
    full_model, full_pruner, _, _ = run(tmp_path / "full", config, max_steps=12, save_steps=5)
    state_file = tmp_path / "full" / "checkpoint-5" / STATE_NAME
    assert state_file.is_file()
    # Resume in a fresh folder holding only the step-5 checkpoint, with a new model and a new pruner.
    os.makedirs(tmp_path / "resumed")
    shutil.copytree(tmp_path / "full" / "checkpoint-5", tmp_path / "resumed" / "checkpoint-5")
    model, pruner, _, _ = run(tmp_path / "resumed", config, max_steps=12, save_steps=5, resume=True)
    assert pruner.step == full_pruner.step == 10
    for name in full_pruner.masks:
        assert torch.equal(pruner.masks[name], full_pruner.masks[name]), name
        if criterion == "movement":
            torch.testing.assert_close(pruner.scores[name], full_pruner.scores[name])
    for name, p in full_model.state_dict().items():
        torch.testing.assert_close(model.state_dict()[name], p, rtol=1e-5, atol=1e-6, msg=name)


def test_resume_from_elsewhere_needs_load_state(tmp_path):
    config = BlockPruningConfig(block_shape="4x1", target_sparsity=0.5, start_step=0, end_step=3, pruning_frequency=1)
    run(tmp_path / "a", config, max_steps=4, save_steps=2)
    ckpt = str(tmp_path / "a" / "checkpoint-2")
    model = tiny_bert()
    pruner = BlockPruner(config)
    trainer = Trainer(
        model=model, args=training_args(tmp_path / "b", 4), train_dataset=synthetic_dataset(), callbacks=[pruner]
    )
    with pytest.raises(FileNotFoundError, match="call pruner.load_state\\(checkpoint_dir\\)"):
        trainer.train(resume_from_checkpoint=ckpt)
    pruner = BlockPruner(config)
    pruner.load_state(ckpt)
    assert pruner.step == 1  # masks were last recomputed at step 1, before checkpoint-2 was written
    trainer = Trainer(
        model=tiny_bert(), args=training_args(tmp_path / "b", 4), train_dataset=synthetic_dataset(), callbacks=[pruner]
    )
    trainer.train(resume_from_checkpoint=ckpt)
    assert pruner.step == 3
    assert all(v == pytest.approx(0.5) for v in pruner.block_sparsity().values())


def test_load_state_refuses_another_block_shape(tmp_path):
    config = BlockPruningConfig(block_shape="4x1", target_sparsity=0.5, start_step=0, end_step=2, pruning_frequency=1)
    run(tmp_path, config, max_steps=2, save_steps=2)
    other = BlockPruner(BlockPruningConfig(block_shape="1x4"))
    with pytest.raises(
        ValueError, match="pruned with block_shape=\\(4, 1\\), but this BlockPruner has block_shape=\\(1, 4\\)"
    ):
        other.load_state(tmp_path / "checkpoint-2")


class StudentWrapper(torch.nn.Module):
    """Like StudentWithProjections: the Trainer's model holds the student at ``.student``."""

    def __init__(self, student):
        super().__init__()
        self.student, self.config, self.extra = student, student.config, torch.nn.Linear(32, 32)

    def forward(self, **inputs):
        return self.student(**inputs)


@pytest.mark.parametrize("bind_student", [True, False])
def test_wrapped_student_is_pruned_and_finalized_under_its_own_names(tmp_path, bind_student):
    student = tiny_bert()
    config = BlockPruningConfig(block_shape="4x1", target_sparsity=0.5, schedule="oneshot")
    pruner = BlockPruner(config, student if bind_student else None)
    Trainer(
        model=StudentWrapper(student),
        args=training_args(tmp_path, 2, remove_unused_columns=False),
        train_dataset=synthetic_dataset(),
        callbacks=[pruner],
    ).train()
    prefix = "" if bind_student else "student."
    assert f"{prefix}bert.encoder.layer.0.output.dense" in pruner.targets
    assert not any("extra" in n for n in pruner.targets)
    pruner.finalize(student)
    layers = student.config.sparsity["layers"]
    assert set(layers) == {
        f"bert.encoder.layer.{i}.{m}"
        for i in (0, 1)
        for m in (
            "attention.self.query",
            "attention.self.key",
            "attention.self.value",
            "attention.output.dense",
            "intermediate.dense",
            "output.dense",
        )
    }
    assert all(v == pytest.approx(0.5) for v in layers.values())
    report = pruner.sparsity_report(student)
    assert report["overall"] == pytest.approx(0.5) and set(report["layers"]) == set(layers)
    with pytest.raises(ValueError, match="has no module named"):
        pruner.finalize(torch.nn.Sequential(torch.nn.Linear(2, 2)))


def test_prunes_while_distilling_with_distillation_trainer(tmp_path):
    distillation = pytest.importorskip("optimum_ro.distillation")
    teacher, student = tiny_bert(seed=1), tiny_bert(seed=2)
    pruner = BlockPruner(
        BlockPruningConfig(
            block_shape="16x1",
            target_sparsity=0.75,
            start_step=1,
            end_step=3,
            pruning_frequency=1,
            criterion="movement",
        )
    )
    args = distillation.DistillationTrainingArguments(
        output_dir=str(tmp_path),
        max_steps=4,
        per_device_train_batch_size=8,
        learning_rate=1e-3,
        use_cpu=True,
        report_to=[],
        disable_tqdm=True,
        logging_strategy="no",
        save_strategy="no",
        seed=0,
    )
    teacher_before = {n: p.clone() for n, p in teacher.state_dict().items()}
    distillation.DistillationTrainer(
        model=student, teacher=teacher, args=args, train_dataset=synthetic_dataset(), callbacks=[pruner]
    ).train()
    pruner.finalize(student)
    assert pruner.score_updates == 4
    assert all(v == pytest.approx(0.75, abs=0.005) for v in student.config.sparsity["layers"].values())
    for name, p in teacher.state_dict().items():  # the dense teacher is neither trained nor pruned
        assert torch.equal(p, teacher_before[name]), name


def test_load_best_model_at_end_takes_that_checkpoints_masks(tmp_path):
    config = BlockPruningConfig(block_shape="16x1", target_sparsity=0.8, start_step=0, end_step=5, pruning_frequency=1)
    calls = []

    def first_eval_is_best(eval_pred):
        calls.append(1)
        return {"score": -float(len(calls))}

    model, pruner = tiny_bert(), BlockPruner(config)
    args = training_args(
        tmp_path,
        6,
        save_steps=2,
        eval_strategy="steps",
        eval_steps=2,
        load_best_model_at_end=True,
        metric_for_best_model="score",
        greater_is_better=True,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=synthetic_dataset(),
        eval_dataset=synthetic_dataset(),
        compute_metrics=first_eval_is_best,
        callbacks=[pruner],
    )
    trainer.train()
    assert trainer.state.best_model_checkpoint.endswith("checkpoint-2")
    assert pruner.step == 1  # masks of checkpoint-2 (last recomputed at step 1), not of step 5
    sparsity = pruner.block_sparsity()
    expected = scheduled_sparsity(config, 1)
    assert all(v == pytest.approx(expected, abs=0.01) for v in sparsity.values())
    pruner.finalize(model)
    for name, value in model.config.sparsity["layers"].items():  # the loaded weights match these masks
        w = dict(model.named_modules())[name].weight
        assert (w == 0).float().mean().item() == pytest.approx(value, abs=1e-6)


def test_gradient_accumulation_counts_optimizer_steps(tmp_path):
    """With 2 accumulation steps the schedule runs on optimizer steps, and scores are added once per step."""
    config = BlockPruningConfig(
        block_shape="4x1", target_sparsity=0.5, criterion="movement", start_step=1, end_step=3, pruning_frequency=1
    )
    model, pruner = tiny_bert(), BlockPruner(config)
    recorder = RecordAfterOptimizerStep(pruner)
    args = training_args(tmp_path, 4, gradient_accumulation_steps=2)
    args.per_device_train_batch_size = 4
    Trainer(model=model, args=args, train_dataset=synthetic_dataset(), callbacks=[pruner, recorder]).train()
    assert pruner.score_updates == 4 and sorted(recorder.sparsity) == [0, 1, 2, 3]
    assert recorder.sparsity[0] == 0.0 and recorder.sparsity[3] == pytest.approx(0.5, abs=0.005)
    assert max(recorder.max_pruned_abs) == 0.0
