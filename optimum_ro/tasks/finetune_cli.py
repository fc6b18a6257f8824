"""``optimum-ro finetune``: the command line of :func:`optimum_ro.tasks.finetune.finetune`.

optimum-ro finetune --model models/multilingual-e5-small --task sentiment --output runs/e5-sentiment --bf16
"""

from __future__ import annotations

from dataclasses import fields

from .finetune_config import FinetuneConfig
from .specs import TASKS

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
    from .finetune import finetune

    names = {f.name for f in fields(FinetuneConfig)}
    cfg = FinetuneConfig(**{k: v for k, v in vars(args).items() if k in names})
    cfg.eval_splits = tuple(cfg.eval_splits)
    check_model_folder(cfg.model, "--model", cfg.trust_remote_code)
    cfg.data = check_data(cfg.task, cfg.data)
    results = finetune(cfg, training_args=trainer_overrides(args))
    return finish_run(args, cfg.output_dir, results, ("task", "validation", "test", "train_seconds", "parameters"))
