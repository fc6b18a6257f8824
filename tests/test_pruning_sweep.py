"""The pruning sweep's report (benchmarks/experiments/pruning_sweep.py): made-up runs in, markdown table and PNG
out (no training here)."""

import json

import pytest


@pytest.fixture(scope="module")
def sweep():
    from experiments import pruning_sweep

    return pruning_sweep


def made_up_runs():
    rows = [
        {
            "task": "sentiment",
            "block_shape": "16x1",
            "criterion": "magnitude",
            "distilled": False,
            "target": 0.0,
            "score": 0.90,
            "metric": "accuracy",
        }
    ]
    for shape, base in (("16x1", 0.89), ("1x4", 0.88)):
        for target, drop in ((0.5, 0.0), (0.8, 0.02), (0.9, 0.05)):
            rows.append(
                {
                    "task": "sentiment",
                    "block_shape": shape,
                    "criterion": "magnitude",
                    "distilled": False,
                    "target": target,
                    "score": round(base - drop, 4),
                    "metric": "accuracy",
                }
            )
    return rows


def ner_run(target, score, steps=400, seed=None, hidden=False):
    """A made-up distilled NER run (16x1, movement); ``seed=None`` is a run written before --seed existed."""
    r = {
        "task": "ner",
        "block_shape": "16x1",
        "criterion": "movement",
        "distilled": True,
        "target": target,
        "score": score,
        "metric": "f1",
        "max_steps": steps,
    }
    if seed is not None:
        r["seed"] = seed
    if hidden:
        r.update(alpha_cos=1.0, hidden_layer_map=["1:2", "2:4"])
    return r


def test_report_table_and_plot(sweep, tmp_path):
    runs = tmp_path / "runs.json"
    runs.write_text(json.dumps(made_up_runs()))
    (tmp_path / "notes.md").write_text("Made-up numbers.\n")
    text = sweep.write_report(runs, tmp_path)
    readme = (tmp_path / "README.md").read_text()
    assert readme.strip() == text.strip()
    assert "| sentiment | accuracy | 16x1 | magnitude | no | 90.0 | 89.0 | 87.0 | 84.0 | -6.0 |" in readme
    assert "| sentiment | accuracy | 1x4 | magnitude | no | 90.0 | 88.0 | 86.0 | 83.0 | -7.0 |" in readme
    assert readme.rstrip().endswith("Made-up numbers.")
    png = tmp_path / "sparsity.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_dense_run_is_shared_and_missing_points_are_dashes(sweep):
    rows = made_up_runs()[:3] + [
        {
            "task": "sentiment",
            "block_shape": "1x4",
            "criterion": "magnitude",
            "distilled": True,
            "target": 0.9,
            "score": 0.85,
            "metric": "accuracy",
        }
    ]
    lines = sweep.lines_of(rows)
    assert lines[("sentiment", "16x1", "magnitude", "no", None)] == {0.0: 0.90, 0.5: 0.89, 0.8: 0.87}
    assert lines[("sentiment", "1x4", "magnitude", "yes", None)] == {0.0: 0.90, 0.9: 0.85}  # the dense start point
    table = sweep.markdown_table(rows)
    assert "| sentiment | accuracy | 1x4 | magnitude | yes | 90.0 | – | – | 85.0 | -5.0 |" in table
    no_dense = sweep.markdown_table(rows[1:])
    assert "| sentiment | accuracy | 1x4 | magnitude | yes | – | – | 85.0 | – |" in no_dense


def test_targets_and_several_runs_files(sweep, tmp_path):
    base = made_up_runs()
    distilled = [
        {
            "task": "sentiment",
            "block_shape": "1x4",
            "criterion": "movement",
            "distilled": True,
            "target": t,
            "score": s,
            "metric": "accuracy",
        }
        for t, s in ((0.8, 0.895), (0.9, 0.87))
    ]
    first, second = tmp_path / "runs-a.json", tmp_path / "runs-b.json"
    first.write_text(json.dumps(base))
    second.write_text(json.dumps(distilled))
    readme = sweep.write_report([first, second], tmp_path)
    assert "| sentiment | accuracy | 1x4 | movement | yes | 90.0 | – | 89.5 | 87.0 | -3.0 |" in readme
    assert "- sentiment, 1x4, movement + teacher, 80%: +0.5 points lost (target ≤ 1: **met**)" in readme
    assert "- sentiment, 1x4, movement + teacher, 90%: +3.0 points lost (target ≤ 2: **missed**)" in readme
    assert f"report --runs {tmp_path}/runs*.json --out {tmp_path}`" in readme  # every runs file of the folder
    assert f"report --runs {first} --out {tmp_path}`" in sweep.write_report([first], tmp_path)
    (tmp_path / "runs-c.json").write_text("[]")  # not in the report: the files are named
    assert f"report --runs {first} {second} --out {tmp_path}`" in sweep.write_report([first, second], tmp_path)


def test_each_schedule_is_compared_with_its_own_dense_run(sweep):
    # the longer schedule trains a better dense model: its pruned runs must be measured against it
    rows = [
        ner_run(0.0, 0.38, steps=400),
        ner_run(0.8, 0.37, steps=400),
        ner_run(0.0, 0.41, steps=800),
        ner_run(0.8, 0.395, steps=800),
    ]
    lines = sweep.lines_of(rows)
    assert lines[("ner", "16x1", "movement", "yes", 400)] == {0.0: 0.38, 0.8: 0.37}
    assert lines[("ner", "16x1", "movement", "yes", 800)] == {0.0: 0.41, 0.8: 0.395}
    table = sweep.markdown_table(rows)
    assert "| task | metric | blocks | criterion | teacher | steps | 0% | 80% | Δ at max |" in table
    assert "| ner | f1 | 16x1 | movement | yes | 400 | 38.0 | 37.0 | -1.0 |" in table
    assert "| ner | f1 | 16x1 | movement | yes | 800 | 41.0 | 39.5 | -1.5 |" in table
    targets = sweep.target_lines(rows)
    assert "- ner, 16x1, movement + teacher, 800 steps, 80%: +1.5 points lost (target ≤ 1: **missed**)" in targets
    assert "- ner, 16x1, movement + teacher, 400 steps, 80%: +1.0 points lost (target ≤ 1: **met**)" in targets
    # one schedule: no steps column
    assert "steps" not in sweep.markdown_table(rows[:2]).splitlines()[0]


def test_runs_of_several_seeds_are_averaged_and_marked(sweep):
    # runs written before --seed existed count as the default seed; a second run of that seed is a new key only
    # with another seed
    assert sweep.run_key(ner_run(0.8, 0.3)) == sweep.run_key(ner_run(0.8, 0.3, seed=sweep.DEFAULT_SEED))
    assert sweep.run_key(ner_run(0.8, 0.3, seed=1)) != sweep.run_key(ner_run(0.8, 0.3))
    rows = [
        ner_run(0.0, 0.38),
        ner_run(0.0, 0.40, seed=1),
        ner_run(0.8, 0.37),
        ner_run(0.8, 0.38, seed=1),
        ner_run(0.9, 0.36),
    ]
    points = sweep.lines_of(rows)[("ner", "16x1", "movement", "yes", 400)]
    assert points == pytest.approx({0.0: 0.39, 0.8: 0.375, 0.9: 0.36})
    table = sweep.markdown_table(rows)
    assert (
        "| ner | f1 | 16x1 | movement | yes | 39.0 (mean of 2 seeds) | 37.5 (mean of 2 seeds) | 36.0 | -3.0 |" in table
    )
    targets = sweep.target_lines(rows)
    assert (
        "- ner, 16x1, movement + teacher, 80% (seeds: 2 pruned, 2 dense): +1.5 points lost (target ≤ 1: **missed**)"
        in targets
    )
    assert any(t.startswith("- ner, 16x1, movement + teacher, 90% (seeds: 1 pruned, 2 dense): +3.0") for t in targets)


def test_hidden_state_distillation_is_its_own_line_with_its_own_dense_run(sweep):
    assert sweep.run_key(ner_run(0.8, 0.3, hidden=True)) != sweep.run_key(ner_run(0.8, 0.3))
    assert sweep.teacher_of(ner_run(0.8, 0.3, hidden=True)) == "yes + hidden"
    assert sweep.teacher_of({**ner_run(0.8, 0.3), "distilled": False}) == "no"
    rows = [
        ner_run(0.0, 0.38),
        ner_run(0.0, 0.40, seed=1),
        ner_run(0.8, 0.37),
        ner_run(0.8, 0.36, seed=1),
        ner_run(0.0, 0.392, hidden=True),
        ner_run(0.8, 0.385, hidden=True),
        ner_run(0.9, 0.37, hidden=True),
    ]
    lines = sweep.lines_of(rows)
    assert lines[("ner", "16x1", "movement", "yes", 400)] == pytest.approx({0.0: 0.39, 0.8: 0.365})
    assert lines[("ner", "16x1", "movement", "yes + hidden", 400)] == pytest.approx(
        {0.0: 0.392, 0.8: 0.385, 0.9: 0.37}
    )
    table = sweep.markdown_table(rows)
    assert (
        "| ner | f1 | 16x1 | movement | yes + hidden | 39.2 | 38.5 | 37.0 | -2.2 |" in table
    )  # its own dense run and seeds
    assert "| ner | f1 | 16x1 | movement | yes | 39.0 (mean of 2 seeds) | 36.5 (mean of 2 seeds) | – | -2.5 |" in table
    targets = sweep.target_lines(rows)
    assert "- ner, 16x1, movement + teacher (hidden states), 80%: +0.7 points lost (target ≤ 1: **met**)" in targets
    assert (
        "- ner, 16x1, movement + teacher, 80% (seeds: 2 pruned, 2 dense): +2.5 points lost (target ≤ 1: **missed**)"
        in targets
    )
    # without a dense run of its own, a hidden-state line is measured against the logits-only one
    assert sweep.lines_of([r for r in rows if not (r["target"] == 0 and r.get("alpha_cos"))])[
        ("ner", "16x1", "movement", "yes + hidden", 400)
    ][0.0] == pytest.approx(0.39)


def test_a_global_sweep_reuses_the_dense_run(sweep, tmp_path, monkeypatch):
    """Global ranking changes only pruned runs: the dense run already in the runs file is not trained again."""
    import optimum_ro.pruning.cli as prune_cli

    calls = []

    def fake_prune_task(cfg, pruning):
        calls.append((pruning.target_sparsity, pruning.scope))
        return {"validation": {"f1": 0.37}, "sparsity": pruning.target_sparsity, "train_seconds": 1.0}

    monkeypatch.setattr(prune_cli, "prune_task", fake_prune_task)
    runs = tmp_path / "runs.json"
    runs.write_text(json.dumps([{**ner_run(0.0, 0.38), "seed": sweep.DEFAULT_SEED}]))
    sweep.main(
        [
            "run",
            "--model",
            str(tmp_path / "student"),
            "--teacher",
            str(tmp_path / "teacher"),
            "--tasks",
            "ner",
            "--sparsities",
            "0",
            "0.8",
            "--block-shapes",
            "16x1",
            "--criteria",
            "movement",
            "--distill",
            "yes",
            "--max-steps",
            "400",
            "--scope",
            "global",
            "--runs",
            str(runs),
            "--work",
            str(tmp_path / "work"),
        ]
    )
    assert calls == [(0.8, "global")]
    rows = json.loads(runs.read_text())
    assert [(r["target"], r["criterion"]) for r in rows] == [(0.0, "movement"), (0.8, "movement global")]
    assert sweep.lines_of(rows)[("ner", "16x1", "movement global", "yes", 400)] == pytest.approx(
        {0.0: 0.38, 0.8: 0.37}
    )


def test_the_example_script_runs_the_report(tmp_path):
    """examples/pruning_sweep.py is a thin script: run as users run it, it writes the same report."""
    import subprocess
    import sys
    from pathlib import Path

    runs = tmp_path / "runs.json"
    runs.write_text(json.dumps(made_up_runs()))
    script = Path(__file__).resolve().parents[1] / "examples" / "pruning_sweep.py"
    done = subprocess.run(
        [sys.executable, str(script), "report", "--runs", str(runs), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    readme = (tmp_path / "README.md").read_text()
    assert readme.startswith("# Task score vs block sparsity") and f"report --runs {runs} --out {tmp_path}`" in readme
