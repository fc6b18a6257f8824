"""The NLU example pipeline end to end on a tiny encoder and made-up utterances: every stage runs, the report
renders, a re-run reuses the finished stages."""

import json
from pathlib import Path

import pytest
from test_nlu import UTTERANCES, records

from optimum_ro.testing import tiny_bert, trained_wordpiece_tokenizer

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
GENERAL = ["ana are mere și pere în casa mare", "copilul merge acasă cu multe mere roșii", "casa este frumoasă"]


@pytest.fixture()
def world(tmp_path):
    nlu = tmp_path / "nlu"
    for name in ("massive_ro", "ro_home", "atis"):
        folder = nlu / name
        folder.mkdir(parents=True)
        splits = {"train": UTTERANCES * 4, "dev": UTTERANCES[:4]}
        if name != "massive_ro":
            splits["test"] = UTTERANCES[2:]
        for split, rows in splits.items():
            (folder / f"{split}.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records(rows)))
    general = tmp_path / "general.txt"
    general.write_text("\n".join(GENERAL * 40))
    texts = [" ".join(r["tokens"]) for r in records()] + GENERAL
    tok = trained_wordpiece_tokenizer(texts, vocab_size=120)
    model = tmp_path / "encoder"
    tiny_bert("BertModel", vocab_size=len(tok), num_layers=4, pad_token_id=tok.pad_token_id).save_pretrained(model)
    tok.save_pretrained(model)
    return tmp_path


def run(world, capsys, monkeypatch, *extra):
    monkeypatch.syspath_prepend(str(EXAMPLES))  # the example imports its report renderer from its own folder
    import nlu_pipeline

    argv = [
        "--model", str(world / "encoder"),
        "--nlu-data", str(world / "nlu"),
        "--general-text", str(world / "general.txt"),
        "--runs", str(world / "runs"),
        "--report", str(world / "report"),
        "--student-layers", "1", "2",
        "--seeds", "42", "43",
        "--head-steps", "2",
        "--stage2-steps", "2",
        "--general-distill-steps", "2",
        "--teacher-epochs", "2",
        "--student-epochs", "2",
        "--student-min-steps", "1",
        "--teacher-min-steps", "1",
        "--prune-layers", "2",
        "--prune-epochs", "2",
        "--sparsity", "0.5",
    ]  # fmt: skip
    nlu_pipeline.main(argv + list(extra))
    return capsys.readouterr().out


def test_every_stage_runs_and_the_report_renders_then_a_rerun_reuses_them(world, capsys, monkeypatch):
    out = run(world, capsys, monkeypatch)
    assert "[nlu] stage2: done" in out and "[nlu s2] sparse-int8: done" in out and "[nlu] latency: done" in out
    report = (world / "report" / "README.md").read_text()
    for heading in ("## Stage 2", "## Teachers and students", "## Did stage 2 help?", "## Seeds", "## Sparse student"):
        assert heading in report
    assert "not run" not in report
    results = json.loads((world / "report" / "pipeline.json").read_text())
    heldout = results["stage2"]["heldout_mlm"]
    assert heldout["before"]["loss"] > 0 and heldout["after"]["loss"] > 0
    assert set(results["mlm-eval"]) == {"s1", "s2"}
    student = results["student-s2-L1-massive_ro"]
    assert student["dev"]["examples"] == 4 and "test" not in student  # massive_ro: dev only
    assert results["student-s2-L1-ro_home"]["test"]["examples"] == 4
    assert results["student-s1-L1-massive_ro-seed43"]["config"]["seed"] == 43
    assert results["sparse-int8"]["class"] == "SparseBertForIntentSlot"
    assert set(results["latency"]) >= {"teacher-s2-massive_ro", "sparse-fp32", "sparse-int8"}
    sparse = results["latency"]["sparse-int8"]
    assert sparse["nonzero_parameters"] < results["latency"]["student-s2-L2-massive_ro"]["nonzero_parameters"]
    again = run(world, capsys, monkeypatch)
    assert "[nlu s2] teacher-s2-atis: reused" in again and "started" not in again
    # a new teacher setting redoes the teacher and its students, never the general-distilled students
    changed = run(world, capsys, monkeypatch, "--teacher-lr", "3e-4", "--branch", "s1", "--datasets", "massive_ro")
    assert "[nlu s1] teacher-s1-massive_ro: started" in changed
    assert "[nlu s1] student-s1-L1-massive_ro: started" in changed
    assert "[nlu s1] general-s1-L1: reused" in changed and "general-s1-L1: started" not in changed
    # the pruning sweep re-prunes the dense student in other block shapes and reports them beside it
    import nlu_prune_sweep

    dense = world / "runs" / "student-s2-L2-massive_ro"
    out = world / "report" / "prune-sweep.json"
    argv = ["--dense", str(dense), "--data", str(world / "nlu" / "massive_ro"), "--runs", str(world / "sweep")]
    nlu_prune_sweep.main(argv + ["--out", str(out), "--sparsity", "0.5", "--runs-config", "1x4:1"])
    rows = json.loads(out.read_text())
    assert [r["model"] for r in rows] == ["dense", "pruned-1x4-1ep-50"]
    assert rows[1]["pruning"]["block_shape"] == "1x4" and rows[1]["dev"]["examples"] == 4
    run(world, capsys, monkeypatch, "--report-only")  # the report shows the sweep written beside it
    assert "| pruned-1x4-1ep-50 | 1x4 |" in (world / "report" / "README.md").read_text()


def test_small_data_sets_get_the_students_step_floor(world, monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))
    from argparse import Namespace

    import nlu_pipeline

    data = world / "nlu" / "ro_home"
    by_epochs = nlu_pipeline.epochs_to_steps(data, 2.0, 32)
    assert nlu_pipeline.student_steps(Namespace(student_epochs=2.0, student_min_steps=1), data) == by_epochs
    assert nlu_pipeline.student_steps(Namespace(student_epochs=2.0, student_min_steps=by_epochs + 9), data) == (
        by_epochs + 9
    )
