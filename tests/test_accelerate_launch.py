"""`accelerate launch` runs a training command as 2 gloo processes on CPU; rank 0 alone prints and writes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ACCELERATE = Path(sys.executable).parent / "accelerate"


@pytest.mark.slow
def test_finetune_under_accelerate_launch_on_two_cpu_processes(tiny_bert_dir, fixtures_dir, tmp_path):
    if not ACCELERATE.exists():
        pytest.skip("accelerate's launcher is not installed")
    out = tmp_path / "out"
    command = [
        str(ACCELERATE), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no",
        "-m", "optimum_ro.cli", "finetune",
        "--model", str(tiny_bert_dir), "--task", "sentiment", "--data", str(fixtures_dir / "ro" / "sentiment"),
        "--output", str(out), "--max_steps", "4", "--per_device_train_batch_size", "4",
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    run = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads((out / "eval_results.json").read_text())
    assert results["processes"] == 2 and results["train_steps"] == 4
    assert run.stdout.count('"task": "sentiment"') == 1  # the summary comes from rank 0 only
    assert run.stderr.count("optimum_ro.finetune: sentiment") == 1  # and so do optimum-ro's log lines
