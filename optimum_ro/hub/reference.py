"""A plain NumPy float64 BERT encoder: the independent oracle for converted checkpoints.

    hidden = bert_forward_numpy(tensors, config, input_ids, attention_mask)   # [batch, seq, hidden]
    sentence = mean_pool(hidden, attention_mask)
    cosines = cosine_matrix(sentence)

Post-LayerNorm BERT with absolute positions, token type 0 and exact (erf) GELU, written
from the BERT paper's equations rather than from transformers' code, so that agreement
with ``transformers.BertModel`` checks the converted weights, names and config together.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.special import erf


def _layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    centred = x - x.mean(axis=-1, keepdims=True)
    variance = (centred**2).mean(axis=-1, keepdims=True)
    return centred / np.sqrt(variance + eps) * gamma + beta


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def bert_forward_numpy(tensors: Mapping[str, np.ndarray], config: Mapping, input_ids, attention_mask) -> np.ndarray:
    """Last hidden state of a ``BertModel`` (no pooler) in float64.

    ``tensors`` uses ``BertModel`` state-dict names without a ``bert.`` prefix, Linear weights as
    ``[out, in]``; ``config`` needs ``hidden_size``, ``num_attention_heads``,
    ``num_hidden_layers`` and ``layer_norm_eps``.
    """

    def t(name):
        return np.asarray(tensors[name], dtype=np.float64)

    def linear(x, prefix):
        return x @ t(prefix + ".weight").T + t(prefix + ".bias")

    ids = np.asarray(input_ids)
    mask = np.asarray(attention_mask, dtype=np.float64)
    batch, length = ids.shape
    hidden, heads = config["hidden_size"], config["num_attention_heads"]
    head_dim, eps = hidden // heads, config["layer_norm_eps"]

    # gather the used embedding rows before widening: the e5 table alone is 96M values
    words = np.asarray(tensors["embeddings.word_embeddings.weight"])[ids].astype(np.float64)
    x = (
        words
        + t("embeddings.position_embeddings.weight")[:length][None]
        + t("embeddings.token_type_embeddings.weight")[0]
    )
    x = _layer_norm(x, t("embeddings.LayerNorm.weight"), t("embeddings.LayerNorm.bias"), eps)
    additive_mask = np.where(mask > 0, 0.0, -1e9)[:, None, None, :]

    def split_heads(y):
        return y.reshape(batch, length, heads, head_dim).transpose(0, 2, 1, 3)

    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        q = split_heads(linear(x, p + "attention.self.query"))
        k = split_heads(linear(x, p + "attention.self.key"))
        v = split_heads(linear(x, p + "attention.self.value"))
        weights = _softmax(q @ k.transpose(0, 1, 3, 2) / np.sqrt(head_dim) + additive_mask)
        context = (weights @ v).transpose(0, 2, 1, 3).reshape(batch, length, hidden)
        x = _layer_norm(
            x + linear(context, p + "attention.output.dense"),
            t(p + "attention.output.LayerNorm.weight"),
            t(p + "attention.output.LayerNorm.bias"),
            eps,
        )
        ffn = linear(_gelu(linear(x, p + "intermediate.dense")), p + "output.dense")
        x = _layer_norm(x + ffn, t(p + "output.LayerNorm.weight"), t(p + "output.LayerNorm.bias"), eps)
    return x


def mean_pool(hidden, attention_mask) -> np.ndarray:
    """Mean of the token vectors where ``attention_mask`` is 1 (sentence-transformers' pooling)."""
    m = np.asarray(attention_mask, dtype=np.float64)[..., None]
    return (np.asarray(hidden, dtype=np.float64) * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)


def cosine_matrix(vectors) -> np.ndarray:
    """Pairwise cosine similarities of the rows of ``vectors``."""
    v = np.asarray(vectors, dtype=np.float64)
    v = v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)
    return v @ v.T


def max_abs_diff(a, b, attention_mask) -> float:
    """Largest |a - b| over the real (unpadded) token positions of two ``[B, L, H]`` arrays."""
    keep = np.asarray(attention_mask).astype(bool)
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))[keep].max())
