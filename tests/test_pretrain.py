import gzip
import json

from optimum_ro.tasks.pretrain import PretrainConfig, pretrain, read_lines, train_wordpiece_tokenizer

from conftest import fixture_texts


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
    tok = train_wordpiece_tokenizer(["știință și învățământ în România"] * 20 + ["casa mare"] * 5, vocab_size=120,
                                    min_frequency=1)
    assert tok.is_fast
    pieces = tok.tokenize("știință")
    assert "".join(p.replace("##", "") for p in pieces) == "știință"


def test_pretrain_from_scratch_resume_and_continue(tmp_path):
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    text = str(_corpus(tmp_path))
    cfg = PretrainConfig(text=text, output_dir=str(tmp_path / "scratch"), vocab_size=150, num_layers=1, hidden_size=16,
                         num_heads=2, intermediate_size=32, max_length=16, batch_size=4, max_steps=3, save_steps=3,
                         warmup_steps=0)
    first = pretrain(cfg)
    assert first["steps"] == 3 and first["resumed_from"] is None
    model = AutoModelForMaskedLM.from_pretrained(tmp_path / "scratch")
    assert model.config.num_hidden_layers == 1
    assert len(AutoTokenizer.from_pretrained(tmp_path / "scratch")) == model.config.vocab_size
    cfg.max_steps = 5  # same output folder: resumes from checkpoint-3
    again = pretrain(cfg)
    assert again["steps"] == 5 and again["resumed_from"].endswith("checkpoint-3")
    # stage 2: continue pretraining the result on other text
    stage2 = pretrain(PretrainConfig(text=text, output_dir=str(tmp_path / "stage2"), from_model=str(tmp_path / "scratch"),
                                     max_length=16, batch_size=4, max_steps=2, save_steps=10, warmup_steps=0))
    assert stage2["steps"] == 2
    summary = json.loads((tmp_path / "stage2" / "pretrain_results.json").read_text())
    assert summary["config"]["from_model"].endswith("scratch")


def test_masked_only_mlm_loss_equals_full_head_loss():
    import torch
    from transformers import BertConfig, BertForMaskedLM

    from optimum_ro.tasks.pretrain import masked_lm_loss

    torch.manual_seed(0)
    model = BertForMaskedLM(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                       intermediate_size=32)).eval()
    ids = torch.randint(5, 50, (3, 12))
    labels = torch.full_like(ids, -100)
    labels[0, 3], labels[1, 7], labels[2, 0] = 9, 11, 42
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    full = model(**inputs, labels=labels).loss
    fast = masked_lm_loss(model, {**inputs, "labels": labels})
    torch.testing.assert_close(fast, full)
