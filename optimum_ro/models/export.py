"""From a block-pruned BERT to a sparse checkpoint that ``AutoModel`` loads, and back.

sparse = to_sparse_model(pruned, dtype=torch.int8)         # SparseBertFor*: the encoder's sparse linears packed
save_sparse_pretrained(pruned, "out", tokenizer=tok)       # the same, saved: config, safetensors, remote code, card
model = AutoModelForSequenceClassification.from_pretrained("out", trust_remote_code=True)   # runs on the kernels
dense = to_dense_model(model)                                # a plain BertFor* again (int8: dequantised)
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import torch
from torch import nn
from transformers import (
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    BertConfig,
    BertForMaskedLM,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
)

from ..sparse.format import (
    BlockShapeLike,
    PackedBlockSparse,
    _check_dtype,
    default_block_shape,
    pack,
    parse_block_shape,
)
from ..sparse.linear import _gelu_to_fuse, block_sparsity, warn_slow_layout
from .intent_slot import BertForIntentSlot
from .sparse_bert.configuration_sparse_bert import SparseBertConfig
from .sparse_bert.configuration_sparse_bert_intent_slot import SparseBertIntentSlotConfig
from .sparse_bert.modeling_sparse_bert import (
    SparseBertForMaskedLM,
    SparseBertForSequenceClassification,
    SparseBertForTokenClassification,
    SparseBertModel,
)
from .sparse_bert.modeling_sparse_bert_intent_slot import SparseBertForIntentSlot

logger = logging.getLogger(__name__)

# dense class -> sparse class (and back): the BERT heads the tasks of optimum-ro use
SPARSE_CLASSES = {
    BertModel: SparseBertModel,
    BertForSequenceClassification: SparseBertForSequenceClassification,
    BertForTokenClassification: SparseBertForTokenClassification,
    BertForMaskedLM: SparseBertForMaskedLM,
    BertForIntentSlot: SparseBertForIntentSlot,
}
DENSE_CLASSES = {sparse: dense for dense, sparse in SPARSE_CLASSES.items()}
_DENSE_BY_NAME = {sparse.__name__: dense for sparse, dense in DENSE_CLASSES.items()}
# the Auto class that loads each sparse class (registered by optimum_ro.models, written to every folder's auto_map)
AUTO_CLASSES = {
    AutoModel: SparseBertModel,
    AutoModelForSequenceClassification: SparseBertForSequenceClassification,
    AutoModelForTokenClassification: SparseBertForTokenClassification,
    AutoModelForMaskedLM: SparseBertForMaskedLM,
}
# transformers has no Auto class for joint intent + slot heads: its own config class (model_type
# sparse_bert_intent_slot) lets AutoModel load the head, where a sparse_bert folder's AutoModel is the bare encoder
INTENT_SLOT_AUTO_CLASSES = {AutoModel: SparseBertForIntentSlot}
_AUTO_BY_CONFIG = {SparseBertConfig: AUTO_CLASSES, SparseBertIntentSlotConfig: INTENT_SLOT_AUTO_CLASSES}
_NOT_CONFIG = ("model_type", "architectures", "auto_map", "transformers_version", "sparse_layers")


def sparse_layer_specs(
    bert: nn.Module,
    dtype=torch.float32,
    block_shape: Optional[BlockShapeLike] = None,
    min_sparsity: float = 0.5,
    skip: tuple[str, ...] = (),
    fuse_gelu: bool = True,
) -> dict[str, dict]:
    """``config.sparse_layers`` for the linear layers of ``bert`` (a ``BertModel``) worth storing sparse: those
    with at least ``min_sparsity`` zero blocks of ``block_shape`` (the rule of ``sparsify_model``)."""
    return {
        name: spec
        for name, (spec, _) in _pack_sparse_layers(bert, dtype, block_shape, min_sparsity, skip, fuse_gelu).items()
    }


def _pack_sparse_layers(
    bert, dtype, block_shape, min_sparsity, skip, fuse_gelu
) -> dict[str, tuple[dict, PackedBlockSparse]]:
    """Each layer to store sparse: its ``sparse_layers`` entry and its packed weight (packed once)."""
    dtype = _check_dtype(dtype)
    block = parse_block_shape(block_shape) if block_shape is not None else default_block_shape(dtype)
    layers = {}
    for name, module in bert.named_modules():
        if not isinstance(module, nn.Linear) or any(s in name for s in skip):
            continue
        n, k = module.weight.shape
        if n % block[0] or k % block[1] or block_sparsity(module.weight, block) < min_sparsity:
            continue
        parent_name, _, child = name.rpartition(".")
        parent = bert.get_submodule(parent_name) if parent_name else bert
        packed = pack(module.weight, block, dtype)
        warn_slow_layout(packed)
        layers[name] = (
            {
                "block_shape": list(block),
                "dtype": str(dtype).removeprefix("torch."),
                "nnz_blocks": packed.nnz_blocks,
                "bias": module.bias is not None,
                "activation": "gelu" if fuse_gelu and _gelu_to_fuse(parent, child) else "none",
            },
            packed,
        )
    return layers


def to_sparse_model(
    model: nn.Module,
    dtype=torch.float32,
    block_shape: Optional[BlockShapeLike] = None,
    min_sparsity: float = 0.5,
    skip: tuple[str, ...] = (),
    fuse_gelu: bool = True,
):
    """The ``SparseBert*`` twin of a block-pruned ``BertModel`` / ``BertFor{SequenceClassification,
    TokenClassification,MaskedLM}`` / optimum-ro's ``BertForIntentSlot``: every linear layer of its encoder (and
    pooler) with at least ``min_sparsity`` zero blocks is packed in ``dtype`` (float32 exact, bfloat16 rounded, int8
    per-channel quantised); everything else is copied as it is. The input model is not changed.
    ``block_shape=None``: 16x1 for float32/bfloat16, 1x4 for int8. With ``fuse_gelu`` the intermediate layers' GELU
    runs inside their kernels."""
    sparse_cls = SPARSE_CLASSES.get(type(model))
    if sparse_cls is None:
        supported = ", ".join(c.__name__ for c in SPARSE_CLASSES)
        raise ValueError(
            f"to_sparse_model supports {supported}; got {type(model).__name__} (for other "
            "architectures, optimum_ro.sparse.sparsify_model swaps the layers in memory)"
        )
    bert = model.base_model
    layers = _pack_sparse_layers(bert, dtype, block_shape, min_sparsity, skip, fuse_gelu)
    specs = {name: spec for name, (spec, _) in layers.items()}
    if not specs:
        block = parse_block_shape(block_shape) if block_shape is not None else default_block_shape(_check_dtype(dtype))
        raise ValueError(
            f"no linear layer of this {type(model).__name__} has >= {min_sparsity:.0%} zero "
            f"{block[0]}x{block[1]} blocks: prune it first (optimum_ro.pruning / optimum-ro prune, with "
            "this block shape), or lower min_sparsity"
        )
    config_dict = {k: v for k, v in model.config.to_dict().items() if k not in _NOT_CONFIG}
    config = sparse_cls.config_class(**config_dict, sparse_layers=specs)
    kwargs = {"add_pooling_layer": bert.pooler is not None} if sparse_cls is SparseBertModel else {}
    sparse = sparse_cls(config, **kwargs)
    prefix = "" if bert is model else model.base_model_prefix + "."
    state = dict(model.state_dict())
    for name, (spec, packed) in layers.items():
        del state[prefix + name + ".weight"]
        for key, tensor in packed.state_dict(prefix + name + ".").items():
            if key.rsplit(".", 1)[1] not in ("shape", "block_shape"):
                state[key] = tensor
        if spec["bias"]:
            state[prefix + name + ".bias"] = state[prefix + name + ".bias"].float()
    sparse.load_state_dict(state, strict=True)
    logger.info(
        "to_sparse_model: %d of the linear layers packed (%s, %s)",
        len(specs),
        specs[next(iter(specs))]["dtype"],
        "x".join(map(str, specs[next(iter(specs))]["block_shape"])),
    )
    return sparse.eval()


def is_sparse_bert(model) -> bool:
    """A ``SparseBert*`` model: ours, or the same classes loaded as remote code from a folder."""
    config = getattr(model, "config", None)
    model_types = {c.model_type for c in _AUTO_BY_CONFIG}
    return getattr(config, "model_type", None) in model_types and type(model).__name__ in _DENSE_BY_NAME


def auto_class(sparse_cls) -> type:
    """The transformers Auto class that loads a ``SparseBert*`` class from a saved folder."""
    return next(auto for table in _AUTO_BY_CONFIG.values() for auto, cls in table.items() if cls is sparse_cls)


def _auto_map(model_type: str) -> dict[str, str]:
    """``config.auto_map`` of a folder of this ``model_type``: each Auto class -> ``file.Class`` of the copied code."""
    config_cls = next(c for c in _AUTO_BY_CONFIG if c.model_type == model_type)
    entries = {"AutoConfig": config_cls, **{auto.__name__: cls for auto, cls in _AUTO_BY_CONFIG[config_cls].items()}}
    return {auto: f"{cls.__module__.rsplit('.', 1)[-1]}.{cls.__name__}" for auto, cls in entries.items()}


def to_dense_model(model: nn.Module):
    """The plain transformers BERT of a ``SparseBert*`` model: packed layers unpacked to ``nn.Linear`` (exact for
    float32 and bfloat16 storage, dequantised for int8), fused GELUs put back. Loads with any BERT code."""
    if not is_sparse_bert(model):
        raise ValueError(f"to_dense_model expects a SparseBert* model; got {type(model).__name__}")
    dense_cls = _DENSE_BY_NAME[type(model).__name__]
    config = BertConfig(**{k: v for k, v in model.config.to_dict().items() if k not in _NOT_CONFIG})
    bert = model.base_model
    kwargs = {"add_pooling_layer": bert.pooler is not None} if dense_cls is BertModel else {}
    dense = dense_cls(config, **kwargs)
    prefix = "" if bert is model else model.base_model_prefix + "."
    state = dict(model.state_dict())
    for name in model.config.sparse_layers:
        layer = bert.get_submodule(name)
        for key in ("values", "row_ptr", "col_idx", "scales"):
            state.pop(prefix + name + "." + key, None)
        state[prefix + name + ".weight"] = layer.weight.detach().clone()
    dense.load_state_dict(state, strict=True)
    return dense.eval()


def save_sparse_pretrained(
    model: nn.Module, save_directory, tokenizer=None, source: Optional[str] = None, **sparse_kwargs
) -> Path:
    """Save a block-pruned BERT (or a ``SparseBert*`` model) as a sparse checkpoint folder: ``config.json`` with
    ``sparse_layers`` and ``auto_map``, ``model.safetensors`` with the packed blocks, the two remote-code files
    (so ``AutoModel*.from_pretrained(folder, trust_remote_code=True)`` loads it), the tokenizer if given, and a
    ``README.md`` model card (naming ``source``, the pruned model, if given). ``sparse_kwargs`` go to
    ``to_sparse_model``."""
    from .model_card import write_sparse_card

    sparse = model if is_sparse_bert(model) else to_sparse_model(model, **sparse_kwargs)
    out = Path(save_directory)
    # every Auto class of its model type, as for any BERT folder (a head's checkpoint loads as the base model or
    # another head too); save_pretrained alone would list only the class of this head
    sparse.config.auto_map = _auto_map(sparse.config.model_type)
    sparse.save_pretrained(out)
    if tokenizer is not None:
        tokenizer.save_pretrained(out)
    write_sparse_card(out, sparse, source)
    return out
