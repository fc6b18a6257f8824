"""Fine-tune any BERT-family encoder on one task with a standard ``Trainer``.

    from optimum_ro.tasks.finetune import FinetuneConfig, finetune
    results = finetune(FinetuneConfig(model="models/multilingual-e5-small", task="sentiment",
                                      data="data/sentiment", output_dir="runs/e5-sentiment"))
    results["validation"]["accuracy"]

Writes an ordinary Hugging Face model folder (model + tokenizer) and
``eval_results.json`` (scores per split, training time, parameters, size).
Checkpoints go to ``output_dir/checkpoints``; running again resumes from the last one.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ..commands.runs import resume_checkpoint, sample_subset, save_results, subset_splits  # noqa: F401 (sample_subset: re-exported)
from ..hub.folder import folder_mb
from .model_card import write_model_card
from .modeling import count_parameters
from .specs import TASKS, TOKEN, get_task

logger = logging.getLogger("optimum_ro.finetune")


@dataclass
class FinetuneConfig:
    model: str
    task: str
    data: str | None = None
    output_dir: str = "runs/finetune"
    epochs: float = 1.0
    max_steps: int = -1
    batch_size: int = 16
    learning_rate: float = 5e-5
    head_learning_rate: float | None = None  # new task head (and pooler); default: 20x learning_rate
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    max_length: int | None = None
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    freeze_embeddings: str = "auto"  # auto: freeze word embeddings of vocabularies > 50k tokens
    seed: int = 42
    save_steps: int = 200
    eval_splits: tuple = ("validation", "test")
    trust_remote_code: bool = False  # run the model folder's own code (auto_map); only for folders you trust


def resolve_data(task: str, data: str | None) -> str:
    """``data`` as given, or the shared Romanian data folder beside the checkout.

    The default is for the main job and examples only: ``$OPTIMUM_RO_DATA`` (a folder holding
    one sub-folder per task) or ``../shared/data/ro`` relative to the working directory.
    """
    if data:
        return data
    spec = get_task(task)
    roots = [os.environ.get("OPTIMUM_RO_DATA"), "../shared/data/ro"]
    for root in filter(None, roots):
        candidate = Path(root) / spec.folder
        if candidate.is_dir():
            return str(candidate)
    raise SystemExit(
        f"No data for task {task!r}: pass --data <folder of train/dev/test .jsonl or a datasets id>, "
        "or set OPTIMUM_RO_DATA to a folder with one sub-folder per task."
    )


def freeze_word_embeddings(model, mode: str = "auto") -> bool:
    """Freeze the word embedding matrix (most of a multilingual model, rarely worth training)."""
    emb = model.get_input_embeddings()
    freeze = mode == "yes" or (mode == "auto" and emb.weight.shape[0] > 50_000)
    if freeze:
        emb.weight.requires_grad_(False)
    return freeze


def make_trainer_class():
    """``Trainer`` whose optimizer gives the freshly initialised head its own learning rate
    (``head_param_groups``)."""
    import torch
    from transformers import Trainer

    from .modeling import head_param_groups

    class TaskTrainer(Trainer):
        def __init__(self, *args, head_learning_rate=None, **kwargs):
            super().__init__(*args, **kwargs)
            self.head_learning_rate = head_learning_rate

        def create_optimizer(self, model=None):
            if self.optimizer is not None or not self.head_learning_rate:
                return super().create_optimizer(model)
            groups = head_param_groups(
                self.model, self.args.learning_rate, self.head_learning_rate, self.args.weight_decay
            )
            self.optimizer = torch.optim.AdamW(
                groups,
                lr=self.args.learning_rate,
                eps=self.args.adam_epsilon,
                betas=(self.args.adam_beta1, self.args.adam_beta2),
            )
            return self.optimizer

    return TaskTrainer


def finetune(cfg: FinetuneConfig, training_args: dict | None = None) -> dict:
    """Fine-tune ``cfg.model`` on ``cfg.task``; ``training_args`` override the ``TrainingArguments`` this builds
    (any field, e.g. ``{"bf16": True, "report_to": ["tensorboard"]}``). Returns the results dict."""
    import torch
    from transformers import (
        AutoTokenizer,
        DataCollatorForTokenClassification,
        DataCollatorWithPadding,
        TrainingArguments,
    )

    from . import build_model, load_task, metrics_fn, preprocess_task

    spec = get_task(cfg.task)
    model_path = _ensure_model(cfg.model)
    data = resolve_data(cfg.task, cfg.data)
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)

    tokenizer = AutoTokenizer.from_pretrained(model_path, trust_remote_code=cfg.trust_remote_code)
    raw = load_task(spec, data)
    raw = subset_splits(raw, cfg.max_train_samples, cfg.max_eval_samples, cfg.seed)
    ds = preprocess_task(raw, tokenizer, spec, max_length=cfg.max_length)
    if spec.kind == TOKEN:
        ds = ds.remove_columns("word_ids")
        collator = DataCollatorForTokenClassification(tokenizer)
    else:
        collator = DataCollatorWithPadding(tokenizer)

    model = build_model(model_path, spec, trust_remote_code=cfg.trust_remote_code)
    frozen = freeze_word_embeddings(model, cfg.freeze_embeddings)
    args = dict(
        output_dir=str(out / "checkpoints"),
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=max(32, cfg.batch_size),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        learning_rate=cfg.learning_rate,
        weight_decay=cfg.weight_decay,
        warmup_steps=cfg.warmup_ratio,
        lr_scheduler_type="linear",
        logging_steps=20,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=1,
        eval_strategy="no",
        report_to="none",
        seed=cfg.seed,
        use_cpu=not torch.cuda.is_available(),
        train_sampling_strategy="group_by_length",
        dataloader_num_workers=0,
    )
    args = TrainingArguments(**{**args, **(training_args or {})})
    head_lr = cfg.head_learning_rate if cfg.head_learning_rate is not None else 20 * cfg.learning_rate
    trainer = make_trainer_class()(
        model=model,
        args=args,
        train_dataset=ds["train"],
        data_collator=collator,
        processing_class=tokenizer,
        compute_metrics=metrics_fn(spec),
        head_learning_rate=head_lr,
    )
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
    for split in cfg.eval_splits:
        if split in ds:
            start = time.time()
            metrics = trainer.evaluate(ds[split], metric_key_prefix=split)
            results[split] = {k[len(split) + 1 :]: v for k, v in metrics.items() if k.startswith(split + "_")}
            results[split]["eval_seconds"] = round(time.time() - start, 1)
    trainer.save_model(str(out))
    tokenizer.save_pretrained(str(out))
    results["parameters"] = count_parameters(model)
    results["size_mb"] = round(folder_mb(out, "*"), 1)
    save_results(trainer, out, "eval_results.json", results, write_model_card)
    logger.info("%s %s: %s", spec.name, cfg.model, {k: results[k] for k in cfg.eval_splits if k in results})
    return results


def _ensure_model(name_or_path: str) -> str:
    try:
        from ..hub import ensure_model
    except ImportError:
        return name_or_path
    return ensure_model(name_or_path)


# argparse settings of FinetuneConfig's fields on the command line (the flags themselves come from the dataclass)
FLAG_SETTINGS = {
    "model": {"help": "model folder, Hub id, or a name `fetch-models` knows"},
    "task": {"choices": sorted(TASKS)},
    "data": {
        "help": "folder of train/dev/test .jsonl or a datasets id "
        "(default: $OPTIMUM_RO_DATA/<task> or ../shared/data/ro/<task>)"
    },
    "output_dir": {"aliases": ["--output"], "required": True, "help": "the model folder to write"},
    "epochs": {"help": "training epochs (Trainer: --num_train_epochs)"},
    "batch_size": {"help": "per-device training batch (Trainer: --per_device_train_batch_size)"},
    "head_learning_rate": {"help": "the new task head and pooler (default: 20x --learning_rate)"},
    "freeze_embeddings": {"choices": ("auto", "yes", "no"), "help": "auto: freeze vocabularies > 50k tokens"},
    "trust_remote_code": {"help": "run the model folder's own code (only for folders you trust)"},
}


def add_parser(subparsers):
    from ..commands.training import add_dataclass_flags, add_trainer_flags

    p = subparsers.add_parser("finetune", help="fine-tune an encoder on one Romanian task (writes an HF model folder)")
    add_dataclass_flags(p, FinetuneConfig, skip=("eval_splits",), extra=FLAG_SETTINGS)
    p.add_argument(
        "--eval_splits",
        "--eval-splits",
        nargs="+",
        default=list(FinetuneConfig.eval_splits),
        help="splits scored after training (default: validation test)",
    )
    add_trainer_flags(p)
    p.set_defaults(func=_run)
    return p


def _run(args) -> int:
    from ..commands import check_data, check_model_folder
    from ..commands.training import finish_run, trainer_overrides

    names = {f.name for f in fields(FinetuneConfig)}
    cfg = FinetuneConfig(**{k: v for k, v in vars(args).items() if k in names})
    cfg.eval_splits = tuple(cfg.eval_splits)
    check_model_folder(cfg.model, "--model", cfg.trust_remote_code)
    cfg.data = check_data(cfg.task, cfg.data)
    results = finetune(cfg, training_args=trainer_overrides(args))
    return finish_run(args, cfg.output_dir, results, ("task", "validation", "test", "train_seconds", "parameters"))
