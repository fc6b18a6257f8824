"""Fine-tune any BERT-family encoder on one task with a standard ``Trainer``.

    from optimum_ro.tasks.finetune import FinetuneConfig, finetune
    results = finetune(FinetuneConfig(model="models/multilingual-e5-small", task="sentiment",
                                      data="data/sentiment", output_dir="runs/e5-sentiment"))
    results["validation"]["accuracy"]

Writes an ordinary Hugging Face model folder (model + tokenizer) and
``eval_results.json`` (scores per split, training time, parameters, size).
Checkpoints go to ``output_dir/checkpoints``; running again resumes from the last one.

The pieces live in modules with one job each, all importable from here: ``FinetuneConfig``
(finetune_config.py), ``resolve_data`` (data_location.py), ``make_trainer_class`` and
``freeze_word_embeddings`` (task_trainer.py), the command line (finetune_cli.py).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from pathlib import Path

from ..commands.runs import resume_checkpoint, sample_subset, save_results, subset_splits  # noqa: F401 (sample_subset: re-exported)
from ..hub.folder import folder_mb
from .data_location import resolve_data
from .finetune_cli import add_parser  # noqa: F401 (re-exported: the command's parser)
from .finetune_config import FinetuneConfig
from .model_card import write_model_card
from .modeling import count_parameters
from .specs import TOKEN, get_task
from .task_trainer import freeze_word_embeddings, make_trainer_class

logger = logging.getLogger("optimum_ro.finetune")


def finetune(cfg: FinetuneConfig, training_args: dict | None = None) -> dict:
    """Fine-tune ``cfg.model`` on ``cfg.task``; ``training_args`` override the ``TrainingArguments`` this builds
    (any field, e.g. ``{"bf16": True, "report_to": ["tensorboard"]}``). Returns the results dict."""
    import torch
    from transformers import AutoTokenizer

    from . import build_model

    spec = get_task(cfg.task)
    model_path = _ensure_model(cfg.model)
    data = resolve_data(cfg.task, cfg.data)
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)

    tokenizer = AutoTokenizer.from_pretrained(model_path, trust_remote_code=cfg.trust_remote_code)
    ds, collator = _build_datasets(cfg, spec, data, tokenizer)
    model = build_model(model_path, spec, trust_remote_code=cfg.trust_remote_code)
    frozen = freeze_word_embeddings(model, cfg.freeze_embeddings)
    trainer = _build_trainer(cfg, spec, out, model, tokenizer, ds, collator, training_args)
    resume = resume_checkpoint(out)
    start = time.time()
    train_out = trainer.train(resume_from_checkpoint=resume)
    train_seconds = time.time() - start

    results = {
        "task": spec.name,
        "model": cfg.model,
        "config": asdict(cfg),
        "trainer_overrides": dict(training_args or {}),
        "frozen_word_embeddings": frozen,
        "train_seconds": round(train_seconds, 1),
        "train_steps": train_out.global_step,
        "train_loss": train_out.training_loss,
        "torch_threads": torch.get_num_threads(),
        "processes": trainer.args.world_size,
        "resumed_from": resume,
    }
    _evaluate_splits(trainer, ds, cfg.eval_splits, results)
    _write_outputs(trainer, tokenizer, model, out, results)
    logger.info("%s %s: %s", spec.name, cfg.model, {k: results[k] for k in cfg.eval_splits if k in results})
    return results


def _build_datasets(cfg: FinetuneConfig, spec, data, tokenizer):
    """The tokenized splits of the task and the collator that pads their batches."""
    from transformers import DataCollatorForTokenClassification, DataCollatorWithPadding

    from . import load_task, preprocess_task

    raw = load_task(spec, data)
    raw = subset_splits(raw, cfg.max_train_samples, cfg.max_eval_samples, cfg.seed)
    ds = preprocess_task(raw, tokenizer, spec, max_length=cfg.max_length)
    if spec.kind == TOKEN:
        ds = ds.remove_columns("word_ids")
        collator = DataCollatorForTokenClassification(tokenizer)
    else:
        collator = DataCollatorWithPadding(tokenizer)
    return ds, collator


def _training_arguments(cfg: FinetuneConfig, out: Path, training_args: dict | None):
    """The ``TrainingArguments`` of the run, ``training_args`` overriding the defaults built from ``cfg``."""
    from transformers import TrainingArguments

    from ..commands.training import project_training_arguments

    args = project_training_arguments(
        out,
        cfg,
        num_train_epochs=cfg.epochs,
        weight_decay=cfg.weight_decay,
        warmup_steps=cfg.warmup_ratio,
        train_sampling_strategy="group_by_length",
    )
    return TrainingArguments(**{**args, **(training_args or {})})


def _build_trainer(cfg: FinetuneConfig, spec, out: Path, model, tokenizer, ds, collator, training_args: dict | None):
    """The task trainer over the train split, with the head's own learning rate."""
    from . import metrics_fn

    args = _training_arguments(cfg, out, training_args)
    head_lr = cfg.head_learning_rate if cfg.head_learning_rate is not None else 20 * cfg.learning_rate
    return make_trainer_class()(
        model=model,
        args=args,
        train_dataset=ds["train"],
        data_collator=collator,
        processing_class=tokenizer,
        compute_metrics=metrics_fn(spec),
        head_learning_rate=head_lr,
    )


def _evaluate_splits(trainer, ds, splits, results: dict) -> None:
    """Score each of ``splits`` present in ``ds`` into ``results[split]``, with its evaluation time."""
    for split in splits:
        if split in ds:
            start = time.time()
            metrics = trainer.evaluate(ds[split], metric_key_prefix=split)
            results[split] = {k[len(split) + 1 :]: v for k, v in metrics.items() if k.startswith(split + "_")}
            results[split]["eval_seconds"] = round(time.time() - start, 1)


def _write_outputs(trainer, tokenizer, model, out: Path, results: dict) -> None:
    """Save the model folder, then its size and parameters into ``results`` and ``eval_results.json``."""
    trainer.save_model(str(out))
    tokenizer.save_pretrained(str(out))
    results["parameters"] = count_parameters(model)
    results["size_mb"] = round(folder_mb(out, "*"), 1)
    save_results(trainer, out, "eval_results.json", results, write_model_card)


def _ensure_model(name_or_path: str) -> str:
    try:
        from ..hub import ensure_model
    except ImportError:
        return name_or_path
    return ensure_model(name_or_path)


__all__ = [
    "FinetuneConfig",
    "finetune",
    "freeze_word_embeddings",
    "make_trainer_class",
    "resolve_data",
    "sample_subset",
]
