"""Joint intent classification + slot filling: metrics, data, alignment, model, fine-tuning (made-up utterances)."""

import json

import pytest
import torch
from card_checks import load_card_metadata, result_metrics

from optimum_ro.metrics.nlu import nlu_scores
from optimum_ro.models.intent_slot import BertForIntentSlot
from optimum_ro.tasks.nlu import NLUDataError, NLULabels, collate_nlu, decode_nlu, encode_nlu, load_nlu

UTTERANCES = [
    ("aprinde lumina în bucătărie", "O O O B-loc", "aprindeLumina"),
    ("stinge lumina din dormitor", "O O O B-loc", "stingeLumina"),
    ("pune muzică de la Queen", "O O O O B-artist", "puneMuzica"),
    ("setează temperatura la douăzeci de grade", "O O O B-grade I-grade I-grade", "seteazaTemperatura"),
    ("aprinde becul din sufragerie mare", "O O O B-loc I-loc", "aprindeLumina"),
    ("oprește muzica", "O O", "opresteMuzica"),
]


def records(rows=UTTERANCES):
    return [{"tokens": t.split(), "slots": s.split(), "intent": i} for t, s, i in rows]


@pytest.fixture()
def nlu_dir(tmp_path):
    for split, rows in (("train", UTTERANCES * 4), ("dev", UTTERANCES[:3]), ("test", UTTERANCES[3:])):
        (tmp_path / f"{split}.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records(rows)))
    return tmp_path


def test_scores_by_hand():
    gold_i, gold_s = ["a", "b", "a", "c"], [["B-x", "I-x", "O"], ["O", "B-y"], ["O"], ["B-x", "O"]]
    pred_i = ["a", "b", "b", "c"]  # 3 of 4 intents
    pred_s = [["B-x", "I-x", "O"], ["O", "O"], ["O"], ["B-y", "O"]]  # entities: gold 3, predicted 2, 1 right
    s = nlu_scores(gold_i, pred_i, gold_s, pred_s)
    assert s["intent_accuracy"] == 0.75
    assert s["slot_f1"] == pytest.approx(2 * (1 / 2) * (1 / 3) / (1 / 2 + 1 / 3))
    assert s["semantic_accuracy"] == 0.25 and s["semantic_error_rate"] == 0.75  # only the first frame is whole
    assert nlu_scores(gold_i, gold_i, gold_s, gold_s)["semantic_error_rate"] == 0.0
    with pytest.raises(ValueError, match="utterance 1: 2 gold slot tags but 1 predicted"):
        nlu_scores(gold_i, pred_i, gold_s, [["B-x", "I-x", "O"], ["O"], ["O"], ["O", "O"]])
    with pytest.raises(ValueError, match="one entry per utterance"):
        nlu_scores(gold_i, pred_i[:3], gold_s, pred_s)


def test_load_validates_and_takes_labels_from_train(nlu_dir, tmp_path_factory):
    data = load_nlu(nlu_dir)
    assert sorted(data) == ["dev", "test", "train"] and len(data["train"]) == 24
    assert data.labels.slots == ("O", "B-artist", "B-grade", "I-grade", "B-loc", "I-loc")
    assert "opresteMuzica" in data.labels.intents
    bad = tmp_path_factory.mktemp("bad")
    (bad / "train.jsonl").write_text(json.dumps({"tokens": ["a", "b"], "slots": ["O"], "intent": "x"}))
    with pytest.raises(NLUDataError, match=r"train.jsonl:1: 2 tokens but 1 slot tags"):
        load_nlu(bad)
    (bad / "train.jsonl").write_text(json.dumps({"tokens": ["a"], "slots": ["LOC"], "intent": "x"}))
    with pytest.raises(NLUDataError, match="O, B-<type> or I-<type>"):
        load_nlu(bad)


def test_slot_labels_sit_on_first_subtokens_and_decode_back(tiny_tokenizer):
    labels = NLULabels.from_records(records())
    recs = records()
    enc = encode_nlu(recs, tiny_tokenizer, labels, max_length=64)
    for rec, feat, first in zip(recs, enc.features, enc.first_tokens):
        ids = [i for i in feat["slot_labels"] if i != -100]
        assert [labels.slots[i] for i in ids] == rec["slots"]
        assert [feat["slot_labels"][p] for p in first] == ids
        assert labels.intents[feat["intent_labels"]] == rec["intent"]
    # logits that put all mass on the gold tags at first sub-tokens decode to the gold strings
    batch = collate_nlu(enc.features)
    slot_logits = torch.full((*batch["slot_labels"].shape, len(labels.slots)), -5.0)
    gold = batch["slot_labels"].clamp(min=0)
    slot_logits.scatter_(2, gold[..., None], 5.0)
    intent_logits = torch.nn.functional.one_hot(batch["intent_labels"], len(labels.intents)).float()
    intents, slots = decode_nlu(intent_logits, slot_logits, enc, labels)
    assert intents == [r["intent"] for r in recs] and slots == [r["slots"] for r in recs]
    short = encode_nlu(recs, tiny_tokenizer, labels, max_length=4)  # words cut off: predicted O
    _, cut = decode_nlu(intent_logits, slot_logits[:, :4], short, labels)
    assert all(len(c) == len(r["slots"]) for c, r in zip(cut, recs)) and cut[3][-1] == "O"


def test_model_loss_is_intent_plus_weighted_slot_cross_entropy(tiny_bert_dir, tiny_tokenizer):
    labels = NLULabels.from_records(records())
    model = BertForIntentSlot.from_encoder(tiny_bert_dir, labels.intents, labels.slots, slot_loss_weight=0.5).eval()
    batch = collate_nlu(encode_nlu(records(), tiny_tokenizer, labels).features)
    out = model(**batch)
    f = torch.nn.functional
    expected = f.cross_entropy(out.intent_logits, batch["intent_labels"]) + 0.5 * f.cross_entropy(
        out.slot_logits.flatten(0, 1), batch["slot_labels"].flatten(), ignore_index=-100
    )
    torch.testing.assert_close(out.loss, expected)
    with pytest.raises(ValueError, match="needs config.intent_labels"):
        BertForIntentSlot.from_pretrained(tiny_bert_dir)


def test_finetune_learns_the_toy_data_and_saves_a_loadable_folder(tiny_bert_dir, nlu_dir, tmp_path):
    from optimum_ro.cli import main
    from optimum_ro.tasks.modeling import is_head_parameter

    assert is_head_parameter("intent_classifier.weight") and is_head_parameter("slot_classifier.bias")

    out = tmp_path / "nlu"
    args = [
        "finetune-nlu",
        "--model",
        str(tiny_bert_dir),
        "--data",
        str(nlu_dir),
        "--output",
        str(out),
        "--batch-size",
        "8",
        "--learning-rate",
        "2e-3",
        "--head-learning-rate",
        "2e-2",
        "--save-steps",
        "50",
    ]
    assert main(args + ["--max-steps", "100"]) == 0
    results = json.loads((out / "eval_results.json").read_text())
    assert results["train_steps"] == 100 and results["resumed_from"] is None and results["dev"]["examples"] == 3
    assert results["dev"]["intent_accuracy"] == 1.0 and results["dev"]["slot_f1"] > 0.5  # seen utterances
    assert main(args + ["--max-steps", "100"]) == 0  # the same command again: resumes from its last checkpoint
    again = json.loads((out / "eval_results.json").read_text())
    assert again["resumed_from"].endswith("checkpoint-100") and again["dev"] == {
        **results["dev"],
        "eval_seconds": again["dev"]["eval_seconds"],
    }
    assert "semantic error rate" in (out / "README.md").read_text()
    load_card_metadata(out, pipeline_tag="token-classification", base_model=tiny_bert_dir.name)
    assert result_metrics(out)[("dev", "intent_accuracy")] == 1.0
    model = BertForIntentSlot.from_pretrained(out)
    assert model.config.intent_labels == list(load_nlu(nlu_dir).labels.intents)


def test_the_evaluate_module_gives_the_same_scores():
    from pathlib import Path

    import evaluate

    module = str(Path(__file__).resolve().parents[1] / "optimum_ro" / "metrics" / "joint_nlu")
    refs = [{"intent": "a", "slots": ["B-x", "I-x", "O"]}, {"intent": "b", "slots": ["O", "B-y"]}]
    preds = [{"intent": "a", "slots": ["B-x", "I-x", "O"]}, {"intent": "a", "slots": ["O", "B-y"]}]
    got = evaluate.load(module).compute(predictions=preds, references=refs)
    assert got == nlu_scores(["a", "b"], ["a", "a"], [r["slots"] for r in refs], [p["slots"] for p in preds])
    assert got["intent_accuracy"] == 0.5 and got["slot_f1"] == 1.0 and got["semantic_error_rate"] == 0.5
