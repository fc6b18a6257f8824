"""The DistillationTrainer under 2 gloo processes on CPU (accelerate.debug_launcher): the update of one big batch."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from optimum_ro.distillation import DistillationTrainer, DistillationTrainingArguments, make_student
from optimum_ro.testing import TOY_WORDS, tiny_bert, tiny_wordpiece_tokenizer, toy_token_dataset

REPO = Path(__file__).resolve().parents[1]


def _train(output_dir, per_device_batch):
    tok = tiny_wordpiece_tokenizer(TOY_WORDS)
    teacher = tiny_bert(
        "BertForTokenClassification",
        vocab_size=len(tok),
        num_labels=3,
        seed=1,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    student = make_student(teacher, num_layers=2)
    torch.manual_seed(5)
    torch.nn.init.normal_(student.classifier.weight, std=0.5)
    ds = toy_token_dataset(tok, n=4, seed=3).remove_columns(["tokens", "tags"])
    args = DistillationTrainingArguments(
        output_dir=output_dir,
        per_device_train_batch_size=per_device_batch,
        max_steps=1,
        optim="sgd",
        learning_rate=0.5,
        lr_scheduler_type="constant",
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        seed=0,
        disable_tqdm=True,
        max_grad_norm=0.0,  # no clipping: it would hide a wrongly scaled loss
        alpha_ce=0.7,
        alpha_task=0.3,
    )
    trainer = DistillationTrainer(model=student, teacher=teacher, args=args, train_dataset=ds, processing_class=tok)
    trainer.train()
    return trainer


def _ddp_worker(result_path):
    trainer = _train(os.path.dirname(result_path), per_device_batch=2)
    world = trainer.args.world_size
    state = {k: v.detach().clone() for k, v in trainer.student.state_dict().items()}
    # every rank must hold the same weights after the synchronised step
    flat = torch.cat([v.reshape(-1).float() for v in state.values()])
    gathered = trainer.accelerator.gather(flat.unsqueeze(0))
    trainer.args.per_device_eval_batch_size = 1  # 4 batches: each rank scores its own 2 rows, which are gathered
    loyalty = trainer.loyalty(trainer.train_dataset, task="pos")
    if trainer.args.process_index == 0:
        torch.save(
            {
                "world": world,
                "state": state,
                "rank_diff": (gathered[0] - gathered[-1]).abs().max().item(),
                "loyalty": loyalty,
                "teacher_wrapped": type(trainer.teachers[0]).__name__,
                "model_wrapped": type(trainer.model_wrapped).__name__,
            },
            result_path,
        )


@pytest.mark.slow
def test_two_gloo_processes_match_one_big_batch(tmp_path):
    # A fresh interpreter forks the workers: forking this pytest process after earlier tests started torch's
    # OpenMP thread pool can deadlock the children.
    result_path = str(tmp_path / "ddp.pt")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
    }
    proc = subprocess.run(
        [sys.executable, __file__, result_path], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = torch.load(result_path)
    assert result["world"] == 2
    assert result["model_wrapped"] == "DistributedDataParallel"
    assert result["teacher_wrapped"] == "BertForTokenClassification"  # never wrapped in DDP
    assert result["rank_diff"] == 0.0
    single = _train(str(tmp_path / "single"), per_device_batch=4)
    reference = single.student.state_dict()
    diff = max((result["state"][k] - reference[k]).abs().max().item() for k in reference)
    assert diff < 1e-5, f"2 processes x batch 2 differ from 1 process x batch 4 by {diff}"
    # loyalty and the teacher's task score under DDP: the gathered shards give the single-process figures
    expected = single.loyalty(single.train_dataset, task="pos")
    assert result["loyalty"].keys() == expected.keys()
    for key, value in expected.items():
        assert result["loyalty"][key] == pytest.approx(value, abs=1e-5), key


if __name__ == "__main__":  # run by the test above in a fresh interpreter
    from accelerate import debug_launcher

    debug_launcher(_ddp_worker, args=(sys.argv[1],), num_processes=2)
