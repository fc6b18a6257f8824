import json

from optimum_ro.cli import main


def test_demo_command_runs_end_to_end_on_a_tiny_model(tiny_bert_dir, fixtures_dir, tmp_path, capsys):
    rc = main(
        [
            "demo",
            "--model",
            str(tiny_bert_dir),
            "--data",
            str(fixtures_dir / "ro" / "sentiment"),
            "--steps",
            "2",
            "--eval-samples",
            "8",
            "--output",
            str(tmp_path / "demo"),
        ]
    )
    assert rc == 0
    summary = json.loads((tmp_path / "demo" / "demo_summary.json").read_text())
    assert summary["task"] == "sentiment" and 0.0 <= summary["teacher_dev"]["accuracy"] <= 1.0
    assert "=== optimum-ro demo ===" in capsys.readouterr().out


def test_cli_lists_every_pipeline_step(capsys):
    assert main([]) == 2
    out = capsys.readouterr().out
    for command in ("fetch-models", "finetune", "pretrain", "distill", "prune", "demo"):
        assert command in out


def test_every_lazy_export_resolves():
    import optimum_ro

    for name in optimum_ro.__all__:
        assert getattr(optimum_ro, name) is not None
