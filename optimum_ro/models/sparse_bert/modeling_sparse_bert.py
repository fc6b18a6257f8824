"""Sparse BERT models for transformers' Auto classes: ``SparseBertModel`` and ``SparseBertFor*``.

They are the BERT classes of transformers with the encoder's linear layers that ``config.sparse_layers`` lists
stored as their non-zero blocks (``values`` / ``row_ptr`` / ``col_idx`` / ``scales`` tensors in
``model.safetensors``). This file and ``configuration_sparse_bert.py`` travel inside every saved folder, so

    model = AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True)

loads one anywhere. With optimum-ro installed the layers are its ``BlockSparseLinear`` (block-sparse CPU
kernels); without it they rebuild a dense weight once from the blocks (the same numbers at dense speed; one
warning says so). Keep this file self-contained: optimum-ro is imported only inside ``try:``.
"""

import inspect
import logging

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules import module as _nn_module
from transformers import initialization as init
from transformers.models.bert.modeling_bert import (
    ALL_ATTENTION_FUNCTIONS,
    BertForMaskedLM,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertLayer,
    BertModel,
    BertOutput,
    BertSelfAttention,
    BertSelfOutput,
    eager_attention_forward,
)

from .configuration_sparse_bert import SparseBertConfig

try:
    from optimum_ro.sparse import BlockSparseLinear as _KernelLinear
    from optimum_ro.sparse import PackedBlockSparse as _Packed
except ImportError:  # the folder is being loaded on a machine without optimum-ro
    _KernelLinear = _Packed = None
# whether the installed optimum-ro's layers take a LayerNorm into their kernel call (this file travels with saved
# folders and may meet an older optimum-ro)
_NORM_IN_KERNEL = _KernelLinear is not None and "layer_norm" in inspect.signature(_KernelLinear.forward).parameters

try:  # which outputs transformers' hooks are collecting in this forward (hidden states, attentions)
    from transformers.utils.output_capturing import _active_collector as _output_collector
except ImportError:  # another transformers: its hooks are then never assumed idle
    _output_collector = None

logger = logging.getLogger(__name__)
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "int8": torch.int8}
_warned = []


class DenseFallbackLinear(nn.Module):
    """The layer without optimum-ro: same tensors as ``BlockSparseLinear``, run as a dense weight rebuilt once."""

    def __init__(self, out_features, in_features, block_shape, dtype, nnz_blocks, bias=True, activation=None):
        super().__init__()
        self.out_features, self.in_features = out_features, in_features
        self.block_shape = tuple(block_shape)
        self.activation = activation or "none"
        br, bc = self.block_shape
        self.register_buffer("values", torch.zeros(nnz_blocks, br, bc, dtype=dtype, device="cpu"))
        self.register_buffer("row_ptr", torch.zeros(out_features // br + 1, dtype=torch.int32, device="cpu"))
        self.register_buffer("col_idx", torch.zeros(nnz_blocks, dtype=torch.int32, device="cpu"))
        self.register_buffer("scales", torch.ones(out_features, device="cpu") if dtype == torch.int8 else None)
        self.register_parameter(
            "bias", nn.Parameter(torch.zeros(out_features, device="cpu"), requires_grad=False) if bias else None
        )
        self._dense = None  # (the tensors it was built from, the dense weight)

    @classmethod
    def empty(cls, out_features, in_features, block_shape, dtype, nnz_blocks, bias=True, activation=None):
        """Same signature as ``BlockSparseLinear.empty``."""
        return cls(out_features, in_features, block_shape, dtype, nnz_blocks, bias, activation)

    def _apply(self, fn, recurse=True):
        # as BlockSparseLinear: ``model.to(dtype)`` leaves the stored blocks, bias and scales in their dtypes
        def keep_dtype(t):
            out = fn(t)
            return out if out.dtype == t.dtype else t.to(out.device)

        return super()._apply(keep_dtype, recurse)

    def dense_weight(self) -> torch.Tensor:
        # rebuilt when a tensor is replaced or changed in place (load_state_dict copies into the same tensors)
        key = tuple(
            (t, None if t is None else t._version) for t in (self.values, self.row_ptr, self.col_idx, self.scales)
        )
        if self._dense is None or any(a[0] is not b[0] or a[1] != b[1] for a, b in zip(self._dense[0], key)):
            br, bc = self.block_shape
            nrb, ncb = self.out_features // br, self.in_features // bc
            counts = (self.row_ptr[1:] - self.row_ptr[:-1]).long()
            if (
                int(self.row_ptr[0]) != 0
                or int(self.row_ptr[-1]) != self.values.shape[0]
                or bool((counts < 0).any())
                or (self.col_idx.numel() and not 0 <= int(self.col_idx.min()) <= int(self.col_idx.max()) < ncb)
            ):
                raise ValueError(f"corrupt block-sparse tensors in a [{self.out_features}, {self.in_features}] layer")
            blocks = torch.zeros(nrb, ncb, br, bc, dtype=torch.float32)
            blocks[torch.repeat_interleave(torch.arange(nrb), counts), self.col_idx.long()] = self.values.float()
            weight = blocks.permute(0, 2, 1, 3).reshape(self.out_features, self.in_features)
            if self.scales is not None:
                weight = weight * self.scales[:, None]
            self._dense = (key, weight)
        return self._dense[1]

    @property
    def weight(self) -> torch.Tensor:
        """The dense float32 weight (as ``BlockSparseLinear.weight``)."""
        return self.dense_weight()

    def forward(self, x):
        y = F.linear(x.float(), self.dense_weight(), self.bias)
        y = F.gelu(y) if self.activation == "gelu" else y
        return y if x.dtype == torch.float32 or not x.dtype.is_floating_point else y.to(x.dtype)


def sparse_linear_class():
    """``BlockSparseLinear`` (optimum-ro's kernels) where optimum-ro is installed, else ``DenseFallbackLinear``."""
    if _KernelLinear is not None:
        return _KernelLinear
    if not _warned:
        _warned.append(True)
        logger.warning(
            "optimum-ro is not installed: the sparse layers run as dense weights rebuilt from their "
            "blocks (same results, dense speed). `pip install optimum-ro` for the block-sparse kernels."
        )
    return DenseFallbackLinear


def _kernel_layers(*layers):
    """Whether every layer is optimum-ro's ``BlockSparseLinear`` (the fused forms below need its kernels)."""
    return _KernelLinear is not None and all(isinstance(layer, _KernelLinear) for layer in layers)


def _records_grad(x, *layers):
    """Whether autograd must see each layer's own call (grad mode on and an input or a parameter requires grad)."""
    return torch.is_grad_enabled() and (
        x.requires_grad
        or any(p is not None and p.requires_grad for layer in layers for p in layer._parameters.values())
    )


class SparseBertSelfAttention(BertSelfAttention):
    """``BertSelfAttention`` whose query, key and value run as one block-sparse op when all three are sparse layers
    of the same block shape and dtype: the input is read (and, for int8, quantised) once, and there is one call
    instead of three. The fused weight is the three stacked (``PackedBlockSparse.concat_rows``), built on first
    use and rebuilt when a tensor of the three layers is replaced or changed in place; the three layers stay the
    modules (and ``state_dict`` keys) they are. Calls that autograd records, decoder caches and ``torch.compile``
    take the separate layers."""

    def _fused_qkv(self, hidden_states):
        layers = (self.query, self.key, self.value)
        if torch.compiler.is_compiling() or not _kernel_layers(*layers) or _records_grad(hidden_states, *layers):
            return None  # compiled graphs keep the three ops as nodes (no Python cache checks to trace)
        tensors = tuple(
            t for layer in layers for t in (layer.values, layer.row_ptr, layer.col_idx, layer.scales, layer.bias)
        )
        if any(t is not None and t.is_inference() for t in tensors):
            return None  # no version counters to tell when the fused copy is stale
        state = tuple(None if t is None else t._version for t in tensors)
        cached = self.__dict__.get("_qkv")
        if cached is not None and cached[1] == state and all(a is b for a, b in zip(cached[0], tensors)):
            return cached[2]
        specs = {(layer.block_shape, layer.values.dtype, layer.activation, layer.bias is None) for layer in layers}
        if len(specs) != 1 or next(iter(specs))[2] != "none":
            return None
        # normal tensors even when the first call runs under inference_mode: inference tensors have no version
        # counter, so the kernel plan of a stacked weight made of them would be re-checked on every call
        with torch.inference_mode(False), torch.no_grad():
            packed = _Packed.concat_rows([layer.packed for layer in layers])
            bias = None if self.query.bias is None else torch.cat([layer.bias for layer in layers])
            fused = _KernelLinear(packed, bias).requires_grad_(False)
        self.__dict__["_qkv"] = (tensors, state, fused)  # not a submodule: no state_dict keys, no parameters
        return fused

    def forward(self, hidden_states, attention_mask=None, cache=None, **kwargs):
        fused = self._fused_qkv(hidden_states) if cache is None else None
        if fused is None:
            return super().forward(hidden_states, attention_mask, cache=cache, **kwargs)
        input_shape = hidden_states.shape[:-1]
        qkv = fused(hidden_states).view(*input_shape, 3, -1, self.attention_head_size)
        query, key, value = (qkv.select(-3, i).transpose(1, 2) for i in range(3))
        attention_interface = ALL_ATTENTION_FUNCTIONS.get_interface(
            self.config._attn_implementation, eager_attention_forward
        )
        attn_output, attn_weights = attention_interface(
            self,
            query,
            key,
            value,
            attention_mask,
            dropout=0.0 if not self.training else self.dropout.p,
            scaling=self.scaling,
            **kwargs,
        )
        return attn_output.reshape(*input_shape, -1).contiguous(), attn_weights


def _hooked(*modules) -> bool:
    """Whether a forward hook (global, or on one of ``modules``) must see the modules' own calls."""
    return bool(_nn_module._global_forward_hooks or _nn_module._global_forward_pre_hooks) or any(
        m._forward_hooks or m._forward_pre_hooks for m in modules
    )


class _ResidualInKernel:
    """``LayerNorm(dense(h) + input)`` of BERT's output modules as one sparse-kernel call whenever dropout is
    inactive: the residual added in the kernel's epilogue, then the LayerNorm run by the kernel on each output row
    (``BlockSparseLinear.forward``'s ``layer_norm``), so the output is written once and read by nothing else. The
    LayerNorm module stays (its parameters and ``state_dict`` keys); a hook on it gets the module's own call."""

    def forward(self, hidden_states, input_tensor):
        if not _kernel_layers(self.dense) or (self.training and self.dropout.p > 0):
            return super().forward(hidden_states, input_tensor)
        if not _NORM_IN_KERNEL or _hooked(self.LayerNorm):
            return self.LayerNorm(self.dense(hidden_states, residual=input_tensor))
        return self.dense(hidden_states, residual=input_tensor, layer_norm=self.LayerNorm)


class SparseBertSelfOutput(_ResidualInKernel, BertSelfOutput):
    pass


class SparseBertOutput(_ResidualInKernel, BertOutput):
    pass


_CAPTURE_HOOKS = "transformers.utils.output_capturing"  # the module of transformers' output-capturing hooks


def _hooks_allow_fusing(layer) -> bool:
    """Whether the modules inside ``layer`` may be skipped: none has a forward hook, or the only hooks are
    transformers' output-capturing ones and this forward collects nothing but hidden states (recorded by the hook
    on the layer itself, which still runs). Attentions, cross-attentions or any other hook need the module path."""
    if _nn_module._global_forward_hooks or _nn_module._global_forward_pre_hooks:
        return False
    capture_only = True
    stack = list(layer._modules.values())
    while stack:
        m = stack.pop()
        if m is None:
            continue
        if m._forward_pre_hooks:
            return False
        for hook in m._forward_hooks.values():
            capture_only = False
            if getattr(hook, "__module__", None) != _CAPTURE_HOOKS:
                return False
        stack.extend(m._modules.values())
    if capture_only:
        return True
    if _output_collector is None:
        return False
    collecting = _output_collector.get()
    return not collecting or all(k in ("hidden_states", "_hidden_states_layers") for k in collecting)


def fused_layer_forward(layer, hidden_states, attention_mask=None, **kwargs):
    """One encoder layer of a sparse BERT in inference, as one function calling the ops directly: the stacked Q/K/V
    kernel, the attention interface the model is configured with (SDPA by default), the attention-output kernel
    with the residual and LayerNorm in the call, the intermediate kernel (GELU fused, else the module's
    activation) and the output kernel with residual and LayerNorm (a layer left dense runs as torch's linear, add
    and LayerNorm). The same ops, in the same order, as the module-by-module forward of these classes in
    inference, without its dozen module calls per layer.

    Returns None when this path cannot honour the call, and the caller then runs the modules: gradients (grad mode
    on), training (dropout), ``torch.compile`` tracing, a decoder or cross-attention, chunked feed-forward,
    non-float32 or non-CPU hidden states, a Q/K/V that cannot be stacked into one sparse op (not all three
    optimum-ro sparse layers of one block shape and dtype), and any forward hook inside the layer other than
    transformers' idle output-capturing ones (so ``output_attentions=True`` runs the modules;
    ``output_hidden_states`` is recorded by the hook on the layer's own call)."""
    if (
        torch.is_grad_enabled()
        or layer.training
        or torch.compiler.is_compiling()
        or layer.is_decoder
        or layer.chunk_size_feed_forward
        or type(hidden_states) is not torch.Tensor
        or hidden_states.dtype is not torch.float32
        or not hidden_states.is_cpu
        or hidden_states.dim() != 3
    ):
        return None
    attention, intermediate, output = (layer._modules[k] for k in ("attention", "intermediate", "output"))
    self_attn, self_out = attention._modules["self"], attention._modules["output"]
    if (
        not isinstance(self_attn, SparseBertSelfAttention)
        or not isinstance(self_out, _ResidualInKernel)
        or not isinstance(output, _ResidualInKernel)
        or getattr(attention, "is_cross_attention", False)
        or self_attn.training
        or self_out.training
        or output.training
    ):
        return None
    if not _hooks_allow_fusing(layer):
        return None
    qkv = self_attn._fused_qkv(hidden_states)
    if qkv is None:
        return None
    batch, seq, _ = hidden_states.shape
    q, k, v = qkv(hidden_states).view(batch, seq, 3, -1, self_attn.attention_head_size).unbind(2)
    attention_interface = ALL_ATTENTION_FUNCTIONS.get_interface(
        self_attn.config._attn_implementation, eager_attention_forward
    )
    context, _ = attention_interface(
        self_attn,
        q.transpose(1, 2),
        k.transpose(1, 2),
        v.transpose(1, 2),
        attention_mask,
        dropout=0.0,
        scaling=self_attn.scaling,
        **kwargs,
    )
    h = _dense_residual_norm(self_out, context.reshape(batch, seq, -1), hidden_states)
    act = intermediate.intermediate_act_fn
    inner = intermediate._modules["dense"].forward(h)
    if not isinstance(act, nn.Identity):
        inner = act(inner)
    return _dense_residual_norm(output, inner, h)


def _dense_residual_norm(module, x, residual):
    """``LayerNorm(dense(x) + residual)`` of an output module (dropout inactive): one kernel call for a sparse
    ``dense``, torch's ops for a dense one (a layer its blocks do not divide stays ``nn.Linear``)."""
    dense, norm = module._modules["dense"], module._modules["LayerNorm"]
    if not _kernel_layers(dense):
        return norm.forward(dense.forward(x) + residual)
    if not _NORM_IN_KERNEL:
        return norm.forward(dense.forward(x, residual=residual))
    return dense.forward(x, residual=residual, layer_norm=norm)


class SparseBertLayer(BertLayer):
    """``BertLayer`` that runs ``fused_layer_forward`` in inference and the modules otherwise (see there). The layer's
    own call stays, so ``output_hidden_states`` (a hook on this module) works on both paths."""

    def forward(
        self,
        hidden_states,
        attention_mask=None,
        encoder_hidden_states=None,
        encoder_attention_mask=None,
        cache=None,
        **kwargs,
    ):
        if encoder_hidden_states is None and cache is None and kwargs.get("past_key_values") is None:
            out = fused_layer_forward(self, hidden_states, attention_mask, **kwargs)
            if out is not None:
                return out
        return super().forward(
            hidden_states,
            attention_mask,
            encoder_hidden_states,
            encoder_attention_mask=encoder_attention_mask,
            cache=cache,
            **kwargs,
        )


_FUSED_FORMS = {
    BertLayer: SparseBertLayer,
    BertSelfAttention: SparseBertSelfAttention,
    BertSelfOutput: SparseBertSelfOutput,
    BertOutput: SparseBertOutput,
}


def use_fused_forms(bert: BertModel) -> None:
    """Give the encoder's layers, attention and output modules the forwards above. They add no state (same
    submodules and tensors), only a forward, so each module's class is switched in place rather than rebuilt."""
    for module in bert.encoder.modules():
        fused = _FUSED_FORMS.get(type(module))
        if fused is not None:
            module.__class__ = fused


def install_sparse_layers(bert: BertModel, config: SparseBertConfig) -> None:
    """Replace the ``nn.Linear`` layers that ``config.sparse_layers`` names (inside ``bert``) by sparse layers of
    the stored structure, their contents to be loaded."""
    layer_cls = sparse_linear_class()
    for name, spec in (config.sparse_layers or {}).items():
        parent_name, _, child = name.rpartition(".")
        try:
            parent = bert.get_submodule(parent_name) if parent_name else bert
        except AttributeError:
            parent = None
        old = getattr(parent, child, None)
        if not isinstance(old, nn.Linear):
            raise ValueError(
                f"config.sparse_layers names {name!r}, which is not a linear layer of this BERT "
                f"(names are relative to the BertModel, e.g. 'encoder.layer.0.attention.self.query')"
            )
        if spec["activation"] == "gelu" and not hasattr(parent, "intermediate_act_fn"):
            raise ValueError(
                f"config.sparse_layers[{name!r}] fuses a GELU, but {parent_name!r} has no "
                "intermediate_act_fn to take it from"
            )
        layer = layer_cls.empty(
            old.out_features,
            old.in_features,
            spec["block_shape"],
            _DTYPES[spec["dtype"]],
            spec["nnz_blocks"],
            bias=spec["bias"],
            activation=spec["activation"],
        )
        setattr(parent, child, layer)
        if spec["activation"] == "gelu":
            parent.intermediate_act_fn = nn.Identity()
    use_fused_forms(bert)


def check_loaded_sparse_layers(model, missing_keys, source) -> None:
    """After loading: every sparse layer's tensors came from the checkpoint and form a valid block-sparse weight."""
    bert = model.base_model
    prefix = "" if bert is model else model.base_model_prefix + "."
    for name in model.config.sparse_layers or {}:
        layer = bert.get_submodule(name)
        wanted = ["values", "row_ptr", "col_idx"] + (["scales"] if layer.scales is not None else [])
        wanted += ["bias"] if layer.bias is not None else []
        absent = [prefix + name + "." + t for t in wanted if prefix + name + "." + t in missing_keys]
        if absent:
            raise ValueError(
                f"{source}: the checkpoint lacks {absent}, which config.sparse_layers needs "
                "(truncated or not a sparse BERT checkpoint?)"
            )
        if _Packed is not None:
            try:
                _Packed(
                    layer.values,
                    layer.row_ptr,
                    layer.col_idx,
                    (layer.out_features, layer.in_features),
                    layer.block_shape,
                    layer.scales,
                )
            except ValueError as err:
                raise ValueError(f"{source}: sparse layer {prefix + name}: {err}") from None
        else:
            try:
                layer.dense_weight()
            except ValueError as err:
                raise ValueError(f"{source}: sparse layer {prefix + name}: {err}") from None


def spread_block_indices(n_block_rows, n_block_cols, nnz_blocks):
    """A valid BSR structure of ``nnz_blocks`` blocks spread evenly: row ``r`` gets ``nnz // rows`` blocks (the first
    ``nnz % rows`` rows one more) at evenly spaced, strictly increasing columns. Returns ``(row_ptr, col_idx)``."""
    rows = max(n_block_rows, 1)
    counts = torch.full((n_block_rows,), nnz_blocks // rows, dtype=torch.int64)
    counts[: nnz_blocks % rows] += 1
    row_ptr = torch.zeros(n_block_rows + 1, dtype=torch.int64)
    row_ptr[1:] = torch.cumsum(counts, 0)
    rank = torch.arange(nnz_blocks) - torch.repeat_interleave(row_ptr[:-1], counts)  # position within its row
    col_idx = rank * n_block_cols // torch.repeat_interleave(counts, counts).clamp(min=1)
    return row_ptr.to(torch.int32), col_idx.to(torch.int32)


def init_sparse_layer(layer, std):
    """Give a sparse layer's tensors a valid structure and fresh contents, as ``_init_weights`` does for ``nn.Linear``
    (normal(0, std) weights, zero bias). Tensors already loaded (``_is_hf_initialized``) are left alone."""
    nnz, br, bc = layer.values.shape
    row_ptr, col_idx = spread_block_indices(layer.out_features // br, layer.in_features // bc, nnz)
    init.copy_(layer.row_ptr, row_ptr)
    init.copy_(layer.col_idx, col_idx)
    if layer.values.dtype == torch.int8:
        # uniform codes in [-127, 127] (standard deviation ~73.6) scaled to a weight standard deviation of std
        init.copy_(layer.values, torch.randint(-127, 128, layer.values.shape, dtype=torch.int8))
        init.constant_(layer.scales, std / 73.6)
    else:
        init.normal_(layer.values, mean=0.0, std=std)
    if layer.bias is not None:
        init.zeros_(layer.bias)


def _is_sparse_layer(module):
    return isinstance(module, DenseFallbackLinear) or (_KernelLinear is not None and isinstance(module, _KernelLinear))


class _SparseBertInit:
    """``_init_weights`` that also initialises the sparse layers: a model built on the meta device and moved with
    ``to_empty()`` (uninitialised memory) gets valid block indices from ``init_weights()``."""

    def _init_weights(self, module):
        super()._init_weights(module)
        if _is_sparse_layer(module):
            init_sparse_layer(module, self.config.initializer_range)

    @torch.no_grad()
    def initialize_weights(self):
        # The heads' encoder is a plain ``BertModel``, which transformers initialises with its own ``_init_weights``:
        # the sparse layers inside it are initialised here, with the same rule (modules already initialised, and
        # tensors already loaded, are skipped).
        pending = [m for m in self.modules() if _is_sparse_layer(m) and not getattr(m, "_is_hf_initialized", False)]
        super().initialize_weights()
        for module in pending:
            init_sparse_layer(module, self.config.initializer_range)


class _SparseBertLoading(_SparseBertInit):
    """``from_pretrained`` that refuses a checkpoint whose sparse layers are missing or corrupt, instead of running
    placeholder weights (transformers would only warn about missing tensors and initialise them)."""

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        want_info = kwargs.pop("output_loading_info", False)
        model, info = super().from_pretrained(pretrained_model_name_or_path, *args, output_loading_info=True, **kwargs)
        check_loaded_sparse_layers(model, set(info.get("missing_keys", ())), pretrained_model_name_or_path)
        return (model, info) if want_info else model


class SparseBertModel(_SparseBertLoading, BertModel):
    config_class = SparseBertConfig

    def __init__(self, config: SparseBertConfig, add_pooling_layer: bool = True):
        super().__init__(config, add_pooling_layer=add_pooling_layer)
        install_sparse_layers(self, config)


class SparseBertForSequenceClassification(_SparseBertLoading, BertForSequenceClassification):
    config_class = SparseBertConfig

    def __init__(self, config: SparseBertConfig):
        super().__init__(config)
        install_sparse_layers(self.bert, config)


class SparseBertForTokenClassification(_SparseBertLoading, BertForTokenClassification):
    config_class = SparseBertConfig

    def __init__(self, config: SparseBertConfig):
        super().__init__(config)
        install_sparse_layers(self.bert, config)


class SparseBertForMaskedLM(_SparseBertLoading, BertForMaskedLM):
    config_class = SparseBertConfig

    def __init__(self, config: SparseBertConfig):
        super().__init__(config)
        install_sparse_layers(self.bert, config)


__all__ = [
    "SparseBertModel",
    "SparseBertForSequenceClassification",
    "SparseBertForTokenClassification",
    "SparseBertForMaskedLM",
]
