"""Vocabulary transplant: a tiny BERT with a SentencePiece-style tokenizer moved onto a WordPiece one."""

import gzip
import json

import pytest
import torch
from conftest import fixture_texts

from optimum_ro.tasks.transplant import (
    TransplantError,
    corpus_lines,
    plan_transplant,
    tokens_per_word,
    train_wordpiece_tokenizer,
    transplant_vocabulary,
)

# SentencePiece-style pieces with log-probabilities: longer pieces score higher, so segmentations are predictable
OLD_PIECES = [
    ("<s>", 0.0),
    ("<pad>", 0.0),
    ("</s>", 0.0),
    ("<unk>", 0.0),
    ("\u2581casa", -1.0),
    ("\u2581ca", -2.0),
    ("ca", -2.0),
    ("sa", -2.0),
    ("ing", -2.0),
    ("\u2581in", -2.0),
    ("\u2581mea", -1.0),
    ("\u2581bun", -1.0),
    ("a", -4.0),
    ("m", -4.0),
    ("e", -4.0),
    ("c", -4.0),
    ("s", -4.0),
    ("i", -4.0),
    ("n", -4.0),
    ("g", -4.0),
    ("b", -4.0),
    ("u", -4.0),
    ("<mask>", 0.0),
]
NEW_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "casa", "##ing", "##casa", "casaing", "##mea", "xyz", "bun"]


def old_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.Unigram(OLD_PIECES, unk_id=3))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")]
    )
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        cls_token="<s>",
        sep_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        mask_token="<mask>",
    )


def new_tokenizer(vocab=NEW_VOCAB):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab.index("[CLS]")), ("[SEP]", vocab.index("[SEP]"))]
    )
    specials = {k: f"[{k.split('_')[0].upper()}]" for k in ("pad_token", "unk_token", "cls_token", "sep_token")}
    if "[MASK]" in vocab:
        specials["mask_token"] = "[MASK]"
    return PreTrainedTokenizerFast(tokenizer_object=tok, **specials)


def tiny_bert(vocab_size=len(OLD_PIECES), tie=True, model_type=None):
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        pad_token_id=1,
        tie_word_embeddings=tie,
    )
    model = BertForMaskedLM(config)
    with torch.no_grad():
        model.cls.predictions.bias.normal_()
    if model_type:
        model.config.model_type = model_type
    return model


def old_rows(model, old, *pieces):
    weight = model.get_input_embeddings().weight
    return torch.stack([weight[old.convert_tokens_to_ids(p)] for p in pieces]).detach().clone()


def test_rows_are_the_mean_of_the_old_pieces():
    old, new = old_tokenizer(), new_tokenizer()
    model = tiny_bert()
    expected = {
        "casa": old_rows(model, old, "\u2581casa").mean(0),  # in both vocabularies: copied
        "##ing": old_rows(model, old, "ing").mean(0),  # word-internal "ing", not "▁in" + "g"
        "##casa": old_rows(model, old, "ca", "sa").mean(0),  # word-internal pieces only
        "casaing": old_rows(model, old, "\u2581casa", "ing").mean(0),
        "##mea": old_rows(model, old, "m", "e", "a").mean(0),  # not "▁mea", which starts a word
        "xyz": old_rows(model, old, "<unk>").mean(0),  # nothing but unknown pieces
    }
    transplant_vocabulary(model, old, new)
    weight = model.get_input_embeddings().weight
    assert weight.shape == (len(NEW_VOCAB), 16)
    for token, row in expected.items():
        torch.testing.assert_close(weight[NEW_VOCAB.index(token)], row, msg=token)


def test_plan_names_sources_and_kinds():
    old, new = old_tokenizer(), new_tokenizer()
    plan = plan_transplant(old, new)
    by_token = {t: (plan.kinds[i], old.convert_ids_to_tokens(plan.sources[i])) for i, t in enumerate(NEW_VOCAB)}
    assert by_token["casa"] == ("copied", ["\u2581casa"])
    assert by_token["##ing"] == ("copied", ["ing"])
    assert by_token["bun"] == ("copied", ["\u2581bun"])
    assert by_token["##casa"] == ("pieces", ["ca", "sa"])
    assert by_token["xyz"] == ("unknown", ["<unk>"])
    assert by_token["[CLS]"] == ("special", ["<s>"])
    assert plan.summary()["special"] == 5 and plan.summary()["unknown"] == 1
    # without exact copies, a continuation piece is still segmented as the inside of a word
    no_copy = plan_transplant(old, new, copy_overlap=False)
    assert old.convert_ids_to_tokens(no_copy.sources[NEW_VOCAB.index("##ing")]) == ["ing"]
    assert old.convert_ids_to_tokens(no_copy.sources[NEW_VOCAB.index("casa")]) == ["\u2581casa"]


def test_special_tokens_and_config_follow():
    old, new = old_tokenizer(), new_tokenizer()
    model = tiny_bert()
    before = {p: old_rows(model, old, p)[0] for p in ("<s>", "</s>", "<pad>", "<unk>", "<mask>")}
    transplant_vocabulary(model, old, new)
    weight = model.get_input_embeddings().weight
    for new_token, old_token in [
        ("[CLS]", "<s>"),
        ("[SEP]", "</s>"),
        ("[PAD]", "<pad>"),
        ("[UNK]", "<unk>"),
        ("[MASK]", "<mask>"),
    ]:
        torch.testing.assert_close(weight[NEW_VOCAB.index(new_token)], before[old_token], msg=new_token)
    assert model.config.vocab_size == len(NEW_VOCAB)
    assert model.config.pad_token_id == NEW_VOCAB.index("[PAD]")
    assert model.get_input_embeddings().padding_idx == NEW_VOCAB.index("[PAD]")


def test_tied_decoder_and_bias_follow():
    old, new = old_tokenizer(), new_tokenizer()
    model = tiny_bert()
    bias = model.cls.predictions.bias.detach().clone()
    ids = old.convert_tokens_to_ids(["\u2581casa", "ing"])
    transplant_vocabulary(model, old, new)
    decoder = model.get_output_embeddings()
    assert decoder.weight is model.get_input_embeddings().weight
    assert decoder.bias.shape == (len(NEW_VOCAB),) and model.cls.predictions.bias is decoder.bias
    torch.testing.assert_close(decoder.bias[NEW_VOCAB.index("casaing")], bias[ids].mean())
    logits = model(**new(["casa bun"], return_tensors="pt")).logits
    assert logits.shape[-1] == len(NEW_VOCAB)


def test_untied_decoder_is_transplanted_from_its_own_rows():
    old, new = old_tokenizer(), new_tokenizer()
    model = tiny_bert(tie=False)
    assert model.get_output_embeddings().weight is not model.get_input_embeddings().weight
    out_rows = model.get_output_embeddings().weight.detach().clone()
    ids = old.convert_tokens_to_ids(["ca", "sa"])
    transplant_vocabulary(model, old, new)
    decoder = model.get_output_embeddings()
    assert decoder.weight.shape == (len(NEW_VOCAB), 16)
    assert decoder.weight is not model.get_input_embeddings().weight
    torch.testing.assert_close(decoder.weight[NEW_VOCAB.index("##casa")], out_rows[ids].mean(0))


def test_saved_folder_reloads_and_runs(tmp_path):
    from transformers import AutoModel, AutoModelForMaskedLM, AutoTokenizer

    old, new = old_tokenizer(), new_tokenizer()
    model = transplant_vocabulary(tiny_bert(), old, new).eval()
    model.save_pretrained(tmp_path)
    new.save_pretrained(tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    inputs = tokenizer(["bunmea casa", "casaing"], padding=True, return_tensors="pt")
    assert tokenizer.convert_ids_to_tokens(inputs["input_ids"][0])[:4] == ["[CLS]", "bun", "##mea", "casa"]
    reloaded = AutoModelForMaskedLM.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**inputs).logits, model(**inputs).logits)
        hidden = AutoModel.from_pretrained(tmp_path)(**inputs).last_hidden_state
    assert hidden.shape == (2, inputs["input_ids"].shape[1], 16)


def test_trained_wordpiece_continuations_never_use_word_starts():
    old = old_tokenizer()
    new = train_wordpiece_tokenizer(["casa mea casaing bun"] * 10 + ["bunica mama"] * 5, 60, min_frequency=1)
    plan = plan_transplant(old, new, copy_overlap=False)
    vocab = new.get_vocab()
    inner = [i for t, i in vocab.items() if t.startswith("##")]
    starts = [i for t, i in vocab.items() if not t.startswith("##") and i not in new.all_special_ids]
    assert inner and starts
    for i in inner:
        assert not any(p.startswith("\u2581") for p in old.convert_ids_to_tokens(plan.sources[i]))
    # a word start is segmented as the old tokenizer segments that word in text
    for token, i in vocab.items():
        if i in starts:
            assert plan.sources[i] == [t for t in old(token, add_special_tokens=False).input_ids if t != 3], token
    assert plan.sources[vocab["casaing"]] == old.convert_tokens_to_ids(["\u2581casa", "ing"])


def test_wordpiece_to_wordpiece_keeps_continuations_inside_words():
    old_vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "ca", "sa", "##ca", "##sa", "##ing", "in", "##g"]
    old, new = new_tokenizer(old_vocab), new_tokenizer()
    plan = plan_transplant(old, new, copy_overlap=False)
    sources = {t: old.convert_ids_to_tokens(plan.sources[i]) for i, t in enumerate(NEW_VOCAB)}
    assert sources["##casa"] == ["##ca", "##sa"]  # not the word-start "ca" + "##sa"
    assert sources["casa"] == ["ca", "##sa"]
    assert sources["##ing"] == ["##ing"] and sources["[MASK]"] == ["[MASK]"]
    assert plan_transplant(old, new).kinds[NEW_VOCAB.index("##ing")] == "copied"


def test_random_method_keeps_special_rows_only():
    old, new = old_tokenizer(), new_tokenizer()
    model = tiny_bert()
    cls_row = old_rows(model, old, "<s>")[0]
    casa_row = old_rows(model, old, "\u2581casa")[0]
    transplant_vocabulary(model, old, new, method="random")
    weight = model.get_input_embeddings().weight
    torch.testing.assert_close(weight[NEW_VOCAB.index("[CLS]")], cls_row)
    assert not torch.allclose(weight[NEW_VOCAB.index("casa")], casa_row)


def test_bad_inputs_are_refused():
    old, new = old_tokenizer(), new_tokenizer()
    with pytest.raises(TransplantError, match="method"):
        transplant_vocabulary(tiny_bert(), old, new, method="wechsel")
    with pytest.raises(TransplantError, match="embedding rows"):
        transplant_vocabulary(tiny_bert(vocab_size=10), old, new)
    with pytest.raises(TransplantError, match="position ids"):
        transplant_vocabulary(tiny_bert(model_type="xlm-roberta"), old, new)
    no_mask = old_tokenizer()
    no_mask.mask_token = None
    with pytest.raises(TransplantError, match="mask_token"):
        plan_transplant(no_mask, new)
    with pytest.raises(TransplantError, match="from these two tokenizers"):
        transplant_vocabulary(tiny_bert(), old, new, plan=plan_transplant(old, new_tokenizer(NEW_VOCAB[:-1])))
    with pytest.raises(TypeError, match="not one string"):
        tokens_per_word(new, "casa bun")
    with pytest.raises(ValueError, match="no words"):
        tokens_per_word(new, ["", "  "])


def test_tokens_per_word_counts_pieces_without_specials():
    old, new = old_tokenizer(), new_tokenizer()
    assert tokens_per_word(new, ["casa casaing", "bun"]) == pytest.approx(3 / 3)  # casaing is one new token
    assert tokens_per_word(old, ["casa casaing", "bun"]) == pytest.approx(4 / 3)  # ▁casa | ▁casa ing | ▁bun


def test_corpus_lines_reads_files_and_folders(tmp_path):
    (tmp_path / "texts" / "more").mkdir(parents=True)
    (tmp_path / "texts" / "a.txt").write_text("casa mea\n\nbun\n", encoding="utf-8")
    with gzip.open(tmp_path / "texts" / "more" / "b.txt.gz", "wt", encoding="utf-8") as fh:
        fh.write("casaing\n")
    (tmp_path / "texts" / "notes.md").write_text("not read\n", encoding="utf-8")
    assert corpus_lines([tmp_path / "texts"]) == ["casa mea", "bun", "casaing"]
    assert corpus_lines([tmp_path / "texts" / "a.txt"], max_lines=1) == ["casa mea"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no .txt"):
        corpus_lines([tmp_path / "empty"])


def _tiny_model_folder(tmp_path):
    folder = tmp_path / "old-model"
    tiny_bert().save_pretrained(folder)
    old_tokenizer().save_pretrained(folder)
    text = tmp_path / "corpus.txt"
    text.write_text("\n".join(fixture_texts() * 2) + "\n", encoding="utf-8")
    return folder, text


def test_cli_end_to_end(tmp_path, capsys):
    from transformers import AutoModel, AutoTokenizer

    from optimum_ro.cli import main

    folder, text = _tiny_model_folder(tmp_path)
    out = tmp_path / "transplanted"
    argv = ["transplant-vocab", "--model", str(folder), "--text", str(text), "--vocab-size", "150", "--output"]
    assert main([*argv, str(out)]) == 0
    printed = capsys.readouterr().out
    assert "tokens per word" in printed and "saved to" in printed
    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModel.from_pretrained(out)
    assert model.config.vocab_size == len(tokenizer) <= 150
    assert model(**tokenizer(["casa mea"], return_tensors="pt")).last_hidden_state.shape[-1] == 16
    report = json.loads((out / "transplant.json").read_text())
    assert report["embeddings"]["new_tokens"] == len(tokenizer) and report["tokens_per_word"]["new"] > 0
    # one embedding row (16) and one decoder bias per token more or less; the tied decoder adds nothing
    assert report["parameters"]["new"] - report["parameters"]["old"] == (len(tokenizer) - len(OLD_PIECES)) * 17
    assert "tokens per word" in (out / "README.md").read_text()
    assert main([*argv, str(out)]) == 2  # one line on stderr, exit status 2
    assert "not empty" in capsys.readouterr().err


@pytest.mark.parametrize(
    "change, message",
    [
        ({"--model": "missing-folder"}, "no model folder"),
        ({"--text": "missing.txt"}, "not found"),
        ({"--vocab-size": "5"}, "at least"),
    ],
)
def test_cli_refuses_bad_inputs(tmp_path, change, message, capsys):
    from optimum_ro.cli import main

    folder, text = _tiny_model_folder(tmp_path)
    args = {"--model": str(folder), "--text": str(text), "--vocab-size": "150", "--output": str(tmp_path / "o")}
    args.update({k: str(tmp_path / v) if k != "--vocab-size" else v for k, v in change.items()})
    assert main(["transplant-vocab", *[x for kv in args.items() for x in kv]]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
