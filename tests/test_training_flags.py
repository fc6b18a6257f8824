"""Every training command takes every Trainer flag (HfArgumentParser over TrainingArguments), keeps its own
spellings, pushes the finished folder once and prints results from the main process only."""

import argparse
import json

import pytest

from optimum_ro.cli import build_parser, main
from optimum_ro.commands.training import finish_run

TRAINING_COMMANDS = ("finetune", "finetune-nlu", "pretrain", "distill", "distill-nlu", "prune")


@pytest.mark.parametrize("command", TRAINING_COMMANDS)
def test_every_training_command_lists_the_trainer_flags(command):
    sub = build_parser(command)._subparsers._group_actions[0].choices[command]
    text = sub.format_help()
    for flag in (
        "--bf16",
        "--report_to",
        "--push_to_hub",
        "--hub_model_id",
        "--gradient_accumulation_steps",
        "--lr_scheduler_type",
        "--output_dir",
        "--seed",
    ):
        assert flag in text, (command, flag)


def test_trainer_flags_reach_the_trainer_and_push_sends_the_finished_folder(
    tiny_bert_dir, fixtures_dir, tmp_path, capsys, monkeypatch
):
    pushed = []

    class FakeApi:  # records the upload instead of reaching the Hub
        def __init__(self, token=None):
            pass

        def create_repo(self, repo_id, **kwargs):
            return type("Repo", (), {"repo_id": repo_id})()

        def upload_folder(self, repo_id, folder_path, ignore_patterns, **kwargs):
            pushed.append((repo_id, folder_path, ignore_patterns))

    monkeypatch.setattr("huggingface_hub.HfApi", FakeApi)
    out = tmp_path / "run"
    rc = main(
        [
            "finetune",
            "--model", str(tiny_bert_dir),
            "--task", "sentiment",
            "--data", str(fixtures_dir / "ro" / "sentiment"),
            "--output_dir", str(out),  # the Trainer spelling of --output
            "--learning_rate", "1e-3",  # the Trainer spelling of --learning-rate
            "--max_steps", "2",
            "--per_device_train_batch_size", "4",  # a Trainer-only flag
            "--lr_scheduler_type", "constant",
            "--logging_steps", "1",
            "--save_steps", "2",
            "--push_to_hub", "--hub_model_id", "user/tiny-sentiment",
        ]
    )  # fmt: skip
    assert rc == 0
    state = json.loads((out / "checkpoints" / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["train_batch_size"] == 4 and state["logging_steps"] == 1
    assert [h["learning_rate"] for h in state["log_history"] if "learning_rate" in h] == [1e-3, 1e-3]
    results = json.loads((out / "eval_results.json").read_text())
    assert results["trainer_overrides"]["lr_scheduler_type"] == "constant"
    assert "push_to_hub" not in results["trainer_overrides"]  # the Trainer pushes nothing itself
    assert pushed == [("user/tiny-sentiment", str(out), ["checkpoints/**", "checkpoints"])]
    stdout = capsys.readouterr().out
    assert json.loads(stdout[stdout.rindex('{\n  "task"') :])["pushed_to"] == "user/tiny-sentiment"


def test_a_distillation_flag_without_a_teacher_is_refused(tiny_bert_dir, fixtures_dir, tmp_path, capsys):
    args = ["prune", "--model", str(tiny_bert_dir), "--task", "sentiment", "--output", str(tmp_path / "p")]
    rc = main(args + ["--data", str(fixtures_dir / "ro" / "sentiment"), "--alpha_mse", "1.0"])
    assert rc == 2 and "--alpha_mse is a distillation setting: give --teacher" in capsys.readouterr().err


def test_results_are_printed_by_the_main_process_only(tmp_path, capsys, monkeypatch):
    args = argparse.Namespace()
    monkeypatch.setenv("RANK", "1")
    assert finish_run(args, tmp_path, {"task": "pos"}, ("task",)) == 0
    assert capsys.readouterr().out == ""
    monkeypatch.setenv("RANK", "0")
    finish_run(args, tmp_path, {"task": "pos"}, ("task",))
    assert json.loads(capsys.readouterr().out) == {"task": "pos"}


def test_every_command_subsets_the_same_way_and_resumes_from_output_checkpoints(tmp_path):
    from datasets import Dataset, DatasetDict

    from optimum_ro.commands.runs import resume_checkpoint, subset_splits

    rows = {"label": [i // 10 for i in range(40)]}  # sorted by label, as data files often are
    raw = DatasetDict({"train": Dataset.from_dict(rows), "validation": Dataset.from_dict(rows)})
    sub = subset_splits(raw, max_train=12, max_eval=8, seed=3)
    assert len(sub["train"]) == 12 and len(sub["validation"]) == 8
    assert len(set(sub["validation"]["label"])) > 1  # a random sample, not the first rows
    again = subset_splits(DatasetDict({"validation": Dataset.from_dict(rows)}), None, 8, seed=3)
    assert again["validation"]["label"] == sub["validation"]["label"]
    assert resume_checkpoint(tmp_path) is None
    (tmp_path / "checkpoints" / "checkpoint-5").mkdir(parents=True)
    (tmp_path / "checkpoints" / "checkpoint-10").mkdir()
    assert resume_checkpoint(tmp_path).endswith("checkpoint-10") and resume_checkpoint(tmp_path, enabled=False) is None


def test_each_command_has_a_flag_per_field_of_its_config_dataclasses():
    from dataclasses import fields

    from optimum_ro.distillation.cli import DistillConfig
    from optimum_ro.distillation.nlu_distill import NLUDistillConfig
    from optimum_ro.pruning import BlockPruningConfig
    from optimum_ro.pruning.cli import PruneTaskConfig
    from optimum_ro.tasks.finetune import FinetuneConfig
    from optimum_ro.tasks.nlu_finetune import NLUFinetuneConfig
    from optimum_ro.tasks.pretrain import PretrainConfig

    configs = {
        "finetune": [FinetuneConfig],
        "finetune-nlu": [NLUFinetuneConfig],
        "pretrain": [PretrainConfig],
        "distill": [DistillConfig],
        "distill-nlu": [NLUDistillConfig],
        "prune": [PruneTaskConfig, BlockPruningConfig],
    }
    renamed = {"teachers": "--teacher", "sparsity_overrides": "--sparsity_override"}
    not_on_the_command_line = {
        ("finetune-nlu", "eval_splits"),
        ("prune", "eval_splits"),
        ("distill-nlu", "eval_splits"),
    }
    for command, classes in configs.items():
        sub = build_parser(command)._subparsers._group_actions[0].choices[command]
        options = set(sub._option_string_actions)
        for config in classes:
            for field in fields(config):
                if (command, field.name) in not_on_the_command_line:
                    continue
                flag = renamed.get(field.name, "--" + field.name)
                assert flag in options, (command, flag)
    prune = build_parser("prune")._subparsers._group_actions[0].choices["prune"]
    given = prune.parse_args(["--model", "m", "--task", "pos", "--output", "o", "--sparsity", "0.7"])
    assert given.target_sparsity == 0.7 and not hasattr(given, "criterion")  # pruning flags: only when given


def test_every_command_builds_its_training_arguments_on_the_project_defaults(tmp_path):
    """One builder: the table of commands/training.py holds for every command, and each keeps its own recipe."""
    from transformers import TrainingArguments

    from optimum_ro.distillation.cli import DistillConfig
    from optimum_ro.distillation.cli import _training_arguments as distill_args
    from optimum_ro.pruning.cli import PruneTaskConfig
    from optimum_ro.pruning.cli import _training_arguments as prune_args
    from optimum_ro.tasks.finetune import _training_arguments as finetune_args
    from optimum_ro.tasks.finetune_config import FinetuneConfig
    from optimum_ro.tasks.nlu_finetune import NLUFinetuneConfig, nlu_training_arguments
    from optimum_ro.tasks.pretrain import PretrainConfig
    from optimum_ro.tasks.pretrain import _training_arguments as pretrain_args

    out = tmp_path / "run"
    built = {
        "finetune": finetune_args(FinetuneConfig(model="m", task="sentiment", save_steps=7), out, None),
        "finetune-nlu": nlu_training_arguments(NLUFinetuneConfig(model="m", data="d", save_steps=7), out),
        "pretrain": pretrain_args(PretrainConfig(text="t", save_steps=7), out),
        "distill": distill_args(
            DistillConfig(teachers=["t"], task="sentiment", output_dir="o", save_steps=7), out, {}, None, None
        ),
        "prune": TrainingArguments(
            **prune_args(PruneTaskConfig(model="m", task="sentiment", output_dir="o", save_steps=7), out, None)
        ),
    }
    for command, args in built.items():
        assert args.output_dir == str(out / "checkpoints"), command
        assert args.save_steps == 7 and args.save_strategy == "steps", command
        assert args.report_to in ([], ["none"], "none") and args.dataloader_num_workers == 0, command
        assert args.eval_strategy == "no", command
    assert built["distill"].save_total_limit == 2 and built["finetune"].save_total_limit == 1
    assert built["finetune-nlu"].label_names == ["intent_labels", "slot_labels"]
    assert built["finetune"].train_sampling_strategy == "group_by_length"
    assert built["pretrain"].logging_steps == 50 and built["finetune"].logging_steps == 20
    # a Trainer flag from the command line wins over the project's default
    flagged = finetune_args(FinetuneConfig(model="m", task="sentiment"), out, {"logging_steps": 3, "bf16": False})
    assert flagged.logging_steps == 3
