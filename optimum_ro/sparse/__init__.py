"""Block-sparse CPU inference: packing, one torch op, and a drop-in ``nn.Linear``.

from optimum_ro.sparse import BlockSparseLinear, sparsify_model, current_isa
layer = BlockSparseLinear.from_dense(pruned_linear, block_shape=(16, 1), dtype=torch.float32)
y = layer(x)                                    # AVX-512 / AVX2 / portable C++ chosen at run time
"""

from . import autograd  # noqa: F401  (registers the op's backward)
from .format import FAST_BLOCK_SHAPES, PackedBlockSparse, default_block_shape, pack, parse_block_shape, quantize_weight
from .kernels import (
    ISA_ENV,
    available_isas,
    bf16_dot_products,
    cpu_features,
    current_isa,
    extension_available,
    kernel_tuning,
    peak_throughput,
    set_kernel_tuning,
    tuned,
)
from .linear import BlockSparseLinear, block_sparsity, sparsify_model
from .ops import block_sparse_linear, block_sparse_linear_op
from .reference import quantize_rows, reference_block_sparse_linear

__all__ = [
    "BlockSparseLinear",
    "FAST_BLOCK_SHAPES",
    "ISA_ENV",
    "PackedBlockSparse",
    "available_isas",
    "bf16_dot_products",
    "block_sparse_linear",
    "block_sparse_linear_op",
    "block_sparsity",
    "cpu_features",
    "current_isa",
    "default_block_shape",
    "extension_available",
    "kernel_tuning",
    "pack",
    "parse_block_shape",
    "peak_throughput",
    "quantize_rows",
    "quantize_weight",
    "reference_block_sparse_linear",
    "set_kernel_tuning",
    "sparsify_model",
    "tuned",
]
