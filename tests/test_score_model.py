"""examples/score_model.py on a tiny sentiment model built here and made-up dev/test rows: the scores it writes
are the model's own accuracy, absent splits are left out, and the summary script reads the JSON it writes."""

import importlib.util
import json
from pathlib import Path

import torch
from experiments import real_models_summary as summary

from optimum_ro.testing import tiny_bert, tiny_wordpiece_tokenizer

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "score_model.py"
WORDS = ["ana", "are", "mere", "pere", "bune", "rele"]
ROWS = [("ana are mere bune", 1), ("ana are pere rele", 0), ("mere rele", 0), ("pere bune", 1), ("ana are", 1)]


def load_script():
    spec = importlib.util.spec_from_file_location("score_model", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_split(folder: Path, name: str, rows):
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"id": str(i), "text": t, "label": y}) for i, (t, y) in enumerate(rows)]
    (folder / f"{name}.jsonl").write_text("\n".join(lines) + "\n")


def save_model(folder: Path):
    tok = tiny_wordpiece_tokenizer(WORDS)
    model = tiny_bert("BertForSequenceClassification", vocab_size=len(tok), num_layers=1, num_labels=2,
                      pad_token_id=tok.pad_token_id)  # fmt: skip
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return model.eval(), tok


def expected_accuracy(model, tok, rows):
    with torch.no_grad():
        enc = tok([t for t, _ in rows], padding=True, return_tensors="pt")
        pred = model(**enc).logits.argmax(-1).tolist()
    return sum(p == y for p, (_, y) in zip(pred, rows)) / len(rows)


def test_scores_each_split_present_and_the_summary_reads_them(tmp_path):
    model, tok = save_model(tmp_path / "model")
    data = tmp_path / "data"
    write_split(data, "dev", ROWS)
    write_split(data, "test", ROWS[:3])
    out = tmp_path / "score_results.json"
    assert load_script().main([str(tmp_path / "model"), "--task", "sentiment", "--data", str(data),
                               "--out", str(out)]) == 0  # fmt: skip
    result = json.loads(out.read_text())
    assert result["metric"] == "accuracy"
    assert result["rows"] == {"validation": 5, "test": 3}
    assert abs(result["validation"]["accuracy"] - expected_accuracy(model, tok, ROWS)) < 1e-9
    assert abs(result["test"]["accuracy"] - expected_accuracy(model, tok, ROWS[:3])) < 1e-9
    entry = {"model": "m", "role": "student", "task": "sentiment"}
    scores = summary.split_scores(entry, result)
    assert scores == {"validation": result["validation"]["accuracy"], "test": result["test"]["accuracy"]}


def test_a_held_back_test_split_is_left_out(tmp_path):
    save_model(tmp_path / "model")
    write_split(tmp_path / "data", "dev", ROWS)
    result = load_script().score_folder(str(tmp_path / "model"), "sentiment", str(tmp_path / "data"))
    assert "test" not in result and set(result["rows"]) == {"validation"}


def test_a_folder_without_a_model_is_one_clear_error(tmp_path):
    import pytest

    with pytest.raises(SystemExit, match="no config.json"):
        load_script().main([str(tmp_path), "--task", "sentiment"])
