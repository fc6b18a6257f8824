"""benchmarks/experiments/trim_score_effect.py on tiny task models: trimming to a vocabulary that covers the dev
texts must leave every prediction unchanged (kept rows are copied exactly); dropped tokens show up as unknown
tokens."""

import json
import shutil
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def script():
    from experiments import trim_score_effect

    return trim_score_effect


@pytest.fixture(scope="module")
def teachers(tmp_path_factory, tiny_bert_dir):
    import torch

    from optimum_ro.tasks import build_model

    root = tmp_path_factory.mktemp("teachers")
    for task in ("sentiment", "pos", "sts"):
        torch.manual_seed(1)
        build_model(str(tiny_bert_dir), task).save_pretrained(root / task)
        for f in Path(tiny_bert_dir).glob("*.json"):
            if f.name != "config.json":
                shutil.copy(f, root / task / f.name)
    return root


def run(script, monkeypatch, *args):
    monkeypatch.setattr(sys, "argv", ["trim_score_effect.py", *args])
    script.main()


def test_a_covering_vocabulary_changes_no_prediction(script, teachers, fixtures_dir, tmp_path, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(fixtures_dir / "ro", data)
    corpus = tmp_path / "raw.txt"  # every dev text is in the trimming corpus: nothing the dev split needs is dropped
    from optimum_ro.tasks import task_texts

    corpus.write_text("\n".join(task_texts(data, "validation")) + "\n", encoding="utf-8")
    out = tmp_path / "vt"
    run(
        script,
        monkeypatch,
        "--teachers",
        str(teachers / "{task}"),
        "--tasks",
        "sentiment",
        "pos",
        "sts",
        "--data-root",
        str(data),
        "--corpus",
        str(corpus),
        "--out",
        str(out),
    )
    report = json.loads(out.with_suffix(".json").read_text())
    v = report["vocabulary"]
    assert v["after"] < v["before"]
    for task, r in report["tasks"].items():
        assert r["dev_trimmed"] == pytest.approx(r["dev_full"], abs=1e-6), task
        assert r["tokens_trimmed"] == {**r["tokens_full"]}, task  # same segmentation, no unknown tokens
        assert r["parameters"]["after"] < r["parameters"]["before"]
        if task == "sts":
            assert r["mean_abs_change"] < 1e-5
        else:
            assert r["unchanged_labels"] == 1.0
    md = out.with_suffix(".md").read_text()
    assert sum(line.startswith("| ") for line in md.splitlines()) == 1 + 3  # header + one row per task


def test_dropped_tokens_become_unknown(script, teachers, fixtures_dir, tmp_path, monkeypatch):
    data = tmp_path / "data"
    (data / "sentiment").mkdir(parents=True)
    # train and the raw corpus share one word; dev is made of words they never use
    (data / "sentiment" / "train.jsonl").write_text(json.dumps({"text": "piata", "label": "positive"}) + "\n")
    rows = [json.loads(line) for line in (fixtures_dir / "ro" / "sentiment" / "dev.jsonl").read_text().splitlines()]
    (data / "sentiment" / "dev.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    corpus = tmp_path / "raw.txt"
    corpus.write_text("piata\n")
    out = tmp_path / "vt"
    run(
        script,
        monkeypatch,
        "--teachers",
        str(teachers / "{task}"),
        "--tasks",
        "sentiment",
        "--data-root",
        str(data),
        "--corpus",
        str(corpus),
        "--out",
        str(out),
    )
    r = json.loads(out.with_suffix(".json").read_text())["tasks"]["sentiment"]
    assert r["tokens_full"]["unknown"] == 0 and r["tokens_trimmed"]["unknown"] > 0


def test_teachers_with_different_vocabularies_are_refused(
    script, teachers, fixtures_dir, tmp_path, monkeypatch, tiny_bert_dir
):
    from optimum_ro.testing import trained_wordpiece_tokenizer

    mixed = tmp_path / "mixed"
    shutil.copytree(teachers / "sentiment", mixed / "sentiment")
    shutil.copytree(teachers / "pos", mixed / "pos")
    other = trained_wordpiece_tokenizer(["alfa beta gama delta"] * 10, vocab_size=60)
    other.save_pretrained(mixed / "pos")
    with pytest.raises(ValueError, match="share one vocabulary"):
        run(
            script,
            monkeypatch,
            "--teachers",
            str(mixed / "{task}"),
            "--tasks",
            "sentiment",
            "pos",
            "--data-root",
            str(fixtures_dir / "ro"),
            "--corpus",
            str(fixtures_dir / "README.md"),
            "--out",
            str(tmp_path / "vt"),
        )


def test_max_size_resegments_instead_of_unknown(script, tmp_path, monkeypatch):
    import torch
    from transformers import BertConfig, BertForMaskedLM

    from optimum_ro.distillation import count_token_ids, select_vocabulary
    from optimum_ro.tasks import build_model
    from optimum_ro.testing import trained_wordpiece_tokenizer

    # made-up texts whose words are whole tokens of a tokenizer trained on them
    words = ["mere", "pere", "prune", "caise", "gutui", "nuci", "bune", "rele", "dulci", "acre"]
    texts = [f"{a} {b} {c}" for a in words for b in words[::3] for c in words[::4]]
    tok = trained_wordpiece_tokenizer(texts * 5, vocab_size=120, lowercase=True)
    folder = tmp_path / "teachers" / "sentiment"
    torch.manual_seed(0)
    BertForMaskedLM(
        BertConfig(
            vocab_size=len(tok),
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            pad_token_id=tok.pad_token_id,
        )
    ).save_pretrained(folder)
    tok.save_pretrained(folder)
    build_model(str(folder), "sentiment").save_pretrained(folder)
    data = tmp_path / "data" / "sentiment"
    data.mkdir(parents=True)
    for split, rows in (("train", texts[::2]), ("dev", texts[1::2])):
        (data / f"{split}.jsonl").write_text(
            "".join(
                json.dumps({"text": t, "label": ["positive", "negative"][i % 2]}) + "\n" for i, t in enumerate(rows)
            )
        )
    corpus = tmp_path / "raw.txt"
    corpus.write_text("\n".join(texts) + "\n")
    full, small = tmp_path / "full", tmp_path / "small"
    args = [
        "--teachers",
        str(tmp_path / "teachers" / "{task}"),
        "--tasks",
        "sentiment",
        "--data-root",
        str(tmp_path / "data"),
        "--corpus",
        str(corpus),
    ]
    run(script, monkeypatch, *args, "--out", str(full))
    assert json.loads(full.with_suffix(".json").read_text())["vocabulary"]["after"] == 5 + len(words)
    assert tok.tokenize(" ".join(words)) == words  # every word one token
    # with a size limit the alphabet's single-character pieces stay too: all words + alphabet, less three words
    counts = count_token_ids(tok, [*texts, *texts[::2]])
    size = len(select_vocabulary(tok, counts, max_size=10**6)) - 3
    run(script, monkeypatch, *args, "--max-size", str(size), "--out", str(small))
    report = json.loads(small.with_suffix(".json").read_text())
    assert report["vocabulary"]["after"] == size and report["max_size"] == size
    r = report["tasks"]["sentiment"]
    # the three least used words take more pieces, none becomes unknown
    assert r["tokens_trimmed"]["tokens"] > r["tokens_full"]["tokens"]
    assert r["tokens_trimmed"]["unknown"] == r["tokens_full"]["unknown"] == 0
    assert f"--max-size {size}" in small.with_suffix(".md").read_text()
