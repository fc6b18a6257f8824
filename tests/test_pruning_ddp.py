"""BlockPruner under 2 gloo processes on CPU (accelerate.debug_launcher): every rank holds the same masks."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from optimum_ro.pruning import STATE_NAME, BlockPruner, BlockPruningConfig


def _worker(out_dir):
    from test_pruning_trainer import synthetic_dataset, tiny_bert, training_args
    from transformers import Trainer

    torch.set_num_threads(1)
    config = BlockPruningConfig(
        block_shape="4x1", target_sparsity=0.5, criterion="movement", start_step=1, end_step=3, pruning_frequency=1
    )
    model, pruner = tiny_bert(), BlockPruner(config)
    args = training_args(out_dir, 4, save_steps=2)
    args.per_device_train_batch_size = 4
    trainer = Trainer(model=model, args=args, train_dataset=synthetic_dataset(), callbacks=[pruner])
    trainer.train()
    masks = torch.cat([m.flatten().float() for m in pruner.masks.values()])
    scores = torch.cat([s.flatten() for s in pruner.scores.values()])
    weights = torch.cat([p.detach().flatten() for p in model.parameters()])
    gathered = trainer.accelerator.gather(torch.cat([masks, scores, weights]).unsqueeze(0))
    if trainer.args.process_index == 0:
        torch.save(
            {
                "world": trainer.args.world_size,
                "wrapped": type(trainer.model_wrapped).__name__,
                "rank_diff": (gathered[0] - gathered[1]).abs().max().item(),
                "sparsity": pruner.block_sparsity(),
                "score_updates": pruner.score_updates,
            },
            os.path.join(out_dir, "result.pt"),
        )


@pytest.mark.slow
def test_two_gloo_processes_hold_identical_masks_and_scores(tmp_path):
    # A fresh interpreter forks the workers: forking this pytest process after earlier tests ran torch's OpenMP
    # thread pool with 2 threads (the demo's latency stage does) deadlocks the children.
    tests = Path(__file__).resolve().parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tests.parent), str(tests)]), "OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        [sys.executable, __file__, str(tmp_path)], env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = torch.load(tmp_path / "result.pt")
    assert result["world"] == 2 and result["wrapped"] == "DistributedDataParallel"
    assert result["rank_diff"] == 0.0  # masks, movement scores (from synchronised gradients) and weights
    assert result["score_updates"] == 4
    assert all(v == pytest.approx(0.5, abs=0.005) for v in result["sparsity"].values())
    assert (tmp_path / "checkpoint-2" / STATE_NAME).is_file() and (tmp_path / "checkpoint-4" / STATE_NAME).is_file()


if __name__ == "__main__":  # run by the test above in a fresh interpreter
    from accelerate import debug_launcher

    debug_launcher(_worker, args=(sys.argv[1],), num_processes=2)
