"""Packed block-sparse weights: only the non-zero blocks plus BSR indices.

Block shapes are ``(rows, cols)`` of the ``nn.Linear`` weight ``W[out_features, in_features]``;
``"16x1"`` means 16 output features x 1 input feature. (Intel's papers name the reduction
dimension first, so their VNNI "4x1" block is our ``1x4``.)

    packed = pack(linear.weight, block_shape="16x1", dtype=torch.float32)
    dense = packed.unpack()                       # exact for fp32 / bf16-representable weights
    again = PackedBlockSparse.from_tensors(packed.state_dict())
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

import torch

STORAGE_DTYPES = (torch.float32, torch.bfloat16, torch.int8)
BlockShapeLike = Union[str, tuple, list]

# The block shapes the fast (AVX2 / AVX-512) kernels run, the default first. 16x2 bf16 is the shape of
# AVX512-BF16's `vdpbf16ps` (pairs of adjacent inputs); on other CPUs it runs widened to fp32, like 16x1. 4x1, 1x4
# and 4x4 (int8: 4x1) run on the token-vectorised kernels (csrc/kernels_tok.inc), which read only the stored blocks.
# A weight stored in any other shape runs re-packed into the one of these that stores the fewest values
# (``kernel_layout``): the portable C++ kernel, which runs every shape as it is stored, is far slower than dense.
# Measured on an Intel Xeon (AVX-512, Sapphire/Emerald Rapids class), M = 128 tokens, 90% of the blocks zero, shared
# with a training job: interleaved rounds, best of 7 (benchmarks/experiments/small_blocks.py,
# benchmarks/results/small-blocks-avx512.json), 1 thread, 768 -> 3072 / 3072 -> 768:
#   torch dense fp32                          3.23 / 3.38 ms
#   fp32 4x1 / 1x4 / 4x4 native               0.43 / 0.57, 0.86 / 1.06, 0.43 / 0.55 ms
#   the same re-packed as 16x1 (reading 34% / 82% / 35% of the weight)
#                                             1.38 / 1.68, 3.23 / 3.86, 1.38 / 1.67 ms
#   int8 4x1 native / re-packed as 1x4 (34%)  0.52 / 0.72, 0.70 / 0.93 ms
# With 2 threads dense took 1.66 / 1.75 ms, fp32 4x1 / 1x4 / 4x4 native 0.35 / 0.47, 0.49 / 0.68, 0.27 / 0.42,
# int8 4x1 0.34 / 0.53 (re-packed 0.40 / 0.49). 1x4 loads each X vector for a single FMA, so it runs at about half
# the speed of 4x1 / 4x4. The portable kernel (before these kernels, same machine, 2 threads, 768 -> 3072): fp32
# 4x1 / 1x4 / 4x4 147 / 76 / 48 ms against 7.9 ms dense; int8 4x4 re-packed as 1x4 (no stored zeros) 0.56 ms.
FAST_BLOCK_SHAPES = {
    torch.float32: ((16, 1), (16, 2), (4, 1), (1, 4), (4, 4)),
    torch.bfloat16: ((16, 1), (16, 2), (4, 1), (1, 4), (4, 4)),
    torch.int8: ((1, 4), (4, 1)),
}


def default_block_shape(dtype) -> tuple[int, int]:
    """The block shape ``BlockSparseLinear.from_dense`` and ``sparsify_model`` use when none is given: 16x1
    for fp32/bf16, 1x4 for int8."""
    return FAST_BLOCK_SHAPES[dtype][0]


def parse_block_shape(block_shape: BlockShapeLike) -> tuple[int, int]:
    """``"16x1"``, ``(16, 1)`` or ``[16, 1]`` -> ``(16, 1)``: rows = output features, cols = input features.

    The one parser of block shapes for the whole library (pruning and kernels share it).

        >>> parse_block_shape("1x4")   # Intel's VNNI "4x1": one output row, four input columns
        (1, 4)
    """
    if isinstance(block_shape, str):
        parts = block_shape.lower().replace("\u00d7", "x").split("x")
    elif isinstance(block_shape, (tuple, list)):
        parts = list(block_shape)
    else:
        parts = []
    try:
        parsed = tuple(int(p) for p in parts)
        if not isinstance(block_shape, str) and any(int(p) != p for p in parts):
            parsed = ()
    except (TypeError, ValueError):
        parsed = ()
    if len(parsed) != 2 or min(parsed) < 1:
        raise ValueError(
            f"Invalid block_shape {block_shape!r}: block_shape must be two positive integers (rows, cols), as "
            "'ROWSxCOLS' such as '16x1' (16 output features x 1 input feature), '1x4', '1x1' (unstructured) "
            "or a pair like (4, 1)."
        )
    return parsed


def _check_dtype(dtype) -> torch.dtype:
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype, None)
    if dtype not in STORAGE_DTYPES:
        raise ValueError(f"dtype must be one of torch.float32, torch.bfloat16, torch.int8; got {dtype!r}")
    return dtype


def _check_divides(shape: tuple[int, int], block: tuple[int, int]) -> None:
    n, k = shape
    if n % block[0] or k % block[1]:
        raise ValueError(
            f"block shape {block[0]}x{block[1]} does not divide the weight of shape [{n}, {k}] "
            f"(out_features % {block[0]} = {n % block[0]}, in_features % {block[1]} = {k % block[1]}); "
            "choose a block shape whose rows divide out_features and whose cols divide in_features"
        )


def check_block_indices(
    row_ptr: torch.Tensor, col_idx: torch.Tensor, nnz_blocks: int, block_rows: int, block_cols: int
) -> None:
    """Refuse BSR indices that would make a kernel read outside its tensors: ``row_ptr`` must hold
    ``block_rows + 1`` non-decreasing int32 offsets from 0 to ``nnz_blocks``, ``col_idx`` ``nnz_blocks`` int32
    block columns in ``[0, block_cols)``. These are the conditions the C++ kernels rely on; everything else about
    a packed weight (sorted columns, finite scales) only affects results, not memory."""
    for name, t in (("row_ptr", row_ptr), ("col_idx", col_idx)):
        if t.dtype != torch.int32 or t.dim() != 1:
            raise ValueError(f"{name} must be a 1-D int32 tensor; got {t.dtype} with shape {list(t.shape)}")
    if row_ptr.numel() != block_rows + 1:
        raise ValueError(
            f"row_ptr must have one entry per block row plus one = {block_rows + 1}; got {row_ptr.numel()}"
        )
    first, last = (int(v) for v in row_ptr[[0, -1]].tolist())
    if first != 0 or last != nnz_blocks or col_idx.numel() != nnz_blocks:
        raise ValueError(
            f"row_ptr must start at 0 and end at nnz_blocks={nnz_blocks}, and col_idx must have "
            f"nnz_blocks entries; got row_ptr[0]={first}, row_ptr[-1]={last}, "
            f"len(col_idx)={col_idx.numel()} (corrupt or mismatched checkpoint?)"
        )
    if block_rows > 1 and bool((row_ptr[1:] < row_ptr[:-1]).any()):
        raise ValueError("row_ptr must be non-decreasing (corrupt checkpoint?)")
    if nnz_blocks:
        low, high = (int(v) for v in torch.aminmax(col_idx))
        if low < 0 or high >= block_cols:
            raise ValueError(f"col_idx must lie in [0, {block_cols}); got values in [{low}, {high}]")


def block_sparsity(weight: torch.Tensor, block_shape: BlockShapeLike) -> float:
    """Fraction of ``block_shape`` blocks of ``weight`` that are entirely zero (0 when the shape does not fit)."""
    br, bc = parse_block_shape(block_shape)
    n, k = weight.shape
    if n % br or k % bc:
        return 0.0
    nz = (weight.detach().reshape(n // br, br, k // bc, bc) != 0).any(dim=3).any(dim=1)
    return 1.0 - nz.float().mean().item()


def quantize_weight(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-output-channel symmetric int8: ``q = round(W / s)``, ``s = max|W[n]| / 127`` (1 for a zero row)."""
    amax = weight.abs().amax(dim=1)
    scales = torch.where(amax > 0, amax / 127.0, torch.ones_like(amax)).float()
    q = torch.round(weight / scales[:, None]).clamp_(-127, 127).to(torch.int8)
    return q, scales


@dataclass
class PackedBlockSparse:
    """A block-sparse weight in BSR form (non-zero blocks in row-major block order).

    values:  ``[nnz_blocks, rows, cols]`` in float32, bfloat16 or int8
    row_ptr: ``[out_features // rows + 1]`` int32, blocks of block-row r are ``row_ptr[r]:row_ptr[r+1]``
    col_idx: ``[nnz_blocks]`` int32 block-column index, strictly increasing within a block row
    scales:  ``[out_features]`` float32 per-output-channel scales (int8 only)
    """

    values: torch.Tensor
    row_ptr: torch.Tensor
    col_idx: torch.Tensor
    shape: tuple[int, int]
    block_shape: tuple[int, int]
    scales: Optional[torch.Tensor] = None

    def __post_init__(self):
        self.shape = (int(self.shape[0]), int(self.shape[1]))
        self.block_shape = parse_block_shape(self.block_shape)
        self.validate()

    @classmethod
    def placeholder(cls, shape, block_shape: BlockShapeLike, dtype, nnz_blocks: int) -> "PackedBlockSparse":
        """A valid weight of ``nnz_blocks`` zero blocks (the first ones, row-major): the skeleton of a layer whose
        real blocks are loaded afterwards (``from_pretrained`` / ``load_state_dict``), with their exact shapes.
        Its tensors are CPU tensors even under a ``torch.device("meta")`` context."""
        dtype = _check_dtype(dtype)
        block = parse_block_shape(block_shape)
        n, k = int(shape[0]), int(shape[1])
        _check_divides((n, k), block)
        nrb, ncb = n // block[0], k // block[1]
        if not 0 <= int(nnz_blocks) <= nrb * ncb:
            raise ValueError(
                f"nnz_blocks must lie in [0, {nrb * ncb}] for a [{n}, {k}] weight in {block[0]}x{block[1]} "
                f"blocks; got {nnz_blocks}"
            )
        nnz = int(nnz_blocks)
        cpu = torch.device("cpu")
        row_ptr = torch.clamp(torch.arange(nrb + 1, device=cpu) * ncb, max=nnz).to(torch.int32)
        col_idx = (torch.arange(nnz, device=cpu) % max(ncb, 1)).to(torch.int32)
        values = torch.zeros(nnz, *block, dtype=dtype, device=cpu)
        scales = torch.ones(n, dtype=torch.float32, device=cpu) if dtype == torch.int8 else None
        return cls(values, row_ptr, col_idx, (n, k), block, scales)

    # ------------------------------------------------------------------ properties
    @property
    def dtype(self) -> torch.dtype:
        return self.values.dtype

    @property
    def out_features(self) -> int:
        return self.shape[0]

    @property
    def in_features(self) -> int:
        return self.shape[1]

    @property
    def nnz_blocks(self) -> int:
        return int(self.values.shape[0])

    @property
    def density(self) -> float:
        """Fraction of the weight's blocks that are stored."""
        total = (self.shape[0] // self.block_shape[0]) * (self.shape[1] // self.block_shape[1])
        return self.nnz_blocks / total

    @property
    def sparsity(self) -> float:
        return 1.0 - self.density

    @property
    def is_fast_layout(self) -> bool:
        """True when the AVX2/AVX-512 kernels handle this (dtype, block shape)."""
        return self.block_shape in FAST_BLOCK_SHAPES[self.dtype]

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Refuse inconsistent or corrupt data with a ``ValueError`` that names the problem."""
        n, k = self.shape
        br, bc = self.block_shape
        _check_divides(self.shape, self.block_shape)
        if self.values.dtype not in STORAGE_DTYPES:
            raise ValueError(f"values must be float32, bfloat16 or int8; got {self.values.dtype}")
        if self.values.dim() != 3 or tuple(self.values.shape[1:]) != (br, bc):
            raise ValueError(f"values must have shape [nnz_blocks, {br}, {bc}]; got {list(self.values.shape)}")
        for name in ("row_ptr", "col_idx"):
            t = getattr(self, name)
            if t.dtype != torch.int32 or t.dim() != 1:
                raise ValueError(f"{name} must be a 1-D int32 tensor; got {t.dtype} with shape {list(t.shape)}")
        check_block_indices(self.row_ptr, self.col_idx, self.nnz_blocks, n // br, k // bc)
        rp, ci = self.row_ptr, self.col_idx
        if ci.numel():
            same_row = torch.ones(ci.numel(), dtype=torch.bool, device=ci.device)
            same_row[rp[1:-1].long().clamp(max=ci.numel() - 1)] = False  # first block of each row
            if bool(((ci[1:] <= ci[:-1]) & same_row[1:]).any()):
                raise ValueError("col_idx must be strictly increasing within each block row (corrupt checkpoint?)")
        if self.values.dtype == torch.int8:
            s = self.scales
            if s is None or s.dtype != torch.float32 or tuple(s.shape) != (n,):
                raise ValueError(
                    f"int8 weights need float32 scales of shape [{n}]; "
                    f"got {None if s is None else (s.dtype, list(s.shape))}"
                )
            if not bool(torch.isfinite(s).all()):
                raise ValueError("int8 scales contain inf/nan (corrupt checkpoint?)")
        elif self.scales is not None:
            raise ValueError(f"scales are only used with int8 weights; got scales with {self.values.dtype} values")

    # ------------------------------------------------------------------ conversions
    def unpack_stored(self) -> torch.Tensor:
        """The dense weight in the storage dtype (int8 codes for int8)."""
        n, k = self.shape
        br, bc = self.block_shape
        nrb, ncb = n // br, k // bc
        blocks = torch.zeros(nrb, ncb, br, bc, dtype=self.values.dtype)
        counts = (self.row_ptr[1:] - self.row_ptr[:-1]).long()
        rows = torch.repeat_interleave(torch.arange(nrb), counts)
        blocks[rows, self.col_idx.long()] = self.values
        return blocks.permute(0, 2, 1, 3).reshape(n, k)

    def unpack(self) -> torch.Tensor:
        """The dense float32 weight (dequantised for int8: ``q * scale``)."""
        dense = self.unpack_stored().float()
        if self.values.dtype == torch.int8:
            dense = dense * self.scales[:, None]
        return dense

    def state_dict(self, prefix: str = "") -> dict[str, torch.Tensor]:
        """Plain tensors (safetensors-compatible); ``from_tensors`` reverses it."""
        out = {
            prefix + "values": self.values,
            prefix + "row_ptr": self.row_ptr,
            prefix + "col_idx": self.col_idx,
            prefix + "shape": torch.tensor(self.shape, dtype=torch.int64),
            prefix + "block_shape": torch.tensor(self.block_shape, dtype=torch.int64),
        }
        if self.scales is not None:
            out[prefix + "scales"] = self.scales
        return out

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], prefix: str = "") -> "PackedBlockSparse":
        """Rebuild from ``state_dict()`` tensors; raises ``ValueError`` on missing, corrupt or mismatched data."""
        missing = [k for k in ("values", "row_ptr", "col_idx", "shape", "block_shape") if prefix + k not in tensors]
        if missing:
            raise ValueError(f"packed block-sparse tensors are missing {[prefix + k for k in missing]}")
        shape, block = tensors[prefix + "shape"], tensors[prefix + "block_shape"]
        if shape.numel() != 2 or block.numel() != 2:
            raise ValueError(f"{prefix}shape and {prefix}block_shape must hold 2 integers each")
        return cls(
            values=tensors[prefix + "values"].contiguous(),
            row_ptr=tensors[prefix + "row_ptr"].contiguous(),
            col_idx=tensors[prefix + "col_idx"].contiguous(),
            shape=tuple(int(v) for v in shape.tolist()),
            block_shape=tuple(int(v) for v in block.tolist()),
            scales=tensors.get(prefix + "scales"),
        )

    def to_block_shape(self, block_shape: BlockShapeLike) -> "PackedBlockSparse":
        """Re-pack the same weight in another block shape (lossless; more stored zeros if misaligned)."""
        block = parse_block_shape(block_shape)
        return _pack_stored(self.unpack_stored(), block, self.scales)

    @classmethod
    def concat_rows(cls, parts: list["PackedBlockSparse"]) -> "PackedBlockSparse":
        """The weights of ``parts`` stacked along the output features (``torch.cat(dim=0)`` of the dense weights),
        without unpacking: one op then computes all their outputs (Q, K and V of an attention layer) and reads
        its input once. The parts must share in_features, block shape and dtype."""
        first = parts[0]
        if any(
            (p.in_features, p.block_shape, p.dtype) != (first.in_features, first.block_shape, first.dtype)
            for p in parts
        ):
            raise ValueError("concat_rows needs weights with the same in_features, block shape and dtype")
        offsets = torch.tensor([0] + [p.nnz_blocks for p in parts]).cumsum(0).tolist()
        row_ptr = torch.cat([first.row_ptr[:1]] + [p.row_ptr[1:] + off for p, off in zip(parts, offsets)])
        return cls(
            values=torch.cat([p.values for p in parts]),
            row_ptr=row_ptr.to(torch.int32),
            col_idx=torch.cat([p.col_idx for p in parts]),
            shape=(sum(p.out_features for p in parts), first.in_features),
            block_shape=first.block_shape,
            scales=None if first.scales is None else torch.cat([p.scales for p in parts]),
        )

    def kernel_layout(self) -> "PackedBlockSparse":
        """The layout the AVX2 / AVX-512 kernels run this weight in: itself when its block shape has a fast kernel
        (``FAST_BLOCK_SHAPES``), else the same weight re-packed into the fast shape of its dtype that divides it
        and stores the fewest values (lossless: the same numbers and scales, plus the zeros the larger blocks
        hold), or itself when none divides it. On a tie the first in ``FAST_BLOCK_SHAPES`` order wins, so a weight
        is never re-packed into bf16 16x2 (never fewer values than 16x1), whose AVX512-BF16 kernel rounds the
        activations. Its ``density`` is the fraction of the weight the kernel reads."""
        best = self
        if not self.is_fast_layout:
            for shape in FAST_BLOCK_SHAPES[self.dtype]:
                if self.shape[0] % shape[0] or self.shape[1] % shape[1]:
                    continue
                candidate = self.to_block_shape(shape)
                if best is self or candidate.values.numel() < best.values.numel():
                    best = candidate
        return best


def _pack_stored(stored: torch.Tensor, block: tuple[int, int], scales: Optional[torch.Tensor]) -> PackedBlockSparse:
    n, k = stored.shape
    br, bc = block
    blocks = stored.reshape(n // br, br, k // bc, bc).permute(0, 2, 1, 3)
    nonzero = (blocks != 0).flatten(2).any(dim=2)  # [n/br, k/bc]
    rows, cols = nonzero.nonzero(as_tuple=True)  # row-major: sorted by block row, then column
    counts = nonzero.sum(dim=1)
    row_ptr = torch.zeros(n // br + 1, dtype=torch.int32)
    row_ptr[1:] = torch.cumsum(counts, 0).to(torch.int32)
    return PackedBlockSparse(
        values=blocks[rows, cols].contiguous(),
        row_ptr=row_ptr,
        col_idx=cols.to(torch.int32).contiguous(),
        shape=(n, k),
        block_shape=block,
        scales=scales,
    )


def pack(weight: torch.Tensor, block_shape: BlockShapeLike = (16, 1), dtype=torch.float32) -> PackedBlockSparse:
    """Pack a dense (masked) ``[out_features, in_features]`` weight, keeping blocks with any non-zero.

    ``dtype`` is the storage dtype: float32 (exact), bfloat16 (rounded to nearest even) or int8
    (per-output-channel symmetric, see ``quantize_weight``; blocks whose codes are all 0 are dropped).
    """
    dtype = _check_dtype(dtype)
    block = parse_block_shape(block_shape)
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2:
        raise ValueError(
            f"weight must be a 2-D tensor [out_features, in_features]; got {getattr(weight, 'shape', type(weight))}"
        )
    if not weight.is_floating_point():
        raise ValueError(f"weight must be a floating-point tensor; got {weight.dtype}")
    _check_divides(tuple(weight.shape), block)
    w = weight.detach().to("cpu", torch.float32)
    if dtype == torch.int8:
        q, scales = quantize_weight(w)
        stored = torch.where(w != 0, q, torch.zeros_like(q))
        return _pack_stored(stored, block, scales)  # blocks whose codes all round to 0 are dropped
    return _pack_stored(w.to(dtype), block, None)
