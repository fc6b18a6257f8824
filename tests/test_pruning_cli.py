"""`optimum-ro prune` end to end on the made-up task fixtures and a tiny random BERT."""

import json

import pytest
from card_checks import load_card_metadata, result_metrics
from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification

from optimum_ro.cli import main
from optimum_ro.pruning import BlockPruningConfig


def zero_block_share(weight, rows, cols):
    zeros = (weight == 0).reshape(weight.shape[0] // rows, rows, weight.shape[1] // cols, cols).sum(dim=(1, 3))
    assert bool(((zeros == 0) | (zeros == rows * cols)).all()), "a block is partly zero"
    return (zeros == rows * cols).float().mean().item()


def test_prune_command_writes_a_pruned_model_folder(tiny_bert_dir, fixtures_dir, tmp_path, capsys):
    out = tmp_path / "pruned"
    rc = main(
        [
            "prune",
            "--model",
            str(tiny_bert_dir),
            "--task",
            "sentiment",
            "--data",
            str(fixtures_dir / "ro" / "sentiment"),
            "--output",
            str(out),
            "--block-shape",
            "16x1",
            "--sparsity",
            "0.5",
            "--criterion",
            "magnitude",
            "--end-step",
            "3",
            "--pruning-frequency",
            "1",
            "--sparsity-override",
            r"intermediate\.dense=0.75",
            "--max-steps",
            "5",
            "--batch-size",
            "8",
            "--learning-rate",
            "1e-3",
        ]
    )
    assert rc == 0
    stdout = capsys.readouterr().out  # Trainer prints its own summary first
    printed = json.loads(stdout[stdout.rindex('{\n  "task"') :])
    assert printed["task"] == "sentiment" and 0.5 < printed["sparsity"] < 0.75
    assert 0.0 <= printed["validation"]["accuracy"] <= 1.0
    results = json.loads((out / "eval_results.json").read_text())
    assert results["train_steps"] == 5 and results["pruning"]["block_shape"] == [16, 1]
    assert BlockPruningConfig.from_pretrained(out).sparsity_overrides == {r"intermediate\.dense": 0.75}
    meta = load_card_metadata(out, language="ro", license="cc-by-nc-sa-4.0", base_model=tiny_bert_dir.name)
    assert {"pruning", "block-sparse"} <= set(meta["tags"]) and meta["pipeline_tag"] == "text-classification"
    assert result_metrics(out)[("validation", "accuracy")] == pytest.approx(printed["validation"]["accuracy"])
    model = AutoModelForSequenceClassification.from_pretrained(out)
    record = model.config.sparsity
    assert record["block_shape"] == [16, 1] and len(record["layers"]) == 12
    modules = dict(model.named_modules())
    for name, value in record["layers"].items():
        expected = 0.75 if "intermediate" in name else 0.5
        assert value == pytest.approx(expected, abs=0.005)
        assert zero_block_share(modules[name].weight, 16, 1) == pytest.approx(expected, abs=0.005), name


def test_prune_command_with_teacher_distils_a_token_task(tiny_bert_dir, fixtures_dir, tmp_path):
    pytest.importorskip("optimum_ro.distillation")
    out = tmp_path / "pruned-pos"
    rc = main(
        [
            "prune",
            "--model",
            str(tiny_bert_dir),
            "--task",
            "pos",
            "--data",
            str(fixtures_dir / "ro" / "pos"),
            "--output",
            str(out),
            "--teacher",
            str(tiny_bert_dir),
            "--block-shape",
            "1x4",
            "--sparsity",
            "0.6",
            "--criterion",
            "movement",
            "--start-step",
            "1",
            "--end-step",
            "3",
            "--pruning-frequency",
            "1",
            "--max-steps",
            "4",
            "--batch-size",
            "8",
            "--freeze-embeddings",
            "yes",
        ]
    )
    assert rc == 0
    results = json.loads((out / "eval_results.json").read_text())
    assert results["teacher"] == str(tiny_bert_dir) and results["frozen_word_embeddings"] is True
    assert results["sparsity"] == pytest.approx(0.6, abs=0.005)
    assert 0.0 <= results["validation"]["accuracy"] <= 1.0
    model = AutoModelForTokenClassification.from_pretrained(out)
    assert model.config.sparsity["criterion"] == "movement"
    w = model.bert.encoder.layer[1].output.dense.weight
    assert zero_block_share(w, 1, 4) == pytest.approx(0.6, abs=0.005)


def test_prune_command_refuses_bad_flags(tiny_bert_dir, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(
            [
                "prune",
                "--model",
                str(tiny_bert_dir),
                "--task",
                "sentiment",
                "--output",
                str(tmp_path),
                "--sparsity-override",
                "no-equals-sign",
            ]
        )
    rc = main(
        [
            "prune",
            "--model",
            str(tiny_bert_dir),
            "--task",
            "sentiment",
            "--output",
            str(tmp_path),
            "--block-shape",
            "16by1",
        ]
    )
    assert rc == 2 and "Invalid block_shape '16by1'" in capsys.readouterr().err


def test_prune_command_one_shot_without_training(tiny_bert_dir, fixtures_dir, tmp_path, capsys):
    out = tmp_path / "oneshot"
    args = [
        "prune",
        "--model",
        str(tiny_bert_dir),
        "--task",
        "dialect",
        "--data",
        str(fixtures_dir / "ro" / "dialect"),
        "--output",
        str(out),
        "--block-shape",
        "1x4",
        "--sparsity",
        "0.9",
        "--max-steps",
        "0",
    ]
    assert main(args + ["--criterion", "movement"]) == 2
    assert "--max-steps 0 prunes one-shot without gradients" in capsys.readouterr().err
    assert main(args) == 0
    results = json.loads((out / "eval_results.json").read_text())
    assert results["train_steps"] == 0 and not list(out.glob("checkpoints/checkpoint-*"))
    assert results["sparsity"] == pytest.approx(0.9, abs=0.005) and "macro_f1" in results["validation"]


def test_prune_command_can_distil_hidden_states_too(tiny_bert_dir, fixtures_dir, tmp_path, monkeypatch, capsys):
    pytest.importorskip("optimum_ro.distillation")
    from optimum_ro.distillation import losses

    calls = []
    real = losses.cosine_hidden_loss
    monkeypatch.setattr(
        losses, "cosine_hidden_loss", lambda s, t, **kw: calls.append((s.shape, t.shape)) or real(s, t, **kw)
    )
    args = [
        "prune",
        "--model",
        str(tiny_bert_dir),
        "--task",
        "sentiment",
        "--data",
        str(fixtures_dir / "ro" / "sentiment"),
        "--block-shape",
        "16x1",
        "--sparsity",
        "0.5",
        "--criterion",
        "movement",
        "--start-step",
        "1",
        "--end-step",
        "2",
        "--pruning-frequency",
        "1",
        "--max-steps",
        "3",
        "--batch-size",
        "8",
        "--alpha-cos",
        "1.0",
        "--hidden-layer-map",
        "1:1",
        "2:2",
    ]
    assert main(args + ["--output", str(tmp_path / "no-teacher")]) == 2
    assert "alpha_cos > 0 distils hidden states from a teacher" in capsys.readouterr().err
    assert main(args + ["--output", str(tmp_path / "hidden"), "--teacher", str(tiny_bert_dir)]) == 0
    assert len(calls) == 3 * 2  # every step, both layer pairs
    results = json.loads((tmp_path / "hidden" / "eval_results.json").read_text())
    assert results["run"]["alpha_cos"] == 1.0 and results["run"]["hidden_layer_map"] == ["1:1", "2:2"]
    assert results["sparsity"] == pytest.approx(0.5, abs=0.005)
