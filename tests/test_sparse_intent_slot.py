"""The joint intent + slot head in the sparse family: pruned BertForIntentSlot -> sparse folder -> AutoModel
(trust_remote_code, and the dense fallback without optimum-ro) -> back; and IntentSlotPipeline's spans.

Tiny random models with 16x4 block zeros (sparse for both the 16x1 float blocks and the 1x4 int8 blocks)."""

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from test_sparse_models import pruned_bert
from transformers import AutoModel, BertConfig, BertForTokenClassification

from optimum_ro.models import (
    BertForIntentSlot,
    IntentSlotPipeline,
    SparseBertForIntentSlot,
    SparseBertIntentSlotConfig,
    bio_spans,
    save_sparse_pretrained,
    to_dense_model,
    to_sparse_model,
)
from optimum_ro.models.intent_slot_pipeline import slot_spans
from optimum_ro.sparse import BlockSparseLinear
from optimum_ro.testing import prune_random_blocks

ROOT = Path(__file__).resolve().parents[1]
INTENTS = ["alarma", "meteo", "muzica"]
SLOTS = ["O", "B-data", "I-data", "B-oras", "I-oras"]
IDS = torch.tensor([[2, 17, 33, 4, 51, 9, 77, 3], [2, 60, 61, 62, 8, 3, 0, 0]])
MASK = (IDS != 0).long()


def pruned_intent_slot(sparsity=0.75, seed=0, vocab_size=96):
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        max_position_embeddings=64,
    )
    config.intent_labels, config.slot_labels = INTENTS, SLOTS
    model = BertForIntentSlot(config).eval()
    prune_random_blocks(model.bert.encoder, sparsity, seed=seed)
    return model


def outputs(model, **labels):
    with torch.no_grad():
        out = model(input_ids=IDS, attention_mask=MASK, **labels)
    return out.intent_logits, out.slot_logits, out.loss


def test_a_pruned_intent_slot_model_round_trips_through_automodel_fp32(tmp_path):
    dense = pruned_intent_slot()
    save_sparse_pretrained(dense, tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "sparse_bert_intent_slot"
    assert config["intent_labels"] == INTENTS and config["slot_labels"] == SLOTS
    assert config["auto_map"] == {
        "AutoConfig": "configuration_sparse_bert_intent_slot.SparseBertIntentSlotConfig",
        "AutoModel": "modeling_sparse_bert_intent_slot.SparseBertForIntentSlot",
    }
    for name in (
        "modeling_sparse_bert_intent_slot.py",
        "configuration_sparse_bert_intent_slot.py",
        "modeling_sparse_bert.py",
        "configuration_sparse_bert.py",
    ):
        assert (tmp_path / name).exists(), name
    loaded = AutoModel.from_pretrained(tmp_path, trust_remote_code=True).eval()
    assert type(loaded) is SparseBertForIntentSlot
    assert len([m for m in loaded.modules() if isinstance(m, BlockSparseLinear)]) == 12
    labels = {
        "intent_labels": torch.tensor([0, 2]),
        "slot_labels": torch.tensor([[-100, 1, 2, 0, 3, -100, 0, -100]] * 2),
    }
    for got, want in zip(outputs(loaded, **labels), outputs(dense, **labels)):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    back = to_dense_model(loaded)
    assert type(back) is BertForIntentSlot and back.config.slot_labels == SLOTS
    for name, p in dense.state_dict().items():
        assert torch.equal(back.state_dict()[name], p), name


def test_int8_stays_within_quantisation_error(tmp_path):
    dense = pruned_intent_slot()
    save_sparse_pretrained(dense, tmp_path, dtype=torch.int8)
    loaded = AutoModel.from_pretrained(tmp_path, trust_remote_code=True)
    assert loaded.bert.encoder.layer[0].output.dense.values.dtype == torch.int8
    for got, want in zip(outputs(loaded)[:2], outputs(dense)[:2]):
        err = float((got - want).abs().max() / want.abs().max())
        assert 0 < err < 0.05
    assert torch.equal(outputs(to_sparse_model(dense, dtype=torch.int8))[1], outputs(loaded)[1])


@pytest.mark.parametrize("with_optimum_ro", [True, False], ids=["kernels", "dense-fallback"])
def test_a_fresh_process_loads_the_folder_as_remote_code(tmp_path, with_optimum_ro):
    dense = pruned_intent_slot()
    save_sparse_pretrained(dense, tmp_path / "sparse")
    intent, slots, _ = outputs(dense)
    torch.save({"ids": IDS, "mask": MASK, "intent": intent, "slots": slots}, tmp_path / "io.pt")
    script = f"""
import sys, torch
{"" if with_optimum_ro else 'sys.modules["optimum_ro"] = None  # as on a machine without optimum-ro'}
from transformers import AutoModel
io = torch.load({str(tmp_path / "io.pt")!r})
model = AutoModel.from_pretrained({str(tmp_path / "sparse")!r}, trust_remote_code=True).eval()
print("CLASS", type(model).__module__, type(model).__name__)
print("LAYER", type(model.bert.encoder.layer[0].output.dense).__name__)
print("LABELS", model.config.intent_labels, model.config.slot_labels)
with torch.no_grad():
    out = model(input_ids=io["ids"], attention_mask=io["mask"])
diff = max(float((out.intent_logits - io["intent"]).abs().max()), float((out.slot_logits - io["slots"]).abs().max()))
print("MAXDIFF", diff)
"""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules")}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = dict(line.split(" ", 1) for line in run.stdout.splitlines() if " " in line)
    module, name = lines["CLASS"].split()
    assert name == "SparseBertForIntentSlot" and module.startswith("transformers_modules.")  # the folder's copy
    assert lines["LAYER"] == ("BlockSparseLinear" if with_optimum_ro else "DenseFallbackLinear")
    assert lines["LABELS"] == f"{INTENTS} {SLOTS}"
    assert ("optimum-ro is not installed" in run.stderr) is not with_optimum_ro
    assert float(lines["MAXDIFF"]) < 1e-5


def test_a_model_loaded_as_remote_code_converts_and_saves_like_ours(tmp_path):
    from transformers.dynamic_module_utils import get_class_from_dynamic_module

    dense = pruned_intent_slot()
    save_sparse_pretrained(dense, tmp_path / "a", dtype=torch.bfloat16)
    remote_cls = get_class_from_dynamic_module(
        "modeling_sparse_bert_intent_slot.SparseBertForIntentSlot", str(tmp_path / "a")
    )
    assert remote_cls is not SparseBertForIntentSlot  # the copy in the folder, as another process sees it
    remote = remote_cls.from_pretrained(tmp_path / "a")
    back = to_dense_model(remote)
    assert type(back) is BertForIntentSlot
    torch.testing.assert_close(outputs(back)[1], outputs(remote)[1], rtol=1e-5, atol=1e-5)
    save_sparse_pretrained(remote, tmp_path / "b")  # saved as it is, not re-packed
    again = AutoModel.from_pretrained(tmp_path / "b", trust_remote_code=True)
    assert again.config.sparse_layers == remote.config.sparse_layers
    assert torch.equal(outputs(again)[1], outputs(remote)[1])


def test_the_sparsify_command_takes_a_pruned_intent_slot_folder(tmp_path):
    from optimum_ro.cli import main

    pruned_intent_slot().save_pretrained(tmp_path / "pruned")
    assert main(["sparsify", "--model", str(tmp_path / "pruned"), "--output", str(tmp_path / "sparse")]) == 0
    summary = json.loads((tmp_path / "sparse" / "sparsify_results.json").read_text())
    assert summary["class"] == "SparseBertForIntentSlot" and summary["sparse_layers"] == 12
    assert summary["max_abs_diff_vs_dense"] < 1e-5 < summary["max_abs_output_dense"]
    assert "AutoModel.from_pretrained" in (tmp_path / "sparse" / "README.md").read_text()


def test_models_without_intent_and_slot_labels_are_refused():
    plain = BertForTokenClassification(
        BertConfig(vocab_size=32, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    )
    with pytest.raises(ValueError, match="no config.intent_labels / config.slot_labels: IntentSlotPipeline needs"):
        IntentSlotPipeline(plain, tokenizer=None)
    with pytest.raises(ValueError, match="NoneType is a slow tokenizer"):
        IntentSlotPipeline(pruned_intent_slot(), tokenizer=None)
    config = to_sparse_model(pruned_intent_slot()).config.to_dict()
    config.pop("slot_labels")
    with pytest.raises(ValueError, match="SparseBertForIntentSlot needs config.intent_labels and config.slot_labels"):
        SparseBertForIntentSlot(SparseBertIntentSlotConfig(**{k: v for k, v in config.items() if k != "model_type"}))
    with pytest.raises(Exception, match="config.slot_labels must be a list of distinct names"):
        SparseBertIntentSlotConfig(intent_labels=INTENTS, slot_labels=["O", "B-x", "B-x"])
    with pytest.raises(ValueError, match="supports .*BertForIntentSlot"):
        to_sparse_model(torch.nn.Linear(4, 4))


# --- spans from tags ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tags, spans",
    [
        (["O", "B-data", "I-data", "O"], [("data", 1, 3)]),
        (["I-data", "I-data", "O"], [("data", 0, 2)]),  # an I- without a B- starts an entity
        (["O", "O", "B-oras"], [("oras", 2, 3)]),  # an entity at the end
        (["B-oras", "I-oras", "I-data"], [("oras", 0, 2), ("data", 2, 3)]),  # an I- of another type starts one
        (["B-oras", "B-oras", "I-oras"], [("oras", 0, 1), ("oras", 1, 3)]),
        (["O", "I-data", "O", "I-data"], [("data", 1, 2), ("data", 3, 4)]),
        ([], []),
    ],
)
def test_bio_spans_read_tags_as_seqeval_does(tags, spans):
    from seqeval.metrics.sequence_labeling import get_entities

    assert bio_spans(tags) == spans
    assert [(t, s, e + 1) for t, s, e in get_entities(tags)] == spans  # the scorer of slot F1


def test_slot_spans_index_the_original_string():
    text = "  pune alarma  mâine dimineață, în Cluj-Napoca?"
    tags = ["O", "O", "B-data", "I-data", "O", "B-oras"]
    slots = slot_spans(text, tags)
    assert slots == [
        {"type": "data", "value": "mâine dimineață", "start": 15, "end": 30},  # the comma is not part of it
        {"type": "oras", "value": "Cluj-Napoca", "start": 35, "end": 46},  # nor the question mark
    ]
    for slot in slots:
        assert text[slot["start"] : slot["end"]] == slot["value"]
    # a period stays (the data write times as "p. m."); a slot of punctuation alone keeps it
    assert slot_spans("la 7 p. m.", ["O", "B-data", "I-data", "I-data"])[0]["value"] == "7 p. m."
    assert slot_spans("da ?", ["O", "B-oras"])[0]["value"] == "?"
    with pytest.raises(ValueError, match="3 tags for 2 words"):
        slot_spans("două cuvinte", ["O", "O", "O"])
    with pytest.raises(ValueError, match="must be O, B-<type> or I-<type>; got 'X-oras'"):
        bio_spans(["O", "X-oras"])


class FixedTags(torch.nn.Module):
    """A stand-in joint model that predicts the given tag at each sub-token position (``O`` past them) and the
    given intent: the tags the pipeline reads are known in advance."""

    def __init__(self, position_tags, intent):
        super().__init__()
        self.config = SimpleNamespace(intent_labels=INTENTS, slot_labels=SLOTS)
        self.position_tags, self.intent = position_tags, intent
        self.anchor = torch.nn.Parameter(torch.zeros(()))  # the pipeline reads the device from a parameter

    def forward(self, input_ids, attention_mask):
        batch, length = input_ids.shape
        tags = torch.zeros(length, dtype=torch.long)
        tags[: len(self.position_tags)] = torch.tensor([SLOTS.index(t) for t in self.position_tags])[:length]
        slots = torch.nn.functional.one_hot(tags, len(SLOTS)).float().expand(batch, -1, -1) * 5
        intent = torch.nn.functional.one_hot(torch.tensor(INTENTS.index(self.intent)), len(INTENTS)).float() * 3
        return SimpleNamespace(intent_logits=intent.expand(batch, -1), slot_logits=slots)


def test_the_pipeline_tags_each_word_by_its_first_sub_token(tiny_tokenizer):
    text = "vremea mâine,  la Cluj?"
    pieces = [tiny_tokenizer.tokenize(w) for w in text.split()]
    assert len(pieces[1]) > 1 and len(pieces[3]) > 1  # the tagged words in sub-words, else the test proves nothing
    # [CLS], then each word's sub-tokens: tags on first sub-tokens count; a B- on a later one must not
    words = [["O"], ["B-data"], ["O"], ["I-oras"]]  # the last: an I- without a B-, at the end
    position_tags = ["O"] + [t for w, p in zip(words, pieces) for t in w + ["B-oras"] * (len(p) - 1)]
    nlu = IntentSlotPipeline(FixedTags(position_tags, "meteo"), tiny_tokenizer)
    result = nlu(text)
    assert result["intent"] == "meteo" and 0.5 < result["score"] <= 1
    assert result["slots"] == [
        {"type": "data", "value": "mâine", "start": 7, "end": 12},
        {"type": "oras", "value": "Cluj", "start": 18, "end": 22},
    ]
    empty = nlu("")
    assert empty == {"intent": "meteo", "score": result["score"], "slots": []}
    assert nlu([text, "", text]) == [result, empty, result]
    truncated = IntentSlotPipeline(FixedTags(position_tags, "meteo"), tiny_tokenizer, max_length=len(pieces[0]) + 3)
    assert truncated(text)["slots"] == [{"type": "data", "value": "mâine", "start": 7, "end": 12}]  # Cluj cut off
    with pytest.raises(ValueError, match="a string or a list of strings; got int"):
        nlu([text, 3])


def test_the_pipeline_gives_the_same_parse_on_the_dense_and_the_sparse_model(tmp_path, tiny_tokenizer):
    dense = pruned_intent_slot(vocab_size=len(tiny_tokenizer))
    save_sparse_pretrained(dense, tmp_path, tokenizer=tiny_tokenizer)
    sparse = AutoModel.from_pretrained(tmp_path, trust_remote_code=True)
    texts = ["pune o alarmă mâine la 7", "cum e vremea în Cluj-Napoca?", "cântă ceva"]
    dense_parse = IntentSlotPipeline(dense, tiny_tokenizer, batch_size=2)(texts)
    sparse_parse = IntentSlotPipeline(sparse, tiny_tokenizer)(texts)
    for d, s in zip(dense_parse, sparse_parse):
        assert d["intent"] == s["intent"] and d["slots"] == s["slots"] and d["score"] == pytest.approx(s["score"])
        assert d["intent"] in INTENTS
        for slot in d["slots"]:
            assert slot["type"] in ("data", "oras")
    assert sum(len(d["slots"]) for d in dense_parse) > 0  # a random head tags something


def test_a_model_pruned_80_percent_with_block_pruner_takes_the_whole_path(tmp_path, tiny_tokenizer):
    from optimum_ro.cli import main
    from optimum_ro.pruning import BlockPruningConfig, prune_model

    model = pruned_intent_slot(sparsity=0.0, vocab_size=len(tiny_tokenizer))
    pruned = prune_model(model, BlockPruningConfig(block_shape="16x1", target_sparsity=0.8))
    pruned.save_pretrained(tmp_path / "pruned")
    tiny_tokenizer.save_pretrained(tmp_path / "pruned")
    assert main(["sparsify", "--model", str(tmp_path / "pruned"), "--output", str(tmp_path / "sparse")]) == 0
    summary = json.loads((tmp_path / "sparse" / "sparsify_results.json").read_text())
    assert (
        summary["max_abs_diff_vs_dense"] < 1e-5
        and summary["weights_bytes"]["sparse"] < summary["weights_bytes"]["dense"]
    )
    sparse = AutoModel.from_pretrained(tmp_path / "sparse", trust_remote_code=True)
    for name, spec in sparse.config.sparse_layers.items():
        layer = sparse.bert.get_submodule(name)
        assert 1 - spec["nnz_blocks"] / (layer.out_features // 16 * layer.in_features) == pytest.approx(0.8, abs=0.02)
    texts = ["pune o alarmă mâine la 7", "cum e vremea în Cluj?"]
    for got, want in zip(
        IntentSlotPipeline(sparse, tiny_tokenizer)(texts), IntentSlotPipeline(pruned, tiny_tokenizer)(texts)
    ):
        assert got["intent"] == want["intent"] and got["slots"] == want["slots"]
        assert got["score"] == pytest.approx(want["score"], abs=1e-6)
    from_folders = [IntentSlotPipeline.from_pretrained(tmp_path / d)(texts) for d in ("sparse", "pruned")]
    assert from_folders[0] == IntentSlotPipeline(sparse, tiny_tokenizer)(texts)
    assert [r["slots"] for r in from_folders[1]] == [r["slots"] for r in from_folders[0]]
    with pytest.raises(ValueError, match="holds a 'sparse_bert' model, not a joint intent \\+ slot one"):
        save_sparse_pretrained(pruned_bert(), tmp_path / "classifier", tokenizer=tiny_tokenizer)
        IntentSlotPipeline.from_pretrained(tmp_path / "classifier")


def test_the_benchmark_scores_dense_and_sparse_twins_on_nlu_data(tmp_path, tiny_tokenizer):
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_intent_slot", ROOT / "benchmarks" / "bench_intent_slot.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    model = pruned_intent_slot(vocab_size=len(tiny_tokenizer))
    model.save_pretrained(tmp_path / "model")
    tiny_tokenizer.save_pretrained(tmp_path / "model")
    records = [  # made up
        {"tokens": ["pune", "o", "alarmă", "mâine"], "slots": ["O", "O", "O", "B-data"], "intent": "alarma"},
        {"tokens": ["cum", "e", "vremea", "în", "Cluj"], "slots": ["O", "O", "O", "O", "B-oras"], "intent": "meteo"},
        {"tokens": ["cântă", "ceva"], "slots": ["O", "O"], "intent": "muzica"},
    ]
    (tmp_path / "nlu").mkdir()
    (tmp_path / "nlu" / "dev.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records))
    (tmp_path / "nlu" / "labels.json").write_text(json.dumps({"intents": INTENTS, "slots": SLOTS}))
    args = ["--model", str(tmp_path / "model"), "--data", str(tmp_path / "nlu"), "--threads", "1", "--repeats", "2"]
    result = bench.main(args + ["--json", str(tmp_path / "r.json")])
    assert list(result["models"]) == ["dense", "sparse fp32 16x1", "sparse int8 1x4"]
    dense, fp32 = result["models"]["dense"], result["models"]["sparse fp32 16x1"]
    assert fp32["same_parse_as_dense"] == 1.0 and fp32["intent_accuracy"] == dense["intent_accuracy"]
    assert 0 <= result["models"]["sparse int8 1x4"]["slot_f1"] <= 1 and fp32["min_ms"] > 0
    assert dense["parameters"]["with_embeddings"] > dense["parameters"]["without_embeddings"] > 0
    assert json.loads((tmp_path / "r.json").read_text())["threads"] == 1
