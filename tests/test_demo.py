import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from optimum_ro.cli import main


@pytest.fixture(scope="module")
def demo_run(tiny_bert_dir, fixtures_dir, tmp_path_factory):
    """The whole demo on a tiny model and the fixture data: every stage, at a few steps each."""
    out = tmp_path_factory.mktemp("demo") / "run"
    argv = ["demo", "--teacher", str(tiny_bert_dir), "--data", str(fixtures_dir / "ro" / "sentiment"),
            "--output", str(out), "--teacher-steps", "2", "--distill-steps", "2", "--prune-steps", "4",
            "--student-layers", "1", "--eval-samples", "8", "--latency-rounds", "1"]  # fmt: skip
    assert main(argv) == 0
    return out, argv


def test_demo_writes_report_chart_and_a_card_for_every_model(demo_run):
    out, _ = demo_run
    report = json.loads((out / "report.json").read_text())
    names = [r["model"] for r in report["rows"]]
    assert names == ["teacher", "student", "sparse-float32", "sparse-int8"]
    for row in report["rows"]:
        assert 0.0 <= row["dev_score"] <= 1.0
        assert row["latency_b1_ms"] > 0 and row["latency_b32_ms"] > 0
    student, sparse = report["rows"][1], report["rows"][2]
    assert sparse["nonzero_parameters"] < student["nonzero_parameters"]  # pruned blocks are gone
    assert report["stages"]["pruned"]["sparsity"] > 0.5
    assert "| sparse int8 |" in (out / "report.md").read_text()
    assert (out / "chart.png").read_bytes()[:4] == b"\x89PNG"


def test_published_model_card_has_hub_metadata(demo_run):
    from huggingface_hub import ModelCard

    out, _ = demo_run
    card = ModelCard.load(out / "model" / "README.md")
    assert card.data.language == "ro"
    assert card.data.license == "cc-by-nc-sa-4.0"  # LaRoSeDa is CC BY-NC-SA: the model must say so
    assert card.data.datasets == ["laroseda"]
    assert "/" not in card.data.base_model or not card.data.base_model.startswith("/")  # never a machine path
    assert card.data.eval_results[0].dataset_split == "validation"
    assert "Non-commercial use only" in card.text


def test_published_model_loads_in_a_fresh_process_with_the_scored_predictions(demo_run):
    """What the report scored is what a user gets: model/ loaded in a new interpreter, trust_remote_code=True."""
    out, _ = demo_run
    check = json.loads((out / "stages" / "fresh-process.json").read_text())["result"]
    assert check["same_predictions"] == 1.0 and check["max_abs_diff"] <= 1e-3
    assert check["class"].startswith("transformers_modules.")  # the folder's own code, not an in-process class
    code = (
        "import sys, transformers, torch; "
        f"m = transformers.AutoModelForSequenceClassification.from_pretrained({str(out / 'model')!r}, "
        "trust_remote_code=True); t = transformers.AutoTokenizer.from_pretrained("
        f"{str(out / 'model')!r}, trust_remote_code=True); "
        "print(m(**t(['un text'], return_tensors='pt')).logits.shape)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "torch.Size([1, 2])" in proc.stdout
    expected = np.load(out / "sparse-int8.npz")["logits"]
    assert expected.shape == (8, 2)


def test_demo_rerun_reuses_every_finished_stage(demo_run, capsys):
    out, argv = demo_run
    before = (out / "stages" / "student.json").read_text()
    assert main(argv) == 0
    printed = capsys.readouterr().out
    for stage in ("teacher", "student", "pruned", "sparse-float32", "sparse-int8", "evaluate", "latency"):
        assert f"[demo] {stage}: reused" in printed
    assert (out / "stages" / "student.json").read_text() == before


def test_demo_changed_setting_reruns_that_stage_and_later_ones(demo_run, capsys):
    out, argv = demo_run
    assert main([*argv, "--sparsity", "0.5"]) == 0
    printed = capsys.readouterr().out
    assert "[demo] student: reused" in printed
    assert "[demo] pruned: started" in printed and "[demo] evaluate: started" in printed


def test_demo_refuses_bad_settings_with_one_line(tmp_path, capsys):
    assert main(["demo", "--task", "parsing", "--output", str(tmp_path)]) == 2
    assert "unknown task 'parsing'" in capsys.readouterr().err
    bad = tmp_path / "cfg.json"
    bad.write_text(json.dumps({"sparsty": 0.9}))
    assert main(["demo", "--config", str(bad), "--output", str(tmp_path)]) == 2
    assert "unknown field(s) ['sparsty']" in capsys.readouterr().err


def test_demo_config_file_and_budget_precedence(tmp_path):
    from optimum_ro.demo import build_config

    path = tmp_path / "demo.yaml"
    path.write_text("task: dialect\nprune_steps: 7\n")
    cfg = build_config("full", str(path), prune_steps=9)
    assert cfg.task == "dialect" and cfg.prune_steps == 9 and cfg.max_length == 128  # flag > file > budget


def test_cli_lists_every_pipeline_step(capsys):
    assert main([]) == 2
    out = capsys.readouterr().out
    for command in ("fetch-models", "finetune", "pretrain", "distill", "prune", "demo"):
        assert command in out


def test_every_lazy_export_resolves():
    import optimum_ro

    for name in optimum_ro.__all__:
        assert getattr(optimum_ro, name) is not None


def test_published_model_runs_without_optimum_ro_on_dense_fallback(demo_run):
    """A user without optimum-ro gets the published folder's predictions from dense weights rebuilt from blocks."""
    out, _ = demo_run
    script = Path(optimum_ro_demo_file("fresh_load.py"))
    code = (
        "import sys, runpy; sys.modules['optimum_ro'] = None; "
        f"sys.argv = ['fresh_load.py', {str(out / 'fresh_request.json')!r}, {str(out / 'fallback.npy')!r}]; "
        f"runpy.run_path({str(script)!r}, run_name='__main__')"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["kernels"] is False
    expected, got = np.load(out / "sparse-int8.npz")["logits"], np.load(out / "fallback.npy")
    # int8 weights dequantised times unquantised activations there, vs the kernels' quantised activations
    assert np.abs(got - expected).max() < 0.05 * np.abs(expected).max() + 1e-3


def optimum_ro_demo_file(name: str) -> str:
    import optimum_ro.demo

    return str(Path(optimum_ro.demo.__file__).with_name(name))


@pytest.mark.parametrize("task", ["ner", "sts"])
def test_demo_runs_tagging_and_regression_tasks(task, tiny_bert_dir, fixtures_dir, tmp_path):
    """Per-word predictions (NER: first sub-token of each word) and scores (STS) go through every stage too."""
    out = tmp_path / task
    argv = ["demo", "--task", task, "--teacher", str(tiny_bert_dir), "--data", str(fixtures_dir / "ro" / task),
            "--output", str(out), "--teacher-steps", "1", "--distill-steps", "1", "--prune-steps", "2",
            "--student-layers", "1", "--eval-samples", "6", "--latency-rounds", "1"]  # fmt: skip
    assert main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    fresh = report["fresh_process"]
    assert fresh["same_predictions"] == 1.0 and fresh["max_abs_diff"] <= 1e-3
    units = np.load(out / "teacher.npz")["row_lengths"]
    if task == "ner":  # one unit per labelled word of each of the 6 rows
        assert len(units) == 6 and units.sum() == fresh["units"] > 6
        assert fresh["class"].endswith("SparseBertForTokenClassification")
    else:
        assert fresh["units"] == 6 and "regression_loyalty" in report["evaluation"]["models"]["student"]["loyalty"]


def test_demo_uses_a_fine_tuned_teacher_as_it_is_with_zero_teacher_steps(demo_run, tiny_bert_dir, tmp_path, capsys):
    out, argv = demo_run
    fine_tuned = out / "teacher"  # the first run's fine-tuned teacher
    argv = [*argv[: argv.index("--teacher")], "--teacher", str(fine_tuned), *argv[argv.index("--teacher") + 2 :]]
    argv[argv.index("--output") + 1] = str(tmp_path / "reuse")
    argv[argv.index("--teacher-steps") + 1] = "0"
    assert main(argv) == 0
    report = json.loads((tmp_path / "reuse" / "report.json").read_text())
    assert report["stages"]["teacher"]["fine_tuned_here"] is False
    assert report["evaluation"]["models"]["teacher"]["folder"] == str(fine_tuned)
    argv[argv.index("--teacher") + 1] = str(tiny_bert_dir)  # an MLM model: no sentiment head to use as it is
    assert main(argv) == 2
    assert "not a sentiment model" in capsys.readouterr().err
