"""The STS bi-encoder: mean-pooled cosine, padding invariance, save/load, and that training lowers its loss."""

import pytest
import torch

from optimum_ro.tasks.bi_encoder import (
    BertForSentenceSimilarity,
    PairCollator,
    encode_pairs,
    mean_pool,
    pair_scores,
    predict_pairs,
)

PAIRS = [
    ("ana are mere", "ana are mere rosii", 4.5),
    ("copilul merge acasa", "casa este mare", 0.5),
    ("pere multe", "multe pere", 5.0),
    ("casa mare", "copil frumos", 0.0),
    ("ana merge acasa", "ana merge la casa ei", 3.5),
    ("mere rosii", "pere verzi", 1.5),
]


@pytest.fixture(scope="module")
def model(tiny_bert_dir):
    torch.manual_seed(0)
    return BertForSentenceSimilarity.from_encoder(str(tiny_bert_dir), score_range=(0.0, 5.0)).eval()


@pytest.fixture(scope="module")
def pairs(tiny_tokenizer):
    import datasets

    rows = datasets.Dataset.from_dict(
        {"sentence1": [a for a, _, _ in PAIRS], "sentence2": [b for _, b, _ in PAIRS], "score": [s for *_, s in PAIRS]}
    )
    return encode_pairs(rows, tiny_tokenizer, ("sentence1", "sentence2"), "score", max_length=32)


def test_score_is_the_scaled_cosine_of_mean_pooled_embeddings(model, tiny_tokenizer):
    a = tiny_tokenizer(["ana are mere"], return_tensors="pt")
    b = tiny_tokenizer(["casa este mare si frumoasa"], return_tensors="pt")
    out = model(a["input_ids"], a["attention_mask"], b["input_ids"], b["attention_mask"])
    with torch.no_grad():
        ha = model.bert(input_ids=a["input_ids"]).last_hidden_state[0].mean(0)
        hb = model.bert(input_ids=b["input_ids"]).last_hidden_state[0].mean(0)
    cosine = float(ha @ hb / (ha.norm() * hb.norm()))
    assert out.scores.item() == pytest.approx(5.0 * cosine, abs=1e-5)


def test_mean_pool_averages_only_kept_positions():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    assert mean_pool(hidden, torch.tensor([[1, 1, 0]])).tolist() == [[2.0, 3.0]]


def test_padding_does_not_change_the_scores(model, pairs, tiny_tokenizer):
    collate = PairCollator(tiny_tokenizer)
    batch = collate(list(pairs.select(range(4)).remove_columns("length")))
    assert (batch["attention_mask"] == 0).any() and (batch["attention_mask_b"] == 0).any()  # both sides padded
    one_by_one = [predict_pairs(model, pairs.select([i]), collate, batch_size=1)[0] for i in range(4)]
    batched = predict_pairs(model, pairs.select(range(4)), collate, batch_size=4)
    assert batched == pytest.approx(one_by_one, abs=1e-5)


def test_save_and_load_keep_the_scores_and_the_score_range(tiny_bert_dir, pairs, tiny_tokenizer, tmp_path):
    model = BertForSentenceSimilarity.from_encoder(str(tiny_bert_dir), score_range=(1.0, 3.0)).eval()
    collate = PairCollator(tiny_tokenizer)
    model.save_pretrained(tmp_path)
    loaded = BertForSentenceSimilarity.from_pretrained(tmp_path).eval()
    assert loaded.config.score_range == [1.0, 3.0]
    assert predict_pairs(loaded, pairs, collate) == pytest.approx(predict_pairs(model, pairs, collate), abs=1e-6)


def test_loss_is_mse_of_cosine_against_the_rescaled_score(tiny_bert_dir, pairs, tiny_tokenizer):
    model = BertForSentenceSimilarity.from_encoder(str(tiny_bert_dir), score_range=(1.0, 3.0)).eval()
    batch = PairCollator(tiny_tokenizer)(list(pairs.select(range(4)).remove_columns("length")))
    batch["labels"] = torch.tensor([1.0, 3.0, 2.0, 1.5])
    out = model(**batch)
    cosine = (out.scores - 1.0) / 2.0
    expected = ((cosine - torch.tensor([0.0, 1.0, 0.5, 0.25])) ** 2).mean()
    assert out.loss.item() == pytest.approx(expected.item(), abs=1e-6)


def test_a_few_training_steps_reduce_the_loss(tiny_bert_dir, pairs, tiny_tokenizer):
    torch.manual_seed(0)
    model = BertForSentenceSimilarity.from_encoder(str(tiny_bert_dir)).eval()  # no dropout: losses comparable
    batch = PairCollator(tiny_tokenizer)(list(pairs.remove_columns("length")))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    first = model(**batch).loss.item()
    for _ in range(10):
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    assert model(**batch).loss.item() < 0.5 * first


def test_pair_scores_correlate_predictions_with_labels(model, pairs, tiny_tokenizer):
    scores = pair_scores(model, pairs, PairCollator(tiny_tokenizer))
    assert set(scores) == {"pearson", "spearman"} and -1.0 <= scores["pearson"] <= 1.0


def test_bad_inputs_raise_one_clear_error(tiny_bert_dir):
    with pytest.raises(ValueError, match="high > low"):
        BertForSentenceSimilarity.from_encoder(str(tiny_bert_dir), score_range=(5.0, 0.0))
    model = BertForSentenceSimilarity.from_encoder(str(tiny_bert_dir))
    with pytest.raises(ValueError, match="input_ids_b"):
        model(input_ids=torch.tensor([[2, 5, 3]]))
