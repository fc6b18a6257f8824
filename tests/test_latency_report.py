"""benchmarks/experiments/latency.py on two tiny classifiers, and the student report's latency table read from
its JSON."""

import json
import sys

import pytest
from experiments import latency, student_report


def test_latency_json_feeds_the_report_with_paired_ratios(tmp_path, tiny_bert_dir, monkeypatch):
    from optimum_ro.tasks import build_model

    folders = {}
    for name, layers in (("teachers/e5-small/sentiment", 2), ("students/a/sentiment", 1)):
        model = build_model(str(tiny_bert_dir), "sentiment")
        if layers == 1:
            model.bert.encoder.layer = model.bert.encoder.layer[:1]
            model.config.num_hidden_layers = 1
        folders[name] = tmp_path / name
        model.save_pretrained(folders[name])
    out = tmp_path / "latency.json"
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "latency.py",
            *map(str, folders.values()),
            "--threads",
            "1",
            "--seq",
            "8",
            "--repeats",
            "3",
            "--out",
            str(out),
        ],
    )
    latency.main()
    models = json.loads(out.read_text())["models"]
    teacher, student = (models[str(f)] for f in folders.values())
    assert student["parameters"] < teacher["parameters"]
    for b in (1, 32):
        t, s = teacher[f"batch{b}_times_ms"], student[f"batch{b}_times_ms"]
        assert len(t) == len(s) == 3 and teacher[f"batch{b}_median_ms"] == pytest.approx(sorted(t)[1], abs=0.01)
        ratios = sorted(x / y for x, y in zip(t, s))
        assert student[f"batch{b}_paired_speedup"]["median"] == pytest.approx(
            ratios[1], rel=0.02
        )  # times kept to 0.01 ms

    # the report: speed-up = ratio of the medians; paired = median (min-max) of the per-round ratios
    report = student_report
    fake = {
        "models": {
            "runs/teachers/e5-small/sentiment": {f"batch{b}_median_ms": 10.0 * b for b in (1, 32)}
            | {f"batch{b}_times_ms": [10.0 * b, 12.0 * b, 8.0 * b] for b in (1, 32)},
            "runs/students/a/sentiment": {f"batch{b}_median_ms": 5.0 * b for b in (1, 32)}
            | {f"batch{b}_times_ms": [4.0 * b, 8.0 * b, 5.0 * b] for b in (1, 32)},
        }
    }
    path = tmp_path / "fake.json"
    path.write_text(json.dumps(fake))
    rows = report.latency_table(path)
    assert rows["a"]["speedup"] == {1: 2.0, 32: 2.0}
    # rounds: 10/4 = 2.5, 12/8 = 1.5, 8/5 = 1.6
    assert rows["a"]["paired_speedup"][1] == {"median": 1.6, "min": 1.5, "max": 2.5, "rounds": 3}
    md = report.markdown({"a": {"general": None, "tasks": {}}}, rows, report.targets({"a": {"tasks": {}}}, rows))
    assert "| A: e5-small | 10.0 | 5.0 | 2.0x | 320.0 | 160.0 | 2.0x | 1.6x (1.5–2.5) | 1.6x (1.5–2.5) |" in md
    assert "| speed-up b32 | paired b1 | paired b32 |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n" in md


def test_report_of_a_partial_run_folder(tmp_path):
    """A runs folder other than runs/students (e.g. students re-made with another depth) finds its own students in a
    latency run that timed several folders, and a student with fewer than five tasks is not judged on the score."""
    report = student_report
    times = lambda ms: {f"batch{b}_median_ms": ms * b for b in (1, 32)}  # noqa: E731
    path = tmp_path / "latency.json"
    path.write_text(
        json.dumps(
            {
                "models": {
                    "runs/teachers/e5-small/sentiment": times(12.0),
                    "runs/students-6l/a/sentiment": times(6.0),
                    "runs/students-5l/a/sentiment": times(5.0),
                }
            }
        )
    )
    assert report.latency_table(path, "students-5l")["a"]["speedup"] == {1: 2.4, 32: 2.4}
    assert report.latency_table(path, "students-6l")["a"]["speedup"] == {1: 2.0, 32: 2.0}
    assert report.latency_table(path) == {}  # no runs/students/ model in this run

    def task(student, teacher):
        return {
            "validation": {"student": student, "teacher": teacher},
            "student_parameters": 20,
            "teacher_parameters": [100],
        }

    two = {"a": {"general": None, "tasks": {"sentiment": task(0.97, 0.975), "dialect": task(0.78, 0.779)}}}
    tg = report.targets(two, {})
    assert tg["a"]["score_target_met"] is None and tg["a"]["param_reduction"] == pytest.approx(0.8)
    assert "**not judged: 2 of 5 tasks run**" in report.markdown({"a": {"general": None, "tasks": {}}}, {}, tg)
    five = {"a": {"general": None, "tasks": {t: task(0.97, 1.0) for t in report.TASKS}}}
    assert report.targets(five, {})["a"]["score_target_met"] is False  # 97% < 98%
    five["a"]["tasks"]["pos"] = task(1.1, 1.0)  # capped at the teacher: 0.97 * 4 + 1.0 = 97.6%
    assert report.targets(five, {})["a"]["score_target_met"] is False
    five["a"]["tasks"] = {t: task(0.99, 1.0) for t in report.TASKS}
    assert report.targets(five, {})["a"]["score_target_met"] is True

    # a student B cut from another in-house teacher: its teacher's folder comes from its runs, in the latency
    # table and in the row labels
    path.write_text(
        json.dumps(
            {
                "models": {
                    "runs/teachers/ro-bert-base/sentiment": times(9.0),
                    "runs/teachers/ro-bert-8l/sentiment": times(12.0),
                    "runs/students-b8/b/sentiment": times(4.0),
                }
            }
        )
    )
    none = dict.fromkeys(
        ["student", "teacher", "label_loyalty", "probability_loyalty", "regression_loyalty", "student_teacher_pearson"]
    )
    row = task(0.9, 0.95) | {
        "teachers": ["runs/teachers/ro-bert-8l/sentiment"],
        "metric": "accuracy",
        "test": none,
        "teacher_weights_mb": [30.0],
        "student_weights_mb": 12.0,
    }
    row["validation"] = none | row["validation"]
    b8 = {"b": {"general": None, "tasks": {"sentiment": row}}}
    folders = report.teacher_folders(b8)
    assert folders == {"a": "teachers/e5-small", "b": "teachers/ro-bert-8l"}
    rows = report.latency_table(path, "students-b8", folders)
    assert rows["b"]["speedup"] == {1: 3.0, 32: 3.0}
    assert report.latency_table(path, "students-b8")["b"]["speedup"] == {1: 2.25, 32: 2.25}  # the default teacher B
    md = report.markdown(b8, rows, report.targets(b8, rows))
    assert "| B: ro-bert-8l | 12.0 | 4.0 | 3.0x |" in md and "| B: ro-bert-8l | sentiment |" in md
