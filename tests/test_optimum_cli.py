"""``optimum-cli ro <command>`` through Optimum's registration, and BlockPruningConfig's Hub load/push."""

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from transformers import BertConfig, BertForSequenceClassification

from optimum_ro.cli import COMMANDS
from optimum_ro.pruning import BlockPruningConfig

OPTIMUM_CLI = str(Path(sys.executable).parent / "optimum-cli")


def optimum_cli(*args, cwd):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([OPTIMUM_CLI, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def test_optimum_cli_lists_every_optimum_ro_command(tmp_path):
    top = optimum_cli("--help", cwd=tmp_path)
    assert top.returncode == 0 and " ro " in top.stdout
    ro = optimum_cli("ro", "--help", cwd=tmp_path)
    assert ro.returncode == 0, ro.stderr
    for name in COMMANDS:
        assert f"    {name} " in ro.stdout, name
    prune = optimum_cli("ro", "prune", "--help", cwd=tmp_path)  # the same flags as `optimum-ro prune`
    assert prune.returncode == 0 and "--block-shape" in prune.stdout and "usage: optimum-cli ro prune" in prune.stdout


def test_a_command_runs_through_optimum_cli(tmp_path):
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=64, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, num_labels=2
    )
    model = BertForSequenceClassification(config)
    for module in model.bert.encoder.modules():
        if isinstance(module, torch.nn.Linear):  # every other 16-row block zero: 50% sparse in 16x1 blocks
            module.weight.data.view(-1, 16, module.weight.shape[1])[::2] = 0
    model.save_pretrained(tmp_path / "pruned")
    run = optimum_cli(
        "ro", "sparsify", "--model", str(tmp_path / "pruned"), "--output", str(tmp_path / "sparse"), cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr[-2000:]
    summary = json.loads((tmp_path / "sparse" / "sparsify_results.json").read_text())
    assert summary["sparse_layers"] == 6 and summary["max_abs_diff_vs_dense"] < 1e-5
    bad = optimum_cli("ro", "sparsify", "--model", str(tmp_path / "no" / "such"), "--output", "x", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].startswith("optimum-cli ro sparsify: error:")


def test_pruning_config_round_trips_through_a_folder_and_the_hub(tmp_path, monkeypatch):
    config = BlockPruningConfig(block_shape="1x4", target_sparsity=0.9, sparsity_overrides={"attention": 0.7})
    config.save_pretrained(tmp_path / "local")
    assert BlockPruningConfig.from_pretrained(tmp_path / "local") == config

    uploads = {}

    class FakeApi:  # records what would be uploaded instead of reaching the Hub
        def create_repo(self, repo_id, **kwargs):
            return type("Repo", (), {"repo_id": repo_id})()

        def create_commit(self, repo_id, operations, **kwargs):
            for op in operations:
                uploads[(repo_id, op.path_in_repo)] = Path(op.path_or_fileobj).read_bytes()

    import transformers.utils

    monkeypatch.setattr("transformers.utils.hub.hf_api", lambda: FakeApi())
    monkeypatch.setattr("transformers.utils.hub.create_and_tag_model_card", lambda *a, **k: _NoCard())
    config.push_to_hub("user/pruned")
    config.save_pretrained(tmp_path / "pushed", push_to_hub=True, repo_id="user/pruned-2")
    assert json.loads(uploads[("user/pruned", "pruning_config.json")]) == config.to_dict()
    assert ("user/pruned-2", "pruning_config.json") in uploads

    def fake_cached_file(repo_id, filename, **kwargs):  # the Hub download, served from what was uploaded
        path = tmp_path / "cache" / repo_id / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(uploads[(repo_id, filename)])
        return str(path)

    monkeypatch.setattr(transformers.utils, "cached_file", fake_cached_file)
    assert BlockPruningConfig.from_pretrained("user/pruned") == config


class _NoCard:
    def save(self, path):
        Path(path).write_text("---\nlicense: apache-2.0\n---\n")
