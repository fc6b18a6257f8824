"""``SparseBertConfig``: a ``BertConfig`` that also says which encoder layers are stored block-sparse.

This file and ``modeling_sparse_bert.py`` are copied into every saved sparse BERT folder, so that
``AutoModel.from_pretrained(folder, trust_remote_code=True)`` loads it; keep both self-contained (no imports
from the rest of optimum-ro outside ``try:``).

    config.sparse_layers["encoder.layer.0.intermediate.dense"]
    # {"block_shape": [16, 1], "dtype": "float32", "nnz_blocks": 1843, "bias": True, "activation": "gelu"}
"""

from huggingface_hub.dataclasses import strict
from transformers import BertConfig

SPARSE_DTYPES = ("float32", "bfloat16", "int8")
SPARSE_ACTIVATIONS = ("none", "gelu")
_SPEC_KEYS = {"block_shape", "dtype", "nnz_blocks", "bias", "activation"}


@strict
class SparseBertConfig(BertConfig):
    r"""``BertConfig`` plus ``sparse_layers``: for each linear layer of the encoder stored as non-zero blocks, keyed
    by its name inside the ``BertModel`` (e.g. ``"encoder.layer.3.output.dense"``), its ``block_shape``
    ``[rows, cols]``, storage ``dtype`` (``"float32"``, ``"bfloat16"`` or ``"int8"``), ``nnz_blocks`` (the number
    of stored blocks, which fixes the checkpoint's tensor shapes), ``bias`` and the fused ``activation``
    (``"gelu"`` on an intermediate layer whose GELU runs inside the kernel, else ``"none"``)."""

    model_type = "sparse_bert"

    sparse_layers: dict | None = None

    def validate_sparse_layers(self):
        """Refuse a malformed ``sparse_layers`` entry with an error that names it."""
        for name, spec in (self.sparse_layers or {}).items():
            where = f"config.sparse_layers[{name!r}]"
            if not isinstance(spec, dict) or set(spec) != _SPEC_KEYS:
                raise ValueError(f"{where} must be a dict with exactly the keys {sorted(_SPEC_KEYS)}; got {spec!r}")
            block = spec["block_shape"]
            if (
                not isinstance(block, (list, tuple))
                or len(block) != 2
                or not all(isinstance(v, int) and v >= 1 for v in block)
            ):
                raise ValueError(f"{where}['block_shape'] must be two positive integers [rows, cols]; got {block!r}")
            if spec["dtype"] not in SPARSE_DTYPES:
                raise ValueError(f"{where}['dtype'] must be one of {SPARSE_DTYPES}; got {spec['dtype']!r}")
            if not isinstance(spec["nnz_blocks"], int) or spec["nnz_blocks"] < 0:
                raise ValueError(f"{where}['nnz_blocks'] must be a non-negative integer; got {spec['nnz_blocks']!r}")
            if not isinstance(spec["bias"], bool):
                raise ValueError(f"{where}['bias'] must be true or false; got {spec['bias']!r}")
            if spec["activation"] not in SPARSE_ACTIVATIONS:
                raise ValueError(
                    f"{where}['activation'] must be one of {SPARSE_ACTIVATIONS}; got {spec['activation']!r}"
                )


__all__ = ["SparseBertConfig"]
