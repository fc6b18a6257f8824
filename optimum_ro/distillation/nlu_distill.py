"""Distil a fine-tuned joint intent + slot teacher into a student encoder (the last stage of an Alexa Teacher
Model pipeline: teacher -> general-distilled student -> task distillation).

    from optimum_ro.distillation.nlu_distill import NLUDistillConfig, distill_intent_slot
    results = distill_intent_slot(NLUDistillConfig(teacher="runs/teacher-massive", student="runs/student-4l",
                                                   data="../shared/data/nlu/massive_ro", output_dir="runs/s4"))

The student (an encoder folder, e.g. a general-distilled student sharing the teacher's vocabulary) gets the
teacher's intent and slot heads (same hidden size) or fresh ones, then learns the teacher's intent and slot
probabilities (computed once, :mod:`.nlu`) and the gold labels. ``callbacks`` (e.g. a ``BlockPruner``) join
the ``Trainer``; checkpoints in ``output_dir/checkpoints`` make a re-run resume. Writes the model folder with
``eval_results.json`` (dev/test intent accuracy, slot F1, semantic error rate, loyalty to the teacher).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np

logger = logging.getLogger("optimum_ro.distill_nlu")


@dataclass
class NLUDistillConfig:
    teacher: str  # a fine-tuned BertForIntentSlot folder
    student: str  # an encoder folder (or a BertForIntentSlot) sharing the teacher's tokenizer
    data: str  # a joint intent/slot folder (train/dev[/test].jsonl + labels.json)
    output_dir: str
    epochs: float = 3.0
    max_steps: int = -1
    batch_size: int = 32
    learning_rate: float = 1e-4
    temperature: float = 2.0
    alpha_kd: float = 0.5
    alpha_task: float = 0.5
    max_length: int = 64
    curve_steps: int = 0  # > 0: score dev every this many steps (results["curve"])
    save_steps: int = 200
    seed: int = 42
    eval_splits: tuple = ("dev", "test")


def distill_intent_slot(cfg: NLUDistillConfig, callbacks=None, training_args: dict | None = None) -> dict:
    from transformers import AutoConfig, AutoTokenizer, set_seed

    from optimum_ro.commands.runs import resume_checkpoint, save_results
    from optimum_ro.models.intent_slot import BertForIntentSlot

    from ..tasks.modeling import count_parameters
    from ..tasks.nlu import encode_nlu, load_nlu
    from ..tasks.nlu_finetune import CURVE, dev_curve_callback, nlu_training_arguments, read_curve, score_split
    from .nlu import (
        WithTeacherTargets,
        collate_nlu_distill,
        make_intent_slot_distillation_trainer_class,
        teacher_intent_slot_targets,
    )

    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = load_nlu(cfg.data)
    labels = data.labels
    teacher = BertForIntentSlot.from_pretrained(cfg.teacher).eval()
    if list(teacher.config.intent_labels) != list(labels.intents) or list(teacher.config.slot_labels) != list(
        labels.slots
    ):
        raise SystemExit(f"teacher {cfg.teacher} was fine-tuned on other labels than {cfg.data}: give its own data")
    tokenizer = AutoTokenizer.from_pretrained(cfg.student)
    if tokenizer.get_vocab() != AutoTokenizer.from_pretrained(cfg.teacher).get_vocab():
        raise SystemExit(
            f"student {cfg.student} and teacher {cfg.teacher} have different vocabularies: joint intent + slot "
            "distillation reads the teacher's logits token by token, so cut or distil the student from this teacher"
        )
    encoded = {s: encode_nlu(r, tokenizer, labels, cfg.max_length) for s, r in data.items()}
    pad_id = tokenizer.pad_token_id or 0
    started = time.time()
    targets = teacher_intent_slot_targets(teacher, encoded["train"], pad_id)
    teacher_seconds = time.time() - started

    set_seed(cfg.seed)
    if getattr(AutoConfig.from_pretrained(cfg.student), "intent_labels", None):
        student = BertForIntentSlot.from_pretrained(cfg.student)
        copied = []
    else:
        student = BertForIntentSlot.from_encoder(cfg.student, labels.intents, labels.slots)
        copied = _copy_heads(student, teacher)
    args = nlu_training_arguments(cfg, out, training_args, num_train_epochs=cfg.epochs)
    curve = [dev_curve_callback(data["dev"], encoded["dev"], labels, cfg.curve_steps, out / CURVE, pad_id)]
    trainer = make_intent_slot_distillation_trainer_class()(
        model=student,
        args=args,
        train_dataset=WithTeacherTargets(encoded["train"], targets),
        data_collator=partial(collate_nlu_distill, pad_token_id=pad_id),
        head_learning_rate=cfg.learning_rate,
        callbacks=(curve if cfg.curve_steps > 0 and "dev" in data else []) + list(callbacks or []),
        temperature=cfg.temperature,
        alpha_kd=cfg.alpha_kd,
        alpha_task=cfg.alpha_task,
    )
    resume = resume_checkpoint(out)
    train_out = trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(str(out))
    tokenizer.save_pretrained(str(out))
    results = {
        "task": "intent+slot distillation",
        "teacher": cfg.teacher,
        "student": cfg.student,
        "data": data.folder,
        "config": asdict(cfg),
        "heads_copied_from_teacher": copied,
        "teacher_targets_seconds": round(teacher_seconds, 1),
        "train_steps": train_out.global_step,
        "train_seconds": round(time.time() - started, 1),
        "train_loss": train_out.training_loss,
        "resumed_from": resume,
        "parameters": count_parameters(student),
        "teacher_parameters": count_parameters(teacher),
    }
    if cfg.curve_steps > 0:
        results["curve"] = read_curve(out / CURVE)
    for split in cfg.eval_splits:
        if split in data:
            results[split] = score_split(trainer, data[split], encoded[split], labels)
            results[split]["intent_loyalty"] = _intent_loyalty(teacher, trainer.model, encoded[split], pad_id)
    save_results(trainer, out, "eval_results.json", results, write_nlu_student_card)
    return results


def write_nlu_student_card(folder: Path, results: dict) -> Path:
    """The student's card: how it was distilled, its scores and loyalty, the data's license."""
    from ..hub.cards import NLU_DATA, base_model_id, build_model_card

    keys = ("intent_accuracy", "slot_f1", "semantic_accuracy", "semantic_error_rate", "intent_loyalty")
    scores = {s: {k: results[s][k] for k in keys if k in results[s]} for s in ("dev", "test") if results.get(s)}
    rows = [f"| {s} | " + " | ".join(f"{r.get(k, float('nan')):.4f}" for k in keys) + " |" for s, r in scores.items()]
    cfg = results["config"]
    data_name = Path(str(results["data"])).name
    text = "\n".join(
        [
            f"Distilled with `optimum-ro distill-nlu` from the joint intent + slot teacher "
            f"`{base_model_id(results['teacher'])}` ({results['teacher_parameters']:,} parameters) into "
            f"`{base_model_id(results['student'])}` ({results['parameters']:,} parameters) on `{data_name}`: "
            f"{results['train_steps']} steps x batch {cfg['batch_size']}, temperature {cfg['temperature']}, "
            f"soft-target weight {cfg['alpha_kd']}, gold-label weight {cfg['alpha_task']}.",
            "",
            "| split | intent accuracy | slot F1 | semantic accuracy | semantic error rate | intent loyalty |",
            "|---|---:|---:|---:|---:|---:|",
            *rows,
            "",
            "Slot F1: seqeval entity F1 over word-level BIO tags; intent loyalty: share of utterances where the "
            "student predicts the teacher's intent.",
        ]
    )
    card = build_model_card(
        "Joint intent + slot student (BertForIntentSlot)",
        text,
        task="intent+slot",
        base_model=results["teacher"],
        scores=scores,
        tags=["intent-classification", "slot-filling", "distillation"],
        data=NLU_DATA.get(data_name, ()),
        language="en" if data_name == "atis" else "ro",
    )
    path = folder / "README.md"
    card.save(path)
    return path


def _copy_heads(student, teacher) -> list[str]:
    """The teacher's intent and slot heads into the student where shapes match (DistilBERT-style init)."""
    import torch

    source, copied = teacher.state_dict(), []
    with torch.no_grad():
        for name, param in student.named_parameters():
            if name.startswith(("intent_classifier.", "slot_classifier.")) and source[name].shape == param.shape:
                param.copy_(source[name])
                copied.append(name)
    return copied


def _intent_loyalty(teacher, student, encoded, pad_id: int) -> float:
    """Share of utterances where the student predicts the teacher's intent."""
    from ..tasks.nlu import predict_intent_slot

    t, _ = predict_intent_slot(teacher, encoded, pad_id)
    s, _ = predict_intent_slot(student, encoded, pad_id)
    return float(np.mean(t.argmax(-1) == s.argmax(-1)))


def add_parser(subparsers):
    from ..commands.training import add_dataclass_flags, add_trainer_flags

    p = subparsers.add_parser(
        "distill-nlu", help="distil a fine-tuned joint intent + slot teacher into a smaller student"
    )
    settings = {
        "teacher": {"required": True, "help": "a fine-tuned BertForIntentSlot folder (optimum-ro finetune-nlu)"},
        "student": {"required": True, "help": "the student encoder folder, sharing the teacher's tokenizer"},
        "data": {"required": True, "help": "the joint intent/slot folder the teacher was fine-tuned on"},
        "output_dir": {"aliases": ["--output"], "required": True, "help": "the model folder to write"},
    }
    add_dataclass_flags(p, NLUDistillConfig, skip=("eval_splits",), extra=settings)
    add_trainer_flags(p)
    p.set_defaults(func=_run)
    return p


def _run(args) -> int:
    from dataclasses import fields

    from ..commands import check_model_folder
    from ..commands.training import finish_run, trainer_overrides

    names = {f.name for f in fields(NLUDistillConfig)}
    cfg = NLUDistillConfig(**{k: v for k, v in vars(args).items() if k in names})
    check_model_folder(cfg.teacher, "--teacher")
    check_model_folder(cfg.student, "--student")
    results = distill_intent_slot(cfg, training_args=trainer_overrides(args))
    return finish_run(args, cfg.output_dir, results, ("train_steps", "dev", "test"))
