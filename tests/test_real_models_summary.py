"""benchmarks/experiments/real_models_summary.py on a made-up manifest: two tiny model folders built here, made-up
results JSONs in the three formats the runs write, and a sparse student whose run folder is absent."""

import json

import pytest
from experiments import real_models_summary as summary

from optimum_ro.testing import prune_random_blocks, tiny_bert, tiny_wordpiece_tokenizer

FIELDS = {
    "model", "role", "teacher", "task", "split", "metric", "score", "retention", "params", "disk_mb",
    "latency_b1_ms", "latency_b32_ms", "block_shape", "sparsity", "dtype", "hardware", "measured", "load_1min",
    "latency_b1_ms_median", "latency_b32_ms_median", "latency_rounds", "latency_method", "torch_threads",
    "load_1min_start", "load_1min_end", "model_class", "sparse_layers",
}  # fmt: skip
KEPT = {"params": 1000, "nonzero_params": 200, "nonzero_params_no_embeddings": 150, "disk_mb": 0.5,
        "latency_b1_ms": 0.25, "latency_b32_ms": 3.0, "hardware": "made-up CPU, 2 torch threads",
        "load_1min": 0.5}  # fmt: skip


def save_model(folder, layers):
    tok = tiny_wordpiece_tokenizer(["ana", "are", "mere"])
    model = tiny_bert("BertForTokenClassification", vocab_size=len(tok), num_layers=layers, num_labels=3,
                      max_position_embeddings=128, pad_token_id=tok.pad_token_id)  # fmt: skip
    model.save_pretrained(folder)
    tok.save_pretrained(folder)


def write_json(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))
    return str(path)


@pytest.fixture(scope="module")
def made_up(tmp_path_factory):
    """A teacher (ner, pos), a student (ner; its pos results absent), a sparse student (ner; no run folder), and
    the previous summary.json that holds the sparse student's sizes."""
    tmp_path = tmp_path_factory.mktemp("summary")
    root, res, out = tmp_path / "checkout", tmp_path / "res", tmp_path / "out"
    save_model(root / "runs" / "teacher-ner", layers=2)
    save_model(root / "runs" / "student-ner", layers=1)
    entry = lambda model, role, teacher, task, results, run, **kw: dict(  # noqa: E731
        model=model, role=role, teacher=teacher, task=task, results=results, run=run, command="made up", **kw
    )
    models = [
        entry(
            "T",
            "teacher",
            None,
            "ner",
            write_json(res / "t-ner.json", {"metric": "f1", "validation": 0.8, "test": 0.75}),
            "runs/teacher-ner",
        ),  # fmt: skip
        entry(
            "T",
            "teacher",
            None,
            "pos",
            write_json(res / "t-pos.json", {"metric": "accuracy", "validation": 0.97}),
            "runs/teacher-pos",
        ),  # fmt: skip
        entry(
            "S",
            "student",
            "T",
            "ner",
            write_json(res / "s-ner.json", {"validation": {"validation_f1": 0.78}, "test": {"test_f1": 0.72}}),
            "runs/student-ner",
        ),  # fmt: skip
        entry("S", "student", "T", "pos", str(res / "absent.json"), "runs/student-pos"),
        entry(
            "P",
            "sparse_student",
            "S",
            "ner",
            write_json(res / "p-ner.json", {"validation": {"f1": 0.77}, "test": {"f1": 0.71}}),
            "runs/gone",
            dtype="int8",
            block_shape="1x4",
            sparsity=0.9,
        ),  # fmt: skip
    ]
    manifest = write_json(tmp_path / "real-models.json", {"models": models})
    old = {"model": "P", "task": "ner", "split": "validation", **KEPT}
    write_json(out / "summary.json", {"rows": [old]})
    argv = ["--manifest", manifest, "--out", str(out), "--root", str(root), "--threads", "1", "--rounds", "1"]
    assert summary.main(argv) == 0
    return json.loads((out / "summary.json").read_text())["rows"], (out / "README.md").read_text()


def row(rows, model, task, split):
    (hit,) = [r for r in rows if (r["model"], r["task"], r["split"]) == (model, task, split)]
    return hit


def test_one_row_per_model_task_split_with_every_field(made_up):
    rows, _ = made_up
    keys = {(r["model"], r["task"], r["split"]) for r in rows}
    assert keys == {("T", "ner", "validation"), ("T", "ner", "test"), ("T", "pos", "validation"),
                    ("S", "ner", "validation"), ("S", "ner", "test"), ("P", "ner", "validation"),
                    ("P", "ner", "test")}  # fmt: skip
    for r in rows:
        assert FIELDS <= set(r), FIELDS - set(r)


def test_scores_come_from_each_results_format_and_retention_from_the_teacher_row(made_up):
    rows, _ = made_up
    assert row(rows, "T", "ner", "test")["retention"] is None  # teachers: null
    assert row(rows, "S", "ner", "validation")["score"] == 0.78  # distill_results.json: validation_<metric>
    assert row(rows, "S", "ner", "test")["retention"] == round(0.72 / 0.75, 4)  # same split of its teacher
    assert row(rows, "P", "ner", "test")["score"] == 0.71  # eval_results.json: <metric>
    assert row(rows, "P", "ner", "test")["retention"] == round(0.71 / 0.72, 4)  # against its own teacher S


def test_measured_from_the_run_folder_when_present(made_up):
    rows, _ = made_up
    teacher, student = row(rows, "T", "ner", "test"), row(rows, "S", "ner", "test")
    assert teacher["measured"] and student["measured"]
    assert student["params"] < teacher["params"]  # one layer fewer
    assert student["nonzero_params_no_embeddings"] < student["nonzero_params"] <= student["params"]
    assert teacher["disk_mb"] > 0 and teacher["latency_b1_ms"] > 0 and teacher["latency_b32_ms"] > 0
    assert "1 torch threads" in teacher["hardware"]


def test_a_missing_run_folder_keeps_the_committed_numbers(made_up):
    rows, _ = made_up
    for split in ("validation", "test"):
        sparse = row(rows, "P", "ner", split)
        assert sparse["measured"] is False
        assert {k: sparse[k] for k in KEPT} == KEPT
        assert (sparse["dtype"], sparse["block_shape"], sparse["sparsity"]) == ("int8", "1x4", 0.9)
    assert row(rows, "T", "pos", "validation")["params"] is None  # no run folder and no previous row


def test_markdown_has_a_cell_per_task_and_model(made_up):
    _, readme = made_up
    lines = readme.splitlines()
    head = lines.index("| task (metric) | T | S | P |")
    table = lines[head + 2 : head + 4]
    assert [line.count("|") for line in table] == [5, 5]  # task + 3 models
    assert table[0] == "| UPOS (accuracy) | 97.00 / — | not run | not run |"
    assert table[1] == "| NER (f1) | 80.00 / 75.00 | 78.00 (97.5%) / 72.00 (96.0%) | 77.00 (98.7%) / 71.00 (98.6%) |"


def test_targets_are_judged_from_the_numbers(made_up):
    _, readme = made_up
    assert "| T on NER: test ≥ 80.0 | 75.00 | missed |" in readme
    assert "| T on UPOS: test ≥ 97.0 | 97.00 (dev; test held back) | met |" in readme
    assert "| S: ≥ 98% of its teacher, averaged over tasks | 96.0% over 1 of 2 tasks | missed |" in readme
    assert "| P (90%): ≤ 2.0 point(s) lost vs its dense source | 1.00 points on average over 1 tasks | met |" in readme


def test_a_bad_manifest_fails_with_one_line(tmp_path):
    bad = tmp_path / "m.json"
    bad.write_text(json.dumps({"models": [{"model": "S", "role": "student", "task": "ner", "results": "x.json"}]}))
    with pytest.raises(SystemExit, match="student without a teacher"):
        summary.load_manifest(bad)
    bad.write_text(json.dumps({"models": [{"model": "S", "role": "pupil", "task": "ner", "results": "x.json"}]}))
    with pytest.raises(SystemExit, match="use one of teacher, student, sparse_student"):
        summary.load_manifest(bad)


def test_the_example_script_regenerates_from_committed_files_alone(tmp_path):
    """examples/real_models_summary.py is a thin script: run as users run it, with no run folder anywhere, it
    keeps the previous summary's sizes and rewrites the same scores."""
    import subprocess
    import sys
    from pathlib import Path

    results = write_json(tmp_path / "t.json", {"metric": "accuracy", "validation": 0.9, "test": 0.88})
    entry = {"model": "T", "role": "teacher", "task": "sentiment", "results": results, "run": "runs/none"}
    manifest = write_json(tmp_path / "real-models.json", {"models": [entry]})
    write_json(tmp_path / "summary.json", {"rows": [{"model": "T", "task": "sentiment", **KEPT}]})
    script = Path(__file__).resolve().parents[1] / "examples" / "real_models_summary.py"
    done = subprocess.run(
        [sys.executable, str(script), "--manifest", manifest, "--out", str(tmp_path), "--root", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads((tmp_path / "summary.json").read_text())["rows"]
    assert [(r["split"], r["score"], r["params"], r["measured"]) for r in rows] == [
        ("validation", 0.9, 1000, False),
        ("test", 0.88, 1000, False),
    ]
    assert "| sentiment (accuracy) | 90.00 / 88.00 |" in (tmp_path / "README.md").read_text()


def save_sparse_model(folder, sparsity=0.75):
    """A tiny sequence classifier with 75% of its encoder's 16x4 blocks zero, saved as a sparse folder."""

    from optimum_ro.models import save_sparse_pretrained

    tok = tiny_wordpiece_tokenizer(["ana", "are", "mere"])
    model = tiny_bert("BertForSequenceClassification", vocab_size=len(tok), num_layers=1, num_labels=2,
                      hidden_size=64, intermediate_size=128, num_attention_heads=4,
                      max_position_embeddings=128, pad_token_id=tok.pad_token_id)  # fmt: skip
    prune_random_blocks(model.base_model.encoder, sparsity, seed=0)
    save_sparse_pretrained(model.eval(), folder, tokenizer=tok)


def test_a_sparse_folder_loads_as_its_own_head_on_the_sparse_layers(tmp_path):
    """A sparse folder maps every Auto class (masked LM first): the summary loads the class the checkpoint is, as
    a user's AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True) does."""
    from optimum_ro.sparse import BlockSparseLinear

    save_sparse_model(tmp_path / "sparse")
    model, _ = summary.load_model(tmp_path / "sparse")
    assert type(model).__name__ == "SparseBertForSequenceClassification"
    assert sum(isinstance(m, BlockSparseLinear) for m in model.modules()) > 0


@pytest.fixture
def sparse_manifest(tmp_path):
    """A dense teacher and its sparse student, both with run folders, their results JSONs and a manifest."""
    root = tmp_path / "checkout"
    save_model(root / "runs" / "teacher", layers=2)
    save_sparse_model(root / "runs" / "sparse")
    models = [
        {"model": "T", "role": "teacher", "task": "ner", "run": "runs/teacher",
         "results": write_json(tmp_path / "t.json", {"metric": "f1", "validation": 0.8})},
        {"model": "P", "role": "sparse_student", "teacher": "T", "task": "ner", "run": "runs/sparse",
         "results": write_json(tmp_path / "p.json", {"validation": {"f1": 0.7}}), "block_shape": "16x4",
         "sparsity": 0.75},
    ]  # fmt: skip
    return root, write_json(tmp_path / "real-models.json", {"models": models})


@pytest.fixture
def spy_rounds(monkeypatch):
    """Records what the summary hands the interleaved timer: the models, the rounds' orders, the torch threads."""
    import torch
    from experiments import interleaved_latency

    seen, real = [], interleaved_latency.time_interleaved
    threads = torch.get_num_threads()

    def spy(models, inputs, rounds, **kwargs):
        result = real(models, inputs, rounds, **kwargs)
        seen.append({"models": list(models), "inputs": inputs, "threads": torch.get_num_threads(), **result})
        return result

    monkeypatch.setattr(interleaved_latency, "time_interleaved", spy)
    yield seen
    torch.set_num_threads(threads)


def test_all_models_are_timed_in_one_interleaved_run_through_the_users_classes(sparse_manifest, spy_rounds, tmp_path):
    root, manifest = sparse_manifest
    out = tmp_path / "out"
    argv = ["--manifest", manifest, "--out", str(out), "--root", str(root), "--threads", "2", "--rounds", "3"]
    assert summary.main(argv) == 0
    (run,) = spy_rounds  # one timing run for the two folders, not one per folder
    folders = {root / "runs" / "teacher", root / "runs" / "sparse"}
    assert set(run["models"]) == folders and run["threads"] == 2
    assert len(run["orders"]) == 3 and all(set(order) == folders for order in run["orders"])
    assert run["orders"][0] != run["orders"][1]  # rotated
    for folder in folders:
        assert set(run["inputs"][folder]) == {1, 32}
        assert run["inputs"][folder][32]["input_ids"].shape == (32, 128)
        assert all(len(run["times_ms"][folder][b]) == 3 for b in (1, 32))
    rows = {r["model"]: r for r in json.loads((out / "summary.json").read_text())["rows"]}
    for r in rows.values():
        assert FIELDS <= set(r), FIELDS - set(r)
        assert r["measured"] and r["latency_method"] == "interleaved" and r["latency_rounds"] == 3
        assert r["torch_threads"] == 2 and "2 torch threads" in r["hardware"]
        assert r["latency_b1_ms"] == round(min(run["times_ms"][root / r["run"]][1]), 2)  # min is the headline
        assert r["latency_b1_ms"] <= r["latency_b1_ms_median"] and r["latency_b32_ms"] <= r["latency_b32_ms_median"]
        assert r["load_1min"] == max(r["load_1min_start"], r["load_1min_end"])
    assert rows["P"]["model_class"] == "SparseBertForSequenceClassification" and rows["P"]["sparse_layers"] > 0
    assert rows["T"]["model_class"] == "BertForTokenClassification" and rows["T"]["sparse_layers"] == 0
    readme = (out / "README.md").read_text()
    assert "**min over rounds**" in readme and "--latency-only" in readme
    assert f"| {rows['P']['latency_b1_ms']} ({rows['P']['latency_b1_ms_median']}) |" in readme


def test_latency_only_retimes_the_rows_and_keeps_scores_and_sizes(sparse_manifest, spy_rounds, tmp_path):
    root, manifest = sparse_manifest
    out = tmp_path / "out"
    stale = {"latency_b1_ms": 999.0, "latency_b32_ms": 999.0, "latency_method": None, "load_1min": 9.0}
    base = {
        **dict.fromkeys(FIELDS | set(summary.MEASURED_FIELDS)),
        "split": "validation",
        "metric": "f1",
        "dtype": "float32",
        **stale,
    }
    old_rows = [
        {**base, "model": "T", "role": "teacher", "task": "ner", "score": 0.5, "params": 1, "run": "runs/teacher",
         "measured": True},
        {**base, "model": "P", "role": "sparse_student", "teacher": "T", "task": "ner", "score": 0.4,
         "retention": 0.8, "params": 2, "run": "runs/sparse", "measured": True, "sparsity": 0.75,
         "block_shape": "16x4"},
        {**base, "model": "G", "role": "teacher", "task": "pos", "score": 0.3, "params": 3, "run": "runs/gone",
         "measured": False},
    ]  # fmt: skip
    write_json(out / "summary.json", {"rows": old_rows})
    argv = ["--manifest", manifest, "--out", str(out), "--root", str(root), "--threads", "1", "--rounds", "2",
            "--latency-only"]  # fmt: skip
    assert summary.main(argv) == 0
    (run,) = spy_rounds
    assert set(run["models"]) == {root / "runs" / "teacher", root / "runs" / "sparse"}
    rows = json.loads((out / "summary.json").read_text())["rows"]
    assert [(r["model"], r["score"], r["params"], r["retention"]) for r in rows] == [
        (r["model"], r["score"], r["params"], r["retention"]) for r in old_rows
    ]  # the results JSONs (0.8, 0.7) are not read again; sizes are not re-counted
    for r in rows[:2]:
        assert r["latency_b1_ms"] != 999.0 and r["latency_method"] == "interleaved" and r["latency_rounds"] == 2
    assert {k: rows[2][k] for k in stale} == stale  # no run folder: kept
    assert "Kept from an earlier run, timed one model after another" in (out / "README.md").read_text()


def test_latency_only_needs_a_previous_summary(sparse_manifest, tmp_path):
    _, manifest = sparse_manifest
    with pytest.raises(SystemExit, match="no previous rows to re-time"):
        summary.main(["--manifest", manifest, "--out", str(tmp_path / "empty"), "--latency-only"])
