import pytest
import torch
from transformers import AutoModelForMaskedLM, AutoTokenizer, BertForSequenceClassification, XLMRobertaTokenizer

from optimum_ro.distillation.student import count_parameters, default_layers, make_student
from optimum_ro.distillation.vocab import count_token_ids, select_vocabulary, trim_vocabulary
from optimum_ro.testing import BERT_SPECIALS, tiny_bert, tiny_unigram_tokenizer, tiny_wordpiece_tokenizer

WORDS = ["ana", "are", "mere", "pere", "casa", "mare", "copil", "frumoasa"]
CORPUS = ["Ana are mere.", "Copilul are pere!", "ana are mere frumoase"]


def test_default_layers_match_distilbert():
    assert default_layers(12, 6) == [0, 2, 4, 7, 9, 11]
    assert default_layers(4, 2) == [0, 3]
    assert default_layers(4, 4) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="between 1 and"):
        default_layers(4, 5)


@pytest.mark.parametrize("arch", ["BertForMaskedLM", "BertForTokenClassification", "BertForSequenceClassification"])
def test_make_student_copies_embeddings_layers_heads(arch):
    teacher = tiny_bert(arch, vocab_size=40, num_layers=4, num_labels=3).eval()
    student = make_student(teacher, layers=[1, 3])
    assert type(student) is type(teacher) and student.config.num_hidden_layers == 2
    assert teacher.config.num_hidden_layers == 4  # teacher untouched
    t_sd, s_sd = teacher.state_dict(), student.state_dict()
    for key, value in s_sd.items():
        src = (
            key.replace("encoder.layer.0.", "encoder.layer.1.").replace("encoder.layer.1.", "encoder.layer.3.", 1)
            if "encoder.layer.1." in key
            else key.replace("encoder.layer.0.", "encoder.layer.1.")
        )
        assert torch.equal(value, t_sd[src]), key
    assert count_parameters(student) < count_parameters(teacher)
    # a 2-layer student of a 2-layer-identical teacher computes the same function
    same = make_student(teacher, layers=[0, 1, 2, 3]).eval()
    ids = torch.randint(5, 40, (2, 7))
    assert torch.allclose(same(input_ids=ids).logits, teacher(input_ids=ids).logits, atol=1e-6)


def test_make_student_mlm_head_stays_tied_and_errors():
    teacher = tiny_bert("BertForMaskedLM", vocab_size=40)
    student = make_student(teacher, num_layers=2)
    assert student.cls.predictions.decoder.weight is student.bert.embeddings.word_embeddings.weight
    with pytest.raises(ValueError, match="layer indices"):
        make_student(teacher, layers=[0, 9])


def _wordpiece_pair():
    tok = tiny_wordpiece_tokenizer(WORDS)
    return tiny_bert("BertForMaskedLM", vocab_size=len(tok)), tok


def test_trim_wordpiece_same_tokens_remapped_ids_and_round_trip(tmp_path):
    model, tok = _wordpiece_pair()
    before_tokens = [tok.tokenize(t) for t in CORPUS]
    before_ids = [tok(t)["input_ids"] for t in CORPUS]
    old_emb = model.bert.embeddings.word_embeddings.weight.detach().clone()
    old_bias = model.cls.predictions.bias.detach().clone()
    n_before = count_parameters(model)
    model, new_tok = trim_vocabulary(model, tok, CORPUS)
    assert [new_tok.tokenize(t) for t in CORPUS] == before_tokens
    assert len(new_tok) < len(tok) and model.config.vocab_size == len(new_tok)
    # ids remapped consistently: the new embedding row of each corpus token is the old row of the same token
    for old_ids, text in zip(before_ids, CORPUS):
        new_ids = new_tok(text)["input_ids"]
        assert new_tok.convert_ids_to_tokens(new_ids) == tok.convert_ids_to_tokens(old_ids)
        assert torch.equal(model.bert.embeddings.word_embeddings.weight[new_ids], old_emb[old_ids])
        assert torch.equal(model.cls.predictions.bias[new_ids], old_bias[old_ids])
    assert model.cls.predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight
    assert set(new_tok.all_special_tokens) == set(tok.all_special_tokens)
    assert new_tok.convert_ids_to_tokens(new_tok("casa")["input_ids"]) == ["[CLS]", "[UNK]", "[SEP]"]
    n_after = count_parameters(model)
    assert n_before - n_after == (len(tok) - len(new_tok)) * (32 + 1)  # embedding row + MLM bias per token
    # the saved folder loads with the Auto classes and gives the same outputs
    model.eval().save_pretrained(tmp_path)
    new_tok.save_pretrained(tmp_path)
    tok2, model2 = AutoTokenizer.from_pretrained(tmp_path), AutoModelForMaskedLM.from_pretrained(tmp_path).eval()
    batch = tok2(CORPUS, padding=True, return_tensors="pt")
    assert [tok2.tokenize(t) for t in CORPUS] == before_tokens
    assert torch.allclose(model2(**batch).logits, model(**batch).logits, atol=1e-6)


def test_trim_min_count_keep_ids_and_errors():
    model, tok = _wordpiece_pair()
    _, kept = trim_vocabulary(None, tok, ["ana ana are"], min_count=2)
    # "are" (seen once) is dropped and re-segmented from the corpus's alphabet, which stays; nothing else does
    assert kept.tokenize("ana are") == ["ana", "a", "##r", "##e"]
    assert set(kept.get_vocab()) == {*BERT_SPECIALS, "ana", *"anre", "##a", "##n", "##r", "##e"}
    assert kept.tokenize("mere") == ["[UNK]"]  # "m" is not in the corpus's alphabet
    _, kept = trim_vocabulary(None, tok, ["ana ana are"], min_count=2, keep_ids=[tok.convert_tokens_to_ids("are")])
    assert kept.tokenize("ana are") == ["ana", "are"]
    with pytest.raises(TypeError, match="iterable of texts"):
        trim_vocabulary(model, tok, "ana are mere")
    with pytest.raises(ValueError, match="outside"):
        trim_vocabulary(model, tok, CORPUS, keep_ids=[10_000])
    with pytest.raises(
        ValueError, match="max_size=10 is below the 15 tokens that always stay .* the 10 single-character pieces"
    ):
        trim_vocabulary(model, tok, ["ana ana are mere"], max_size=10)
    with pytest.raises(ValueError, match="max_size must be >= 1"):
        trim_vocabulary(model, tok, CORPUS, max_size=0)


def test_trim_max_size_keeps_the_most_frequent_and_resegments_the_rest(tmp_path):
    model, tok = _wordpiece_pair()
    corpus = ["ana are mere", "ana are pere", "ana are mere", "mere"]  # ana 3, are 3, mere 3, pere 1
    old_emb = model.bert.embeddings.word_embeddings.weight.detach().clone()
    old_ids = {t: tok.convert_tokens_to_ids(t) for t in tok.get_vocab()}
    # 5 specials + 12 alphabet pieces (a e m n p r, bare and ##) always stay; room for two words: the most
    # frequent, ties broken by the lower id ("ana" < "are" < "mere" in the tiny vocabulary)
    model, kept = trim_vocabulary(model, tok, corpus, max_size=19)
    assert len(kept) == 19 == model.config.vocab_size
    assert {"ana", "are"} <= set(kept.get_vocab()) and not {"mere", "pere"} & set(kept.get_vocab())
    assert kept.tokenize("ana are mere pere") == ["ana", "are", "m", "##e", "##r", "##e", "p", "##e", "##r", "##e"]
    assert kept.unk_token_id not in kept(corpus)["input_ids"][0]
    for token, new_id in kept.get_vocab().items():  # every kept row is the old row of the same token
        assert torch.equal(model.bert.embeddings.word_embeddings.weight[new_id], old_emb[old_ids[token]])
    # one count serves several sizes: select_vocabulary gives the same ids trim_vocabulary kept
    ids = select_vocabulary(tok, count_token_ids(tok, corpus), max_size=19)
    assert tok.convert_ids_to_tokens(ids) == kept.convert_ids_to_tokens(list(range(19)))
    model.save_pretrained(tmp_path)
    kept.save_pretrained(tmp_path)
    assert AutoTokenizer.from_pretrained(tmp_path).tokenize("mere") == ["m", "##e", "##r", "##e"]


def test_trim_max_size_unigram_resegments_with_the_word_marker():
    tok = tiny_unigram_tokenizer({"▁ana": -2.0, "▁are": -2.5, "▁mere": -3.0})
    _, kept = trim_vocabulary(None, tok, ["ana ana are mere mere mere"], max_size=13)
    # 4 specials + <mask> + a e m n r + the bare "▁" = 11 always stay; room for "▁mere" (3) and "▁ana" (2)
    assert kept.tokenize("ana are mere") == ["▁ana", "▁", "a", "r", "e", "▁mere"]
    assert kept.unk_token_id not in kept("ana are mere")["input_ids"]


def test_trim_unigram_keeps_pieces_and_scores(tmp_path):
    pieces = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    pieces += [
        (p, -2.0 - i / 10) for i, p in enumerate(["▁ana", "▁are", "▁mere", "le", "▁pere", "▁casa", "▁cop", "il", "ul"])
    ]
    pieces += [(c, -20.0) for c in "▁anremplcsoiu.!"]
    tok = XLMRobertaTokenizer(vocab=pieces)
    model = tiny_bert(
        "BertForMaskedLM", vocab_size=len(tok) + 7, pad_token_id=tok.pad_token_id
    )  # e5 has spare rows too
    before = [tok.tokenize(t) for t in CORPUS]
    before_ids = [tok(t)["input_ids"] for t in CORPUS]
    old_emb = model.bert.embeddings.word_embeddings.weight.detach().clone()
    model, new_tok = trim_vocabulary(model, tok, CORPUS)
    assert type(new_tok).__name__ == "XLMRobertaTokenizer"
    assert [new_tok.tokenize(t) for t in CORPUS] == before
    for old_ids, text in zip(before_ids, CORPUS):
        new_ids = new_tok(text)["input_ids"]
        assert torch.equal(model.bert.embeddings.word_embeddings.weight[new_ids], old_emb[old_ids])
    assert model.config.vocab_size == len(new_tok) < len(tok)
    assert new_tok.pad_token_id == model.config.pad_token_id == 1
    assert new_tok.mask_token_id == len(new_tok) - 1
    scores = dict(__import__("json").loads(new_tok.backend_tokenizer.to_str())["model"]["vocab"])
    assert scores["▁mere"] == pytest.approx(-2.2) and "▁casa" not in scores
    assert tok.unk_token_id not in tok("casa")["input_ids"]  # was one piece, "c" never occurs in the corpus
    assert new_tok.unk_token_id in new_tok("casa")["input_ids"]
    new_tok.save_pretrained(tmp_path)
    model.save_pretrained(tmp_path)
    assert [AutoTokenizer.from_pretrained(tmp_path).tokenize(t) for t in CORPUS] == before
    assert AutoModelForMaskedLM.from_pretrained(tmp_path).config.vocab_size == len(new_tok)


def test_trim_task_model_without_mlm_head():
    tok = tiny_wordpiece_tokenizer(WORDS)
    model = tiny_bert("BertForSequenceClassification", vocab_size=len(tok))
    model, new_tok = trim_vocabulary(model, tok, CORPUS)
    assert isinstance(model, BertForSequenceClassification)
    out = model(**new_tok(CORPUS, padding=True, return_tensors="pt"))
    assert out.logits.shape == (3, 2)


def _xlmr_mlm(vocab_size):
    import transformers as T

    torch.manual_seed(0)
    return T.XLMRobertaForMaskedLM(
        T.XLMRobertaConfig(
            vocab_size=vocab_size,
            hidden_size=32,
            num_hidden_layers=4,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=40,
            pad_token_id=1,
        )
    ).eval()


def _distilbert_cls(vocab_size):
    import transformers as T

    torch.manual_seed(0)
    return T.DistilBertForSequenceClassification(
        T.DistilBertConfig(
            vocab_size=vocab_size, dim=32, n_layers=4, n_heads=2, hidden_dim=64, max_position_embeddings=40
        )
    ).eval()


@pytest.mark.parametrize("build", [_xlmr_mlm, _distilbert_cls])
def test_make_student_other_families(build):
    teacher = build(60)
    student = make_student(teacher, num_layers=2)
    assert type(student) is type(teacher) and student.config.num_hidden_layers == 2
    ids = torch.randint(4, 60, (2, 7))
    copy = make_student(teacher, layers=[0, 1, 2, 3]).eval()
    assert torch.allclose(copy(input_ids=ids).logits, teacher(input_ids=ids).logits, atol=1e-5)


def test_trimmed_xlmr_mlm_gives_the_same_logits_on_kept_tokens():
    from optimum_ro.testing import tiny_unigram_tokenizer

    tok = tiny_unigram_tokenizer({"▁ana": -1.0, "▁are": -1.0, "▁mere": -1.0})
    model = _xlmr_mlm(len(tok))
    texts = ["ana are", "ana"]
    enc = tok(texts, padding=True, return_tensors="pt")
    before = model(**enc).logits
    model, new_tok = trim_vocabulary(model, tok, ["ana are"])
    enc2 = new_tok(texts, padding=True, return_tensors="pt")
    after = model(**enc2).logits
    kept_old_ids = tok.convert_tokens_to_ids(new_tok.convert_ids_to_tokens(list(range(len(new_tok)))))
    real = enc["attention_mask"].bool()
    assert torch.allclose(after[real], before[real][:, kept_old_ids], atol=1e-5)


def test_make_student_follows_optional_parts_and_is_trainable():
    from transformers import BertConfig, BertModel

    teacher = BertModel(
        BertConfig(vocab_size=40, hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64),
        add_pooling_layer=False,
    ).requires_grad_(False)
    student = make_student(teacher, num_layers=2)
    assert student.pooler is None and len(student.encoder.layer) == 2
    assert all(p.requires_grad for p in student.parameters())
    assert not any(p.requires_grad for p in teacher.parameters()) and len(teacher.encoder.layer) == 4
    # layers are copies, not shared with the teacher
    assert (
        student.encoder.layer[0].attention.self.query.weight
        is not teacher.encoder.layer[0].attention.self.query.weight
    )


def test_the_former_testing_module_still_serves_the_same_builders():
    from optimum_ro import testing
    from optimum_ro.distillation import testing as former

    assert former.tiny_bert is testing.tiny_bert
    assert former.tiny_wordpiece_tokenizer is testing.tiny_wordpiece_tokenizer
    assert set(former.__all__) <= set(dir(testing))
