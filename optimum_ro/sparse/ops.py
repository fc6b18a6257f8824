"""The one op: ``torch.ops.optimum_ro.block_sparse_linear`` (C++ kernels or the pure-torch reference).

packed = pack(weight, "16x1", torch.float32)
y = block_sparse_linear(x, packed, bias, activation="gelu")       # x [..., K] fp32 -> y [..., N]
torch.compile(lambda x: block_sparse_linear(x, packed))(x)        # has a fake kernel: compile/export work
"""

from __future__ import annotations

import weakref
from typing import Optional

import torch

from . import kernels
from .format import FAST_BLOCK_SHAPES, PackedBlockSparse, check_block_indices
from .reference import reference_block_sparse_linear

ACTIVATIONS = ("none", "gelu")
_CHECKED = "_optimum_ro_checked_indices"  # attribute of a col_idx tensor: the state its indices were checked in
_LAYOUT = "_optimum_ro_kernel_layout"  # attribute of a values tensor: its re-packing for the fast kernels


def versions(*tensors: Optional[torch.Tensor]) -> Optional[tuple]:
    """The version counters of ``tensors`` (None entries stay None): any in-place change bumps one. None when one is
    an inference tensor, which has no counter (its contents are then checked on every call)."""
    if any(t is not None and t.is_inference() for t in tensors):
        return None
    return tuple(None if t is None else t._version for t in tensors)


def check_indices(values, row_ptr, col_idx, out_features: int, in_features: int) -> None:
    """``format.check_block_indices`` for the op's tensors, run only when they changed: the result is remembered on
    ``col_idx`` with the tensors' identities and version counters, so unchanged weights cost an attribute read."""
    br, bc = values.shape[1], values.shape[2]
    state = (versions(row_ptr, col_idx), values.shape[0], br, bc, out_features, in_features)
    seen = getattr(col_idx, _CHECKED, None)
    if seen is not None and seen[0]() is row_ptr and seen[1] == state and state[0] is not None:
        return
    check_block_indices(row_ptr, col_idx, values.shape[0], out_features // br, in_features // bc)
    if state[0] is not None:
        setattr(col_idx, _CHECKED, (weakref.ref(row_ptr), state))


def _check(x, values, row_ptr, col_idx, scales, bias, residual, out_features, in_features, activation) -> None:
    """Shape/dtype checks that need no tensor data (so they also run on fake tensors)."""
    if x.dtype != torch.float32:
        raise TypeError(f"block_sparse_linear expects float32 input; got {x.dtype} (cast with x.float())")
    if x.dim() < 1 or x.shape[-1] != in_features:
        raise ValueError(
            f"input has {x.shape[-1] if x.dim() else 'no'} features in its last dim; the weight expects {in_features}"
        )
    if x.device.type != "cpu":
        raise ValueError(f"block_sparse_linear runs on CPU; got a tensor on {x.device}")
    if values.dtype not in (torch.float32, torch.bfloat16, torch.int8) or values.dim() != 3:
        raise TypeError(
            "values must be a [nnz_blocks, rows, cols] float32/bfloat16/int8 "
            f"tensor; got {values.dtype} {list(values.shape)}"
        )
    br, bc = values.shape[1], values.shape[2]
    if out_features % br or in_features % bc:
        raise ValueError(f"block shape {br}x{bc} does not divide the weight [{out_features}, {in_features}]")
    if row_ptr.dtype != torch.int32 or col_idx.dtype != torch.int32:
        raise TypeError(f"row_ptr and col_idx must be int32; got {row_ptr.dtype} and {col_idx.dtype}")
    if row_ptr.numel() != out_features // br + 1 or col_idx.numel() != values.shape[0]:
        raise ValueError("row_ptr/col_idx do not match values and out_features (use PackedBlockSparse to build them)")
    if values.dtype == torch.int8:
        if scales is None or scales.dtype != torch.float32 or tuple(scales.shape) != (out_features,):
            raise ValueError(f"int8 weights need float32 scales of shape [{out_features}]")
    if bias is not None and (bias.dtype != torch.float32 or tuple(bias.shape) != (out_features,)):
        raise ValueError(f"bias must be float32 of shape [{out_features}]; got {bias.dtype} {list(bias.shape)}")
    if residual is not None and (
        residual.dtype != torch.float32 or tuple(residual.shape) != (*x.shape[:-1], out_features)
    ):
        raise ValueError(
            f"residual must be float32 of shape {[*x.shape[:-1], out_features]}; "
            f"got {residual.dtype} {list(residual.shape)}"
        )
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}; got {activation!r}")


def kernel_tensors(values, row_ptr, col_idx, scales, out_features: int, in_features: int) -> tuple:
    """``(values, row_ptr, col_idx, scales)`` as the C++ kernels run them: these tensors when their block shape has a
    fast kernel, else their re-packing into a fast shape (``PackedBlockSparse.kernel_layout``), made once and kept
    on ``values`` until one of the four tensors is replaced or changed in place."""
    if tuple(values.shape[1:]) in FAST_BLOCK_SHAPES[values.dtype]:
        return values, row_ptr, col_idx, scales
    tensors = (values, row_ptr, col_idx, scales)
    state = (versions(*tensors), out_features, in_features)
    seen = getattr(values, _LAYOUT, None)
    if (
        seen is not None
        and state[0] is not None
        and seen[1] == state
        and all(ref is None if t is None else ref() is t for ref, t in zip(seen[0], tensors[1:]))
    ):
        return seen[2]
    stored = PackedBlockSparse(
        values.detach(),
        row_ptr,
        col_idx,
        (out_features, in_features),
        tuple(values.shape[1:]),
        None if scales is None else scales.detach(),
    )
    layout = stored.kernel_layout()
    result = (layout.values, layout.row_ptr, layout.col_idx, layout.scales)
    if state[0] is not None:
        refs = tuple(None if t is None else weakref.ref(t) for t in tensors[1:])
        setattr(values, _LAYOUT, (refs, state, result))
    return result


def _block_sparse_linear_impl(
    x: torch.Tensor,
    values: torch.Tensor,
    row_ptr: torch.Tensor,
    col_idx: torch.Tensor,
    scales: Optional[torch.Tensor],
    bias: Optional[torch.Tensor],
    residual: Optional[torch.Tensor],
    out_features: int,
    in_features: int,
    activation: str,
) -> torch.Tensor:
    """``act(x @ W.T + bias) + residual``, W block-sparse (BSR tensors of a ``PackedBlockSparse``)."""
    _check(x, values, row_ptr, col_idx, scales, bias, residual, out_features, in_features, activation)
    check_indices(values, row_ptr, col_idx, out_features, in_features)
    lead = x.shape[:-1]
    x2 = x if x.dim() == 2 and x.is_contiguous() else x.reshape(-1, in_features).contiguous()
    res2 = residual.reshape(-1, out_features).contiguous() if residual is not None else None
    isa = kernels.current_isa()
    if isa == "reference":
        y = reference_block_sparse_linear(x2, values, row_ptr, col_idx, scales, bias, res2, out_features, activation)
        return y.reshape(*lead, out_features)
    out = torch.empty(x2.shape[0], out_features, dtype=torch.float32)
    if x2.shape[0] == 0:
        return out.reshape(*lead, out_features)
    values, row_ptr, col_idx, scales = kernel_tensors(values, row_ptr, col_idx, scales, out_features, in_features)
    kernels.run_kernel(
        isa,
        x2,
        values.detach().contiguous(),
        row_ptr.contiguous(),
        col_idx.contiguous(),
        scales.detach().contiguous() if scales is not None else None,
        bias.contiguous() if bias is not None else None,
        res2,
        out,
        activation,
    )
    return out if x.dim() == 2 else out.reshape(*lead, out_features)


block_sparse_linear_op = torch.library.custom_op("optimum_ro::block_sparse_linear", mutates_args=())(
    _block_sparse_linear_impl
)


def plain_eager(x: torch.Tensor) -> bool:
    """True outside compile/export tracing and tensor subclasses, for an input that needs no gradient: then the op's
    Python dispatch (~50 us per call) can be skipped by calling the implementation directly."""
    return (
        type(x) is torch.Tensor
        and not torch.compiler.is_compiling()
        and torch._C._len_torch_dispatch_stack() == 0
        and not (x.requires_grad and torch.is_grad_enabled())
    )


def needs_grad(*tensors: Optional[torch.Tensor]) -> bool:
    """Whether autograd must record a call on ``tensors`` (grad mode on and one of them requires grad): such calls
    go through the op, whose backward is registered (``autograd.py``)."""
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def layer_norm_args(layer_norm, features: int) -> Optional[tuple]:
    """The C++ LayerNorm's arguments (``kernels.launch``) for ``layer_norm`` (an ``nn.LayerNorm``, or anything with
    its ``normalized_shape``, ``weight``, ``bias`` and ``eps``) over rows of ``features``, or None when the C++ pass
    cannot stand in for it: another shape, parameters that are not plain contiguous float32 CPU tensors, or a
    gradient to record. The caller then runs the module itself."""
    shape = getattr(layer_norm, "normalized_shape", None)
    if shape is None or tuple(shape) != (features,):
        return None
    weight, bias = layer_norm.weight, layer_norm.bias
    for t in (weight, bias):
        if t is not None and (
            type(t) not in (torch.Tensor, torch.nn.Parameter)
            or t.dtype is not torch.float32
            or not t.is_cpu
            or t.dim() != 1
            or t.shape[0] != features
            or not t.is_contiguous()
        ):
            return None
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (weight, bias)):
        return None
    return (1, kernels.ptr(weight), kernels.ptr(bias), float(layer_norm.eps))


def layer_norm(x: torch.Tensor, module) -> torch.Tensor:
    """``module(x)`` for an ``nn.LayerNorm`` over ``x``'s last dim, through the C++ pass (the one the sparse
    kernels run after their epilogue) for a plain eager float32 CPU input, else through the module."""
    args = None
    if type(x) is torch.Tensor and x.dtype is torch.float32 and x.is_cpu and x.dim() >= 1 and plain_eager(x):
        args = layer_norm_args(module, x.shape[-1])
    isa = kernels.current_isa() if args is not None else "reference"
    if isa == "reference":
        return module(x)
    n = x.shape[-1]
    x2 = x.reshape(-1, n)
    x2 = x2 if x2.is_contiguous() else x2.contiguous()
    out = torch.empty(x2.shape, dtype=torch.float32)
    if x2.shape[0]:
        kernels.launch_layer_norm(isa, x2, out, args, kernels.thread_count(x2.numel()))
    return out.reshape(x.shape)


class KernelPlan:
    """The packed weight's arguments for the C++ kernel, validated once.

    ``BlockSparseLinear`` keeps one; ``run`` then checks only the input, and the module rebuilds the plan
    when a buffer was replaced (``.to()``, ``to_empty()``, assignment) or its indices changed in place (their
    version counters moved), so the per-call cost is a few microseconds instead of the full validation
    (~25 us, which dominates small layers) and no index the kernel follows is ever unchecked."""

    __slots__ = (
        "buffers",
        "_alive",
        "_index_versions",
        "_copied",
        "weight_args",
        "activation",
        "work",
        "out_features",
        "in_features",
    )

    def __init__(self, values, row_ptr, col_idx, scales, bias, out_features, in_features, activation):
        _check(
            torch.empty(0, in_features),
            values,
            row_ptr,
            col_idx,
            scales,
            bias,
            None,
            out_features,
            in_features,
            activation,
        )
        check_indices(values, row_ptr, col_idx, out_features, in_features)
        self.buffers = (values, row_ptr, col_idx, scales, bias)  # the module's own tensors, for ``current``
        run = (*kernel_tensors(values, row_ptr, col_idx, scales, out_features, in_features), bias)
        self._alive = tuple(t if t is None else t.contiguous() for t in run)  # what the pointers point to
        # None (inference tensors, which have no version counter): ``current`` is False, every call re-checks
        self._index_versions = versions(*self.buffers)
        # tensors the kernel reads through a copy (re-packed or made contiguous): an in-place change to them must
        # rebuild the copy
        self._copied = ()
        if self._index_versions is not None:
            self._copied = tuple(
                (t, t._version) for t, a in zip(self.buffers, self._alive) if t is not None and a is not t
            )
        self.weight_args = kernels.weight_args(*self._alive)
        self.activation = kernels._ACTIVATIONS[activation]
        self.work = self._alive[0].numel()
        self.out_features, self.in_features = out_features, in_features

    def current(self, buffers: dict, parameters: dict) -> bool:
        """Whether the module still holds the tensors this plan points into, with its block indices unchanged, read
        from its own ``_buffers`` / ``_parameters`` dicts (no ``nn.Module.__getattr__`` per tensor: this runs on
        every call of a layer)."""
        values, row_ptr, col_idx, scales, bias = self.buffers
        seen = self._index_versions
        return (
            seen is not None
            and (values is buffers.get("values") or values is parameters.get("values"))
            and row_ptr is buffers["row_ptr"]
            and col_idx is buffers["col_idx"]
            and scales is buffers["scales"]
            and bias is parameters["bias"]
            and row_ptr._version == seen[1]
            and col_idx._version == seen[2]
            and (not self._copied or all(t._version == v for t, v in self._copied))
        )

    def run(self, x: torch.Tensor, residual: Optional[torch.Tensor], layer_norm: tuple = ()) -> Optional[torch.Tensor]:
        """The kernel's output for a plain eager ``x`` (the caller checks ``plain_eager``), or None when this
        call needs the general path (reference ISA, odd inputs: ``call_block_sparse_linear`` handles those,
        with its full checks). Every check here is an attribute test: this is the per-call cost of a layer.
        ``layer_norm``: ``layer_norm_args`` of a LayerNorm to apply to each output row in the same call."""
        if x.dtype is not torch.float32 or not x.is_cpu or x.dim() < 1 or x.shape[-1] != self.in_features:
            return None
        if residual is not None and (
            residual.dtype is not torch.float32
            or residual.shape[:-1] != x.shape[:-1]
            or residual.shape[-1] != self.out_features
            or not plain_eager(residual)
        ):
            return None
        isa = kernels.current_isa()
        if isa == "reference":
            return None
        x2 = x if x.dim() == 2 else x.reshape(-1, self.in_features)
        if not x2.is_contiguous():
            x2 = x2.contiguous()
        m = x2.shape[0]
        out = torch.empty(m, self.out_features, dtype=torch.float32)
        if m:
            res2 = None
            if residual is not None:
                res2 = residual.reshape(m, self.out_features)
                res2 = res2 if res2.is_contiguous() else res2.contiguous()
            threads = kernels.thread_count(m * self.work)
            kernels.launch(isa, x2, self.weight_args, res2, out, self.activation, threads, layer_norm)
        return out if x.dim() == 2 else out.reshape(*x.shape[:-1], self.out_features)


def call_block_sparse_linear(
    x, values, row_ptr, col_idx, scales, bias, residual, out_features, in_features, activation
):
    """``block_sparse_linear_op`` with the dispatcher skipped in plain eager mode when no gradient is recorded (same
    results)."""
    direct = plain_eager(x) and not needs_grad(values, scales, bias, residual)
    fn = _block_sparse_linear_impl if direct else block_sparse_linear_op
    return fn(x, values, row_ptr, col_idx, scales, bias, residual, out_features, in_features, activation)


@block_sparse_linear_op.register_fake
def _(x, values, row_ptr, col_idx, scales, bias, residual, out_features, in_features, activation):
    _check(x, values, row_ptr, col_idx, scales, bias, residual, out_features, in_features, activation)
    return x.new_empty((*x.shape[:-1], out_features))


def block_sparse_linear(
    x: torch.Tensor,
    packed: PackedBlockSparse,
    bias: Optional[torch.Tensor] = None,
    residual: Optional[torch.Tensor] = None,
    activation: Optional[str] = None,
) -> torch.Tensor:
    """``act(x @ W.T + bias) + residual`` for a ``PackedBlockSparse`` W; x is ``[..., in_features]`` float32."""
    return call_block_sparse_linear(
        x,
        packed.values,
        packed.row_ptr,
        packed.col_idx,
        packed.scales,
        bias,
        residual,
        packed.out_features,
        packed.in_features,
        activation or "none",
    )
