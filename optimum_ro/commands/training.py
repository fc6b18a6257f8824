"""What every training command (finetune, finetune-nlu, pretrain, distill, prune) shares on the command line:
its own flags made from its config dataclass and all of ``TrainingArguments`` (or
``DistillationTrainingArguments``), both through ``HfArgumentParser``'s rules, the push of the finished folder to
the Hub, and results printed by the main process only.

    add_dataclass_flags(parser, FinetuneConfig, extra={"output_dir": {"aliases": ["--output"]}})
    add_trainer_flags(parser)                     # every Trainer flag, e.g. --bf16 --report_to tensorboard
    overrides = trainer_overrides(args)           # only the flags given: {"bf16": True, "report_to": [...]}
    results = finetune(cfg, training_args=overrides)
    finish_run(args, output_dir, results, keys=("task", "validation", "test"))

The flags a command already has (``--learning-rate``, ``--seed``, ``--output``, ...) keep their meaning and also
answer to the Trainer spelling (``--learning_rate``, ``--output_dir``). A Trainer flag that is not given keeps the
project's default, which differs from ``TrainingArguments`` in these places:

| argument | project default | why |
|---|---|---|
| ``output_dir`` | ``OUTPUT/checkpoints`` | the finished model, tokenizer, results and card go to ``OUTPUT`` itself |
| ``report_to`` | ``none`` | runs offline unless a tracker is asked for |
| ``use_cpu`` | ``True`` unless CUDA is available | CPU is the target machine |
| ``save_strategy`` / ``save_steps`` / ``save_total_limit`` | ``steps`` / 200 / 1 (distill 2) | resumable, small |
| ``logging_steps`` | 20 (pretrain 50) | readable logs on short runs |
| ``eval_strategy`` | ``no`` | validation and test are scored once, after training |
| ``warmup_steps`` | 0.06 of the steps (prune 0; pretrain given in steps) | as the task recipes |
| ``weight_decay`` | 0.01 | as the task recipes |
| ``dataloader_num_workers`` | 0 | tokenised in memory already |
| ``train_sampling_strategy`` | ``group_by_length`` (finetune) | less padding on CPU |

``--push_to_hub`` (with ``--hub_model_id``, ``--hub_token``, ``--hub_private_repo``) uploads the finished folder
(model, tokenizer, card, results; not the checkpoints) once, from the main process.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

# handled here or by the command line itself, never passed to the Trainer
HUB_FLAGS = ("push_to_hub", "hub_model_id", "hub_token", "hub_private_repo", "hub_strategy", "hub_always_push")
NOT_TRAINER_FLAGS = ("debug", "log_level", "help")  # --debug / --log_level are optimum-ro's own (see cli.py)


def project_training_arguments(out: str | os.PathLike, cfg, **fields) -> dict:
    """The keyword arguments of a run's ``TrainingArguments`` with the project's defaults (the table above):
    checkpoints in ``out/checkpoints``, and ``cfg``'s ``batch_size``, ``max_steps``, ``learning_rate``,
    ``save_steps`` and ``seed``. ``fields`` add to or replace them (a command's own recipe); Trainer flags given
    on the command line are applied last by the caller."""
    import torch

    args = dict(
        output_dir=str(Path(out) / "checkpoints"),
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=max(32, cfg.batch_size),
        max_steps=cfg.max_steps,
        learning_rate=cfg.learning_rate,
        weight_decay=0.01,
        logging_steps=20,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=1,
        eval_strategy="no",
        report_to="none",
        seed=cfg.seed,
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
    )
    args.update(fields)
    return args


def add_dataclass_flags(
    parser: argparse.ArgumentParser,
    config_class,
    skip=(),
    extra: dict | None = None,
    title: str | None = None,
    only_given: bool = False,
) -> None:
    """One flag per field of the dataclass ``config_class`` (``--field_name``, also ``--field-name``), made by
    ``HfArgumentParser``'s rules (types, ``Optional``, bools, required fields without a default); ``extra[name]``
    adds argparse settings to a field's flag (``help``, ``choices``, ``aliases``, ``required``). Fields in ``skip``
    are left to the command (e.g. repeatable flags). ``only_given``: a flag not given is absent from the parsed
    namespace (for values that override a file only when given)."""
    import copy
    import dataclasses
    import typing
    from types import MappingProxyType

    from transformers import HfArgumentParser

    hints = typing.get_type_hints(config_class)
    group = parser.add_argument_group(title) if title else parser
    before = len(parser._actions)
    for field in dataclasses.fields(config_class):
        if not field.init or field.name in skip:
            continue
        field = copy.copy(field)  # HfArgumentParser rewrites field.type; keep the class's own field intact
        field.type = hints[field.name]
        field.metadata = MappingProxyType({**field.metadata, **(extra or {}).get(field.name, {})})
        HfArgumentParser._parse_dataclass_field(group, field)
    for action in parser._actions[before:]:
        for option in list(action.option_strings):  # --no_resume also as --no-resume, like the other flags
            dashed = "--" + option[2:].replace("_", "-")
            if option.startswith("--no_") and dashed not in parser._option_string_actions:
                action.option_strings.append(dashed)
                parser._option_string_actions[dashed] = action
        if only_given:
            action.default = argparse.SUPPRESS


def add_trainer_flags(parser: argparse.ArgumentParser, arguments_class=None, title: str | None = None) -> None:
    """Add every field of ``arguments_class`` (default ``TrainingArguments``) to ``parser`` as a flag that is
    absent from the parsed namespace unless given. A field the command already has a flag for gets the Trainer
    spelling as an alias of that flag instead."""
    from transformers import HfArgumentParser, TrainingArguments

    arguments_class = arguments_class or TrainingArguments
    source = HfArgumentParser(arguments_class, add_help=False)
    own = {a.dest: a for a in parser._actions if a.option_strings}
    group = parser.add_argument_group(
        title or f"Trainer ({arguments_class.__name__}: every flag; unset ones keep optimum-ro's defaults)"
    )
    names = []
    for action in source._actions:
        if action.dest in NOT_TRAINER_FLAGS:
            continue
        if action.dest in own:  # e.g. --learning_rate for the command's --learning-rate
            for option in action.option_strings:
                if option not in parser._option_string_actions and not option.startswith("--no_"):
                    own[action.dest].option_strings.append(option)
                    parser._option_string_actions[option] = own[action.dest]
            continue
        if any(option in parser._option_string_actions for option in action.option_strings):
            continue
        action.default = argparse.SUPPRESS
        action.required = False
        group._add_action(action)
        names.append(action.dest)
    parser.set_defaults(trainer_flags=tuple(dict.fromkeys(names)))


def trainer_overrides(args: argparse.Namespace) -> dict:
    """The Trainer flags given on the command line (``{dest: value}``), without the Hub ones (see
    :func:`finish_run`)."""
    names = getattr(args, "trainer_flags", ())
    return {n: getattr(args, n) for n in names if hasattr(args, n) and n not in HUB_FLAGS}


def is_main_process() -> bool:
    """Rank 0 of a ``torchrun`` / ``accelerate launch`` job, or a single process."""
    return int(os.environ.get("RANK", "0")) == 0


def push_folder(args: argparse.Namespace, folder: str | os.PathLike) -> str | None:
    """Upload ``folder`` (without its ``checkpoints``) to ``--hub_model_id`` (default: the folder's name) when
    ``--push_to_hub`` was given; returns the repository id."""
    if not getattr(args, "push_to_hub", False) or not is_main_process():
        return None
    from huggingface_hub import HfApi

    api = HfApi(token=getattr(args, "hub_token", None))
    repo_id = getattr(args, "hub_model_id", None) or Path(folder).name
    repo_id = api.create_repo(repo_id, private=getattr(args, "hub_private_repo", None), exist_ok=True).repo_id
    api.upload_folder(
        repo_id=repo_id,
        folder_path=str(folder),
        ignore_patterns=["checkpoints/**", "checkpoints"],
        commit_message="Upload model trained with optimum-ro",
    )
    return repo_id


def finish_run(args: argparse.Namespace, folder: str | os.PathLike, results: dict, keys=None) -> int:
    """The end of every training command: push the folder if asked, print the main results (main process only)."""
    repo_id = push_folder(args, folder)
    if is_main_process():
        shown = {k: results.get(k) for k in keys} if keys else dict(results)
        if repo_id:
            shown["pushed_to"] = repo_id
        print(json.dumps(shown, indent=2, default=str))
    return 0
