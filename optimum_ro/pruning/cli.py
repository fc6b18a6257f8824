"""``optimum-ro prune``: block-prune a model folder while fine-tuning it on one task (optionally distilling).

    optimum-ro prune --model runs/student-sentiment --task sentiment --data data/sentiment \\
        --block-shape 16x1 --sparsity 0.8 --criterion magnitude --output runs/student-sentiment-16x1-80 \\
        [--teacher runs/teacher-sentiment]

In Python: ``prune_task(PruneTaskConfig(model=..., task=..., output_dir=...), BlockPruningConfig(...))``.
Writes an ordinary Hugging Face model folder (weights with exact zero blocks, ``config.sparsity``), its tokenizer,
``pruning_config.json`` and ``eval_results.json`` (task scores, per-layer sparsity, training time).
Checkpoints go to ``output/checkpoints``; running the same command again resumes from the last one.
``--max-steps 0`` prunes one-shot (magnitude, no training) and only evaluates.
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from .config import CRITERIA, SCHEDULES, SCOPES, BlockPruningConfig

logger = logging.getLogger("optimum_ro.prune")


@dataclass
class PruneTaskConfig:
    """The training run around the pruning (the pruning itself is a :class:`BlockPruningConfig`).

    teacher: a model folder fine-tuned on the same task; with it the run uses ``DistillationTrainer``
    (soft targets at ``temperature``, weights ``alpha_ce`` / ``alpha_task``), the recipe that keeps accuracy.
    """

    model: str
    task: str
    output_dir: str
    data: str | None = None
    teacher: str | None = None
    epochs: float = 3.0
    max_steps: int = -1
    batch_size: int = 16
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.0
    max_length: int | None = None
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    temperature: float = 2.0
    alpha_ce: float = 0.5
    alpha_task: float = 0.5
    alpha_cos: float = 0.0
    hidden_layer_map: tuple[str, ...] | None = None
    freeze_embeddings: str = "auto"  # auto: freeze word embeddings of vocabularies > 50k tokens; yes; no
    seed: int = 42
    save_steps: int = 200
    eval_splits: tuple = ("validation", "test")
    trust_remote_code: bool = False  # run the model folders' own code (auto_map); only for folders you trust


def prune_task(cfg: PruneTaskConfig, pruning: BlockPruningConfig, training_args: dict | None = None) -> dict:
    """Fine-tune ``cfg.model`` on ``cfg.task`` with a :class:`BlockPruner`; returns the results dict.
    ``training_args`` override the ``TrainingArguments`` this builds (any field, e.g. ``{"bf16": True}``)."""
    from transformers import AutoTokenizer

    from ..commands.runs import subset_splits
    from ..tasks import build_model, get_task, load_task, preprocess_task
    from ..tasks.finetune import freeze_word_embeddings, resolve_data
    from .pruner import BlockPruner

    spec = get_task(cfg.task)
    _check_settings(cfg, training_args)
    data = resolve_data(spec.name, cfg.data)
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    remote = dict(trust_remote_code=cfg.trust_remote_code)
    tokenizer = AutoTokenizer.from_pretrained(cfg.model, **remote)
    raw = subset_splits(load_task(spec, data), cfg.max_train_samples, cfg.max_eval_samples, cfg.seed)
    model = build_model(cfg.model, spec, **remote)
    frozen = freeze_word_embeddings(model, cfg.freeze_embeddings)
    teacher, teacher_tokenizer, shares_vocab = _load_teacher(cfg, spec, tokenizer)
    ds = preprocess_task(raw, tokenizer, spec, max_length=cfg.max_length, keep_raw=not shares_vocab)

    _check_one_shot(cfg, pruning)
    pruner = BlockPruner(pruning, model)
    common = _training_arguments(cfg, out, training_args)
    if teacher is None:
        trainer, ds = _plain_trainer(spec, model, tokenizer, ds, common, pruner)
    else:
        teacher_side = (teacher, teacher_tokenizer, shares_vocab)
        trainer, ds = _distillation_trainer(cfg, spec, model, tokenizer, teacher_side, raw, ds, common, pruner)
    steps, loss, resume, train_seconds = _prune_and_train(cfg, pruning, pruner, trainer, out)
    pruner.finalize(model)

    report = pruner.sparsity_report(model)
    results = {
        "task": spec.name,
        "model": cfg.model,
        "teacher": cfg.teacher,
        "run": asdict(cfg),
        "trainer_overrides": dict(training_args or {}),
        "pruning": pruning.to_dict(),
        "sparsity": report["overall"],
        "layers": report["layers"],
        "train_seconds": round(train_seconds, 1),
        "train_steps": steps,
        "train_loss": loss,
        "resumed_from": resume,
        "frozen_word_embeddings": frozen,
    }
    _evaluate_splits(trainer, ds, cfg.eval_splits, results)
    _write_outputs(trainer, model, tokenizer, pruning, out, results)
    logger.info(
        "%s pruned to %.1f%% (%s blocks): %s",
        spec.name,
        100 * report["overall"],
        "x".join(map(str, pruning.block_shape)),
        {s: results.get(s) for s in cfg.eval_splits},
    )
    return results


def _check_settings(cfg: PruneTaskConfig, training_args: dict | None) -> None:
    """Raise ``ValueError`` on settings that cannot go together (distillation settings without a teacher)."""
    from dataclasses import fields as dataclass_fields

    from transformers import TrainingArguments

    if cfg.freeze_embeddings not in ("auto", "yes", "no"):
        raise ValueError(f"freeze_embeddings must be 'auto', 'yes' or 'no', got {cfg.freeze_embeddings!r}.")
    if cfg.alpha_cos and not cfg.teacher:
        raise ValueError("alpha_cos > 0 distils hidden states from a teacher: give --teacher (or set alpha_cos 0).")
    distill_only = sorted(set(training_args or {}) - {f.name for f in dataclass_fields(TrainingArguments)})
    if distill_only and not cfg.teacher:
        raise ValueError(f"--{distill_only[0]} is a distillation setting: give --teacher (a fine-tuned model) too.")


def _check_one_shot(cfg: PruneTaskConfig, pruning: BlockPruningConfig) -> None:
    """Raise ``ValueError`` when one-shot pruning (``max_steps == 0``) is asked of a criterion that needs gradients."""
    if cfg.max_steps == 0 and pruning.criterion != "magnitude":
        raise ValueError(
            f"--max-steps 0 prunes one-shot without gradients, so criterion {pruning.criterion!r} cannot "
            "be scored; use --criterion magnitude or train for some steps."
        )


def _load_teacher(cfg: PruneTaskConfig, spec, tokenizer):
    """The teacher, its tokenizer and whether it shares the student's vocabulary (``None, None, True`` without)."""
    from transformers import AutoTokenizer

    from ..tasks import build_model

    if not cfg.teacher:
        return None, None, True
    remote = dict(trust_remote_code=cfg.trust_remote_code)
    teacher = build_model(cfg.teacher, spec, **remote)
    teacher_tokenizer = AutoTokenizer.from_pretrained(cfg.teacher, **remote)
    return teacher, teacher_tokenizer, teacher_tokenizer.get_vocab() == tokenizer.get_vocab()


def _training_arguments(cfg: PruneTaskConfig, out: Path, training_args: dict | None) -> dict:
    """The keyword arguments of the run's ``TrainingArguments``, ``training_args`` overriding the defaults."""
    from ..commands.training import project_training_arguments

    return project_training_arguments(
        out, cfg, num_train_epochs=cfg.epochs, weight_decay=cfg.weight_decay, warmup_steps=cfg.warmup_ratio
    ) | (training_args or {})


def _plain_trainer(spec, model, tokenizer, ds, common: dict, pruner):
    """A ``Trainer`` on the gold labels with the pruner as callback; returns it and the datasets it uses."""
    from transformers import DataCollatorForTokenClassification, DataCollatorWithPadding, Trainer, TrainingArguments

    from ..tasks import metrics_fn

    if spec.kind == "token":
        ds = ds.remove_columns("word_ids")
        collator = DataCollatorForTokenClassification(tokenizer)
    else:
        collator = DataCollatorWithPadding(tokenizer)
    trainer = Trainer(
        model=model,
        args=TrainingArguments(**common),
        train_dataset=ds["train"],
        data_collator=collator,
        processing_class=tokenizer,
        compute_metrics=metrics_fn(spec),
        callbacks=[pruner],
    )
    return trainer, ds


def _distillation_trainer(cfg: PruneTaskConfig, spec, model, tokenizer, teacher_side: tuple, raw, ds, common, pruner):
    """A ``DistillationTrainer`` from the teacher with the pruner as callback; returns it and the datasets it uses
    (with the teacher's own inputs when its vocabulary differs). ``teacher_side``: what :func:`_load_teacher` gives."""
    teacher, teacher_tokenizer, shares_vocab = teacher_side
    from ..distillation import DistillationTrainer, DistillationTrainingArguments, prepare_teacher_inputs
    from ..tasks import metrics_fn

    if not shares_vocab:
        words = dict(words_field=spec.text_fields[0]) if spec.kind == "token" else dict(text_fields=spec.text_fields)
        ds = prepare_teacher_inputs(
            ds, [teacher_tokenizer], max_length=cfg.max_length or spec.default_max_length, **words
        )
        drop = [c for c in raw["train"].column_names if c in ds["train"].column_names]
        ds = ds.remove_columns(drop)
    args = DistillationTrainingArguments(
        **common,
        temperature=cfg.temperature,
        alpha_ce=cfg.alpha_ce,
        alpha_task=cfg.alpha_task,
        alpha_cos=cfg.alpha_cos,
        hidden_layer_map=list(cfg.hidden_layer_map) if cfg.hidden_layer_map else None,
    )
    trainer = DistillationTrainer(
        model=model,
        teacher=teacher,
        teacher_tokenizers=[teacher_tokenizer],
        args=args,
        train_dataset=ds["train"],
        processing_class=tokenizer,
        compute_metrics=metrics_fn(spec),
        callbacks=[pruner],
    )
    return trainer, ds


def _prune_and_train(cfg: PruneTaskConfig, pruning: BlockPruningConfig, pruner, trainer, out: Path):
    """Train with the pruner (or prune one-shot for ``max_steps == 0``); returns steps, loss, resumed checkpoint
    and seconds."""
    from ..commands.runs import resume_checkpoint

    resume = None
    start = time.time()
    if cfg.max_steps == 0:  # one-shot, post-training pruning: no training at all
        pruner.end_step = pruning.start_step  # every schedule is at its target at its end step
        pruner.update_masks(pruning.start_step)
        steps, loss = 0, None
    else:
        resume = resume_checkpoint(out)
        train_out = trainer.train(resume_from_checkpoint=resume)
        steps, loss = train_out.global_step, train_out.training_loss
    return steps, loss, resume, time.time() - start


def _evaluate_splits(trainer, ds, splits, results: dict) -> None:
    """Score each of ``splits`` present in ``ds`` into ``results[split]``."""
    for split in splits:
        if split in ds:
            metrics = trainer.evaluate(ds[split], metric_key_prefix=split)
            results[split] = {k[len(split) + 1 :]: v for k, v in metrics.items() if k.startswith(split + "_")}


def _write_outputs(trainer, model, tokenizer, pruning: BlockPruningConfig, out: Path, results: dict) -> None:
    """Save the pruned model folder (main process), its pruning config and ``eval_results.json``."""
    from ..commands.runs import save_results
    from .model_card import write_pruned_card

    if trainer.is_world_process_zero():
        model.save_pretrained(str(out))
        tokenizer.save_pretrained(str(out))
        pruning.save_pretrained(str(out))
    save_results(trainer, out, "eval_results.json", results, write_pruned_card)


def _override(text: str) -> tuple[str, float]:
    pattern, sep, value = text.rpartition("=")
    if not sep or not pattern:
        raise argparse.ArgumentTypeError(
            f"--sparsity-override takes PATTERN=SPARSITY (e.g. 'intermediate=0.9'), got {text!r}"
        )
    try:
        return pattern, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sparsity-override {text!r}: {value!r} is not a number") from None


# argparse settings of the dataclass fields on the command line (the flags themselves come from the dataclasses)
TASK_FLAG_SETTINGS = {
    "model": {"help": "model folder (a fine-tuned or distilled student)"},
    "task": {"choices": ["pos", "ner", "sentiment", "sts", "dialect"]},
    "data": {"help": "folder of train/dev/test .jsonl (default: $OPTIMUM_RO_DATA/<task> or ../shared/data/ro/<task>)"},
    "output_dir": {"aliases": ["--output"], "required": True, "help": "the pruned model folder to write"},
    "teacher": {"help": "dense model folder fine-tuned on the task: distil from it while pruning"},
    "freeze_embeddings": {"choices": ("auto", "yes", "no"), "help": "auto: freeze vocabularies > 50k tokens"},
    "trust_remote_code": {"help": "run the model folders' own code (only for folders you trust)"},
}
PRUNING_FLAG_SETTINGS = {
    "target_sparsity": {"aliases": ["--sparsity"], "help": "target fraction of pruned blocks, [0, 1)"},
    "target_modules": {"help": "regular expressions of the module names to prune"},
    "exclude_modules": {"help": "regular expressions of module names kept dense"},
    "criterion": {"choices": CRITERIA},
    "schedule": {"choices": SCHEDULES},
    "scope": {"choices": SCOPES},
    "end_step": {"help": "default: 70%% of the training steps"},
}


def add_parser(subparsers):
    from ..commands.training import add_dataclass_flags, add_trainer_flags
    from ..distillation.config import DistillationTrainingArguments

    p = subparsers.add_parser(
        "prune",
        help="block-prune a model while fine-tuning (or distilling) it on one task",
        description=__doc__.splitlines()[0],
    )
    add_dataclass_flags(p, PruneTaskConfig, skip=("hidden_layer_map", "eval_splits"), extra=TASK_FLAG_SETTINGS)
    p.add_argument(
        "--hidden_layer_map",
        "--hidden-layer-map",
        nargs="+",
        metavar="S:T",
        help="with --alpha_cos: student:teacher hidden-state pairs (0 = embeddings, -1 = last), "
        "e.g. 1:2 2:4; default -1:-1",
    )
    g = p.add_argument_group(
        "pruning (BlockPruningConfig; a flag given overrides --pruning_config, then the defaults)"
    )
    g.add_argument(
        "--pruning_config",
        "--pruning-config",
        help="a pruning_config.json, its folder or a Hub id; the flags below override it",
    )
    g.add_argument(
        "--block_shape",
        "--block-shape",
        help="ROWSxCOLS of the weight [out, in]: 16x1 (fp32 kernel), 1x4 (int8 "
        "kernel; Intel's VNNI '4x1'), 1x1 = unstructured",
    )
    g.add_argument(
        "--sparsity_override",
        "--sparsity-override",
        type=_override,
        action="append",
        metavar="PATTERN=SPARSITY",
        help="per-module sparsity, repeatable, e.g. 'intermediate|output\\.dense=0.9'",
    )
    add_dataclass_flags(
        p, BlockPruningConfig, skip=("block_shape", "sparsity_overrides"), extra=PRUNING_FLAG_SETTINGS, only_given=True
    )
    add_trainer_flags(p, DistillationTrainingArguments)  # its extra fields apply with --teacher
    p.set_defaults(func=_run)
    return p


PRUNING_FLAGS = tuple(f.name for f in fields(BlockPruningConfig) if f.name != "sparsity_overrides")


def pruning_config_from_args(args) -> BlockPruningConfig:
    base = BlockPruningConfig.from_pretrained(args.pruning_config).to_dict() if args.pruning_config else {}
    base.update({k: getattr(args, k) for k in PRUNING_FLAGS if getattr(args, k, None) is not None})
    if args.sparsity_override:
        base["sparsity_overrides"] = dict(args.sparsity_override)
    return BlockPruningConfig.from_dict(base)


def _run(args) -> int:
    from ..commands import check_data, check_model_folder
    from ..commands.training import finish_run, trainer_overrides

    pruning = pruning_config_from_args(args)
    names = set(PruneTaskConfig.__dataclass_fields__)
    cfg = PruneTaskConfig(**{k: v for k, v in vars(args).items() if k in names})
    check_model_folder(cfg.model, "--model", cfg.trust_remote_code)
    if cfg.teacher:
        check_model_folder(cfg.teacher, "--teacher", cfg.trust_remote_code)
    cfg.data = check_data(cfg.task, cfg.data)
    results = prune_task(cfg, pruning, training_args=trainer_overrides(args))
    return finish_run(args, cfg.output_dir, results, ("task", "sparsity", "validation", "test", "train_seconds"))
