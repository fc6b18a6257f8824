"""``BlockSparseLinear``: a drop-in for ``nn.Linear`` whose weight is stored block-sparse.

layer = BlockSparseLinear.from_dense(linear, block_shape=(16, 1), dtype=torch.float32)
y = layer(x)                  # same as linear(x) (fp32: up to summation order)
model = sparsify_model(model, min_sparsity=0.5)   # swap every sparse-enough nn.Linear
"""

from __future__ import annotations

import logging
import warnings
from typing import Optional

import torch
from torch import nn

from .format import (
    FAST_BLOCK_SHAPES,
    BlockShapeLike,
    PackedBlockSparse,
    _check_dtype,
    block_sparsity,
    default_block_shape,
    pack,
    parse_block_shape,
)
from .kernels import extension_available
from .ops import ACTIVATIONS, KernelPlan, call_block_sparse_linear, layer_norm_args, plain_eager

logger = logging.getLogger(__name__)
_C_AVAILABLE = extension_available()


class BlockSparseLinear(nn.Module):
    """``y = act(x @ W.T + bias)`` with W kept as non-zero blocks (``values``, buffers ``row_ptr``, ``col_idx`` and,
    for int8, ``scales``). ``activation`` may be ``None`` or ``"gelu"`` (fused).

    Float32 / bfloat16 ``values`` and ``bias`` are trainable parameters, as ``nn.Linear``'s: gradients reach the
    stored blocks with the sparsity pattern fixed (see ``autograd.py``); int8 ``values`` are a buffer (codes cannot
    require gradients). Inference runs the kernels directly under ``torch.no_grad()`` / ``inference_mode()``;
    with grad mode on, a call goes through the op so that autograd records it."""

    def __init__(
        self, packed: PackedBlockSparse, bias: Optional[torch.Tensor] = None, activation: Optional[str] = None
    ):
        super().__init__()
        if activation not in (None, *ACTIVATIONS):
            raise ValueError(f"activation must be None or one of {ACTIVATIONS}; got {activation!r}")
        self.in_features = packed.in_features
        self.out_features = packed.out_features
        self.block_shape = packed.block_shape
        self.activation = activation or "none"
        if packed.values.is_floating_point():
            self.values = nn.Parameter(packed.values)
        else:
            self.register_buffer("values", packed.values)
        self.register_buffer("row_ptr", packed.row_ptr)
        self.register_buffer("col_idx", packed.col_idx)
        self.register_buffer("scales", packed.scales)
        if bias is not None:
            if tuple(bias.shape) != (self.out_features,):
                raise ValueError(f"bias must have shape [{self.out_features}]; got {list(bias.shape)}")
            self.bias = nn.Parameter(bias.detach().to(torch.float32).clone())
        else:
            self.register_parameter("bias", None)
        self._plan: Optional[KernelPlan] = None  # kernel arguments of the current buffers (built on first call)
        # Loaded tensors go straight to the C++ kernels: refuse corrupt ones before they are copied in.
        self.register_load_state_dict_pre_hook(BlockSparseLinear._validate_incoming)

    @classmethod
    def from_dense(
        cls,
        linear: nn.Linear,
        block_shape: Optional[BlockShapeLike] = None,
        dtype=torch.float32,
        activation: Optional[str] = None,
    ) -> "BlockSparseLinear":
        """Pack ``linear.weight`` (zeros already in place). ``block_shape=None`` picks the fast shape
        for the dtype: ``16x1`` for float32/bfloat16, ``1x4`` for int8. ``16x2``, ``4x1``, ``1x4`` and ``4x4`` also
        run fast for float32/bfloat16 and ``4x1`` for int8 (``FAST_BLOCK_SHAPES``); bf16 16x2 uses AVX512-BF16 dot
        products where the CPU has them (activations rounded to bf16 there; see ``kernels.bf16_dot_products``). Any
        other shape runs re-packed into a fast one (``PackedBlockSparse.kernel_layout``), with one warning per
        shape and dtype that says how much of the weight the kernel then reads (``sparsify_model`` keeps a layer
        dense where that is more than half)."""
        dtype = _check_dtype(dtype)
        block = parse_block_shape(block_shape) if block_shape is not None else default_block_shape(dtype)
        packed = pack(linear.weight, block, dtype)
        warn_slow_layout(packed)
        return cls(packed, linear.bias, activation)

    @classmethod
    def empty(
        cls,
        out_features: int,
        in_features: int,
        block_shape: BlockShapeLike,
        dtype,
        nnz_blocks: int,
        bias: bool = True,
        activation: Optional[str] = None,
    ) -> "BlockSparseLinear":
        """A layer with the structure of a stored one (``nnz_blocks`` blocks of ``block_shape`` in ``dtype``) and
        placeholder contents, for ``load_state_dict`` / ``from_pretrained`` to fill (and validate)."""
        packed = PackedBlockSparse.placeholder((out_features, in_features), block_shape, dtype, nnz_blocks)
        return cls(packed, torch.zeros(out_features, device="cpu") if bias else None, activation)

    def _apply(self, fn, recurse=True):
        # ``model.to(torch.bfloat16)`` / ``.half()`` cast a model's floating tensors; this layer's tensors keep their
        # dtypes (the blocks their storage dtype, bias and scales float32, as the kernels need) and only follow
        # device moves. Inputs of another dtype are cast to float32 in ``forward`` and the output back.
        def keep_dtype(t):
            out = fn(t)
            return out if out.dtype == t.dtype else t.to(out.device)

        return super()._apply(keep_dtype, recurse)

    @staticmethod
    def _validate_incoming(module, state_dict, prefix, *args) -> None:
        keys = ("values", "row_ptr", "col_idx")
        if all(prefix + k in state_dict for k in keys):
            PackedBlockSparse(
                *(state_dict[prefix + k] for k in keys),
                (module.out_features, module.in_features),
                module.block_shape,
                state_dict.get(prefix + "scales", module.scales),
            )

    @property
    def packed(self) -> PackedBlockSparse:
        return PackedBlockSparse(
            self.values,
            self.row_ptr,
            self.col_idx,
            (self.out_features, self.in_features),
            self.block_shape,
            self.scales,
        )

    @property
    def weight(self) -> torch.Tensor:
        """The dense float32 weight, rebuilt on each access (for inspection; not used by forward)."""
        return self.packed.unpack()

    @property
    def sparsity(self) -> float:
        return self.packed.sparsity

    def forward(
        self, x: torch.Tensor, residual: Optional[torch.Tensor] = None, layer_norm: Optional[nn.Module] = None
    ) -> torch.Tensor:
        """``act(x @ W.T + bias) + residual``, then ``layer_norm`` (an ``nn.LayerNorm`` over ``out_features``) when
        given: BERT's ``LayerNorm(dense(h) + input)`` as one call, the LayerNorm run by the C++ kernel on each
        output row right after the epilogue on the fast path (plain eager, nothing to record for autograd, float32
        LayerNorm parameters), by the module otherwise (same result within float32 rounding)."""
        # fast path: the weight validated once (KernelPlan), only the input is checked per call
        if _C_AVAILABLE and plain_eager(x) and not (torch.is_grad_enabled() and _trains(self._parameters)):
            plan = self._plan
            if plan is None or not plan.current(self._buffers, self._parameters):
                plan = None
                if type(self.values) in (torch.Tensor, nn.Parameter):
                    plan = self._plan = KernelPlan(
                        self.values,
                        self.row_ptr,
                        self.col_idx,
                        self.scales,
                        self.bias,
                        self.out_features,
                        self.in_features,
                        self.activation,
                    )
            ln = () if layer_norm is None else layer_norm_args(layer_norm, self.out_features)
            y = plan.run(x, residual, ln or ()) if plan is not None else None
            if y is not None:
                return y if ln is not None else layer_norm(y)
        dtype = x.dtype
        y = call_block_sparse_linear(
            x.float(),
            self.values,
            self.row_ptr,
            self.col_idx,
            self.scales,
            self.bias,
            None if residual is None else residual.float(),
            self.out_features,
            self.in_features,
            self.activation,
        )
        y = y if dtype == torch.float32 or not dtype.is_floating_point else y.to(dtype)
        return y if layer_norm is None else layer_norm(y)

    def to_dense(self) -> nn.Linear:
        """An ``nn.Linear`` with the unpacked (dequantised for int8) weight; the activation is not included."""
        linear = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None)
        with torch.no_grad():
            linear.weight.copy_(self.weight)
            if self.bias is not None:
                linear.bias.copy_(self.bias)
        return linear

    def extra_repr(self) -> str:
        br, bc = self.block_shape
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, "
            f"block_shape={br}x{bc}, dtype={str(self.values.dtype).replace('torch.', '')}, "
            f"sparsity={self.sparsity:.3f}, activation={self.activation}"
        )


def _trains(parameters: dict) -> bool:
    return any(p is not None and p.requires_grad for p in parameters.values())


_warned_layouts: set = set()


def slower_than_dense(packed: PackedBlockSparse) -> bool:
    """Whether the kernels would run this weight slower than ``nn.Linear``: its block shape has no fast kernel and
    either no fast shape divides it (the portable kernel, 6-20x slower than dense) or its re-packed layout reads more
    than half of the weight (measured in ``format.py``: re-packed at 34-82% of the weight, about dense speed)."""
    if packed.is_fast_layout:
        return False
    layout = packed.kernel_layout()
    return layout is packed or layout.density > 0.5


def warn_slow_layout(packed: PackedBlockSparse) -> None:
    """Warn once per (dtype, block shape) that has no fast kernel: the layer runs re-packed into a fast shape (its
    kernel layout), which reads more of the weight than the stored blocks; past half of it, no faster than dense."""
    key = (packed.dtype, packed.block_shape)
    if packed.is_fast_layout or key in _warned_layouts:
        return
    layout = packed.kernel_layout()
    if layout is not packed and layout.values.numel() <= packed.values.numel():
        return  # re-packed without stored zeros (int8 4x4 as 1x4): the kernel reads only the stored blocks
    _warned_layouts.add(key)
    dtype = str(packed.dtype).removeprefix("torch.")
    shape = "x".join(map(str, packed.block_shape))
    fast = " or ".join("x".join(map(str, b)) for b in FAST_BLOCK_SHAPES[packed.dtype])
    if layout is packed:
        consequence = "no fast shape divides this weight, so it runs on the portable kernel, 6-20x slower than dense"
    else:
        run = "x".join(map(str, layout.block_shape))
        consequence = (
            f"it runs re-packed as {run} blocks, reading {layout.density:.0%} of the weight (the {shape} blocks "
            f"hold {packed.density:.0%})"
        )
        if layout.density > 0.5:
            consequence += ": about dense speed or slower"
    warnings.warn(
        f"block shape {shape} has no fast {dtype} kernel: {consequence}. Prune with {fast} blocks to run at the "
        "stored sparsity (see FAST_BLOCK_SHAPES).",
        UserWarning,
        stacklevel=3,
    )


def _exact_gelu(act) -> bool:
    """Whether ``act`` is the exact (erf) GELU the kernels fuse: ``nn.GELU()`` or transformers' ``GELUActivation``
    (what ``hidden_act="gelu"`` gives). Tanh approximations and other activations are not."""
    if isinstance(act, nn.GELU):
        return act.approximate == "none"
    if type(act).__name__ == "GELUActivation":  # transformers.activations (not imported here)
        fn = getattr(act, "act", None)
        return fn is nn.functional.gelu or fn == getattr(act, "_gelu_python", None)
    return False


def _gelu_to_fuse(parent: nn.Module, child: str) -> bool:
    """BERT-family ``*Intermediate`` modules of transformers compute ``intermediate_act_fn(dense(x))``: when that
    activation is the exact GELU, the kernel of ``dense`` can apply it while the output tile is in registers."""
    return (
        child == "dense"
        and type(parent).__name__.endswith("Intermediate")
        and _exact_gelu(getattr(parent, "intermediate_act_fn", None))
    )


def sparsify_model(
    model: nn.Module,
    block_shape: Optional[BlockShapeLike] = None,
    dtype=torch.float32,
    min_sparsity: float = 0.5,
    skip: tuple[str, ...] = (),
    fuse_gelu: bool = True,
) -> nn.Module:
    """Swap every ``nn.Linear`` whose weight has at least ``min_sparsity`` zero blocks (and whose shape
    the block divides) for a ``BlockSparseLinear``, in place. A block shape without a fast kernel runs re-packed
    into a fast one (``PackedBlockSparse.kernel_layout``), with one warning per shape that says how much of the
    weight the kernel then reads; a layer whose re-packed layout would read more than half of its weight (or that
    no fast shape divides) stays ``nn.Linear``, being faster so, with a warning that names it (``slower_than_dense``;
    the names go to ``model.kept_dense_modules``). Names containing any ``skip``
    string stay dense. With ``fuse_gelu``, the exact GELU after the ``dense`` layer of a BERT-family ``*Intermediate``
    module runs inside that layer's kernel (its ``intermediate_act_fn`` becomes ``nn.Identity``; torch's
    separate GELU pass costs more than the kernel's). Returns the model; the swapped names are logged and
    stored in ``model.sparsified_modules``, the layers that took their GELU in ``model.fused_gelu_modules``."""
    dtype = _check_dtype(dtype)
    block = parse_block_shape(block_shape) if block_shape is not None else default_block_shape(dtype)
    swapped, fused, kept = [], [], []
    for name, module in list(model.named_modules()):
        if not isinstance(module, nn.Linear) or any(s in name for s in skip):
            continue
        n, k = module.weight.shape
        if n % block[0] or k % block[1]:
            continue
        if block_sparsity(module.weight, block) < min_sparsity:
            continue
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        packed = pack(module.weight, block, dtype)
        if slower_than_dense(packed):
            kept.append(name)
            continue
        warn_slow_layout(packed)
        fuse = fuse_gelu and _gelu_to_fuse(parent, child)
        setattr(parent, child, BlockSparseLinear(packed, module.bias, activation="gelu" if fuse else None))
        if fuse:
            parent.intermediate_act_fn = nn.Identity()
            fused.append(name)
        swapped.append(name)
    logger.info(
        "sparsify_model: %d linear layers swapped to BlockSparseLinear (%s), %d with their GELU fused",
        len(swapped),
        ", ".join(swapped),
        len(fused),
    )
    if kept:
        shape = "x".join(map(str, block))
        fast = " or ".join("x".join(map(str, b)) for b in FAST_BLOCK_SHAPES[dtype])
        warnings.warn(
            f"sparsify_model kept {len(kept)} layer(s) dense ({', '.join(kept)}): block shape {shape} has no fast "
            f"{str(dtype).removeprefix('torch.')} kernel, and re-packed into a fast one these layers would read "
            "more than half of their weight (or run on the portable kernel), slower than nn.Linear. Prune with "
            f"{fast} blocks to run them sparse.",
            UserWarning,
            stacklevel=2,
        )
    model.sparsified_modules = swapped
    model.fused_gelu_modules = fused
    model.kept_dense_modules = kept
    return model
