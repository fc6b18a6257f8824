import gzip
import json

import pytest
from card_checks import load_card_metadata
from conftest import fixture_texts

from optimum_ro.tasks.pretrain import PretrainConfig, pretrain, read_lines, train_wordpiece_tokenizer


def _corpus(tmp_path):
    path = tmp_path / "raw.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("\n".join(fixture_texts() * 3) + "\n\n")
    return path


def test_read_lines_skips_blank_and_limits(tmp_path):
    path = _corpus(tmp_path)
    assert len(list(read_lines(path, max_lines=5))) == 5
    assert all(read_lines(path))
    assert len(list(read_lines(f"{path},{path}"))) == 2 * len(list(read_lines(path)))


def test_wordpiece_keeps_romanian_diacritics():
    tok = train_wordpiece_tokenizer(
        ["știință și învățământ în România"] * 20 + ["casa mare"] * 5, vocab_size=120, min_frequency=1
    )
    assert tok.is_fast
    pieces = tok.tokenize("știință")
    assert "".join(p.replace("##", "") for p in pieces) == "știință"


def test_pretrain_from_scratch_resume_and_continue(tmp_path):
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    text = str(_corpus(tmp_path))
    cfg = PretrainConfig(
        text=text,
        output_dir=str(tmp_path / "scratch"),
        vocab_size=150,
        num_layers=1,
        hidden_size=16,
        num_heads=2,
        intermediate_size=32,
        max_length=16,
        batch_size=4,
        max_steps=3,
        save_steps=3,
        warmup_steps=0,
    )
    first = pretrain(cfg)
    assert first["steps"] == 3 and first["resumed_from"] is None
    model = AutoModelForMaskedLM.from_pretrained(tmp_path / "scratch")
    assert model.config.num_hidden_layers == 1
    assert len(AutoTokenizer.from_pretrained(tmp_path / "scratch")) == model.config.vocab_size
    cfg.max_steps = 5  # same output folder: resumes from checkpoint-3
    again = pretrain(cfg)
    assert again["steps"] == 5 and again["resumed_from"].endswith("checkpoint-3")
    # stage 2: continue pretraining the result on other text
    stage2 = pretrain(
        PretrainConfig(
            text=text,
            output_dir=str(tmp_path / "stage2"),
            from_model=str(tmp_path / "scratch"),
            max_length=16,
            batch_size=4,
            max_steps=2,
            save_steps=10,
            warmup_steps=0,
        )
    )
    assert stage2["steps"] == 2
    summary = json.loads((tmp_path / "stage2" / "pretrain_results.json").read_text())
    assert summary["config"]["from_model"].endswith("scratch")
    meta = load_card_metadata(tmp_path / "stage2", base_model="scratch", pipeline_tag="fill-mask", license="other")
    assert "pretraining" in meta["tags"]  # text the card cannot vouch for: no datasets, license "other"


def test_masked_only_mlm_loss_equals_full_head_loss():
    import torch
    from transformers import BertConfig, BertForMaskedLM

    from optimum_ro.tasks.pretrain import masked_lm_loss

    torch.manual_seed(0)
    model = BertForMaskedLM(
        BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    ).eval()
    ids = torch.randint(5, 50, (3, 12))
    labels = torch.full_like(ids, -100)
    labels[0, 3], labels[1, 7], labels[2, 0] = 9, 11, 42
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    full = model(**inputs, labels=labels).loss
    fast = masked_lm_loss(model, {**inputs, "labels": labels})
    torch.testing.assert_close(fast, full)


def test_pack_blocks_packs_end_to_end_without_datasets():
    from optimum_ro.tasks.pretrain import pack_blocks

    lines = ["Ana are mere și pere.", "Băiatul citește o carte frumoasă.", "Plouă."] * 4
    tok = train_wordpiece_tokenizer(lines, vocab_size=120, min_frequency=1)
    flat = [t for line in lines for t in tok(line, add_special_tokens=False)["input_ids"]]
    blocks = pack_blocks(lines, tok, max_length=8, batch_size=5)  # batches of lines do not cut the packing
    assert len(blocks) == len(flat) // 6
    assert [t for i in range(len(blocks)) for t in blocks[i]["input_ids"][1:-1]] == flat[: len(blocks) * 6]
    first = blocks[0]
    assert first["input_ids"][0] == tok.cls_token_id and first["input_ids"][-1] == tok.sep_token_id
    assert first["special_tokens_mask"] == [1, 0, 0, 0, 0, 0, 0, 1]
    short = pack_blocks(["Ana"], tok, max_length=64)  # shorter than one block: kept whole
    assert len(short) == 1 and short[0]["input_ids"][1:-1] == tok("Ana", add_special_tokens=False)["input_ids"]
    with pytest.raises(ValueError, match="max_length must be at least 3"):
        pack_blocks(lines, tok, max_length=2)


def test_pretrain_module_imports_without_datasets():
    """`optimum-ro pretrain` needs torch, transformers and tokenizers only (e.g. a GPU box without `datasets`)."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['datasets'] = None; sys.modules['evaluate'] = None\n"
        "import optimum_ro.tasks, optimum_ro.tasks.pretrain as p; print(p.pack_blocks.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and "pack_blocks" in out.stdout, out.stderr
