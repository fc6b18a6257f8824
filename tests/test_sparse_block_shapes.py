"""Block shapes: the small ones with a native kernel (4x1, 1x4, 4x4; int8 4x1) run as stored and never warn; the
others run re-packed into a fast layout (same numbers), warn once with the consequence, and ``sparsify_model`` keeps
a layer dense when even the re-packed layout could not beat dense."""

import warnings

import pytest
import torch
from torch import nn

from optimum_ro.sparse import (
    FAST_BLOCK_SHAPES,
    BlockSparseLinear,
    PackedBlockSparse,
    kernels,
    pack,
    reference_block_sparse_linear,
    sparsify_model,
)
from optimum_ro.sparse import linear as linear_module
from optimum_ro.sparse.ops import kernel_tensors


def _pruned(n, k, block, density=0.1, seed=0):
    gen = torch.Generator().manual_seed(seed)
    lin = nn.Linear(k, n)
    keep = (torch.rand(n // block[0], k // block[1], generator=gen) < density).float()
    with torch.no_grad():
        lin.weight.mul_(keep.repeat_interleave(block[0], 0).repeat_interleave(block[1], 1))
    return lin


@pytest.fixture(autouse=True)
def _fresh_warnings():
    linear_module._warned_layouts.clear()
    yield
    linear_module._warned_layouts.clear()


@pytest.mark.parametrize(
    "dtype, block, run",
    [
        (torch.float32, (8, 1), (4, 1)),  # the fast shape that divides it and stores the fewest values
        (torch.float32, (2, 8), (1, 4)),
        (torch.bfloat16, (8, 8), (4, 1)),  # a tie in values: the first fast shape listed
        (torch.int8, (4, 4), (1, 4)),
        (torch.int8, (8, 1), (4, 1)),
    ],
)
def test_shapes_without_a_fast_kernel_run_re_packed_with_the_same_numbers(dtype, block, run):
    lin = _pruned(96, 64, block)
    layer = BlockSparseLinear.from_dense(lin, block, dtype)
    assert layer.block_shape == block  # stored (and saved) as asked
    values, row_ptr, col_idx, scales = kernel_tensors(layer.values, layer.row_ptr, layer.col_idx, layer.scales, 96, 64)
    assert tuple(values.shape[1:]) == run
    stored = layer.packed
    again = PackedBlockSparse(values, row_ptr, col_idx, (96, 64), run, scales)
    assert torch.equal(again.unpack(), stored.unpack())  # lossless
    x = torch.randn(2, 7, 64)
    expected = reference_block_sparse_linear(
        x.reshape(-1, 64), layer.values, layer.row_ptr, layer.col_idx, layer.scales, layer.bias, None, 96
    ).reshape(2, 7, 96)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype, block", [(d, b) for d, shapes in FAST_BLOCK_SHAPES.items() for b in shapes])
def test_native_shapes_run_as_stored_without_a_warning(dtype, block):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layer = BlockSparseLinear.from_dense(_pruned(96, 64, block), block, dtype)
    tensors = (layer.values, layer.row_ptr, layer.col_idx, layer.scales)
    assert all(a is b for a, b in zip(kernel_tensors(*tensors, 96, 64), tensors))
    assert layer.packed.kernel_layout() is not None and layer.packed.is_fast_layout
    x = torch.randn(37, 64)
    for isa in kernels.available_isas():
        if isa in ("reference", "portable"):
            continue
        out = torch.empty(37, 96)
        name = kernels.run_kernel(isa, x, *tensors, layer.bias, None, out, "none")
        assert name.startswith(isa) and name.endswith(f"-{block[0]}x{block[1]}"), name


def test_the_re_packed_layout_follows_in_place_changes():
    layer = BlockSparseLinear.from_dense(_pruned(64, 32, (8, 1)), (8, 1))
    x = torch.randn(5, 32)
    with torch.no_grad():
        layer(x)
        layer.values.mul_(2.0)
        layer.bias.zero_()
        want = x @ layer.weight.T
        torch.testing.assert_close(layer(x), want, rtol=1e-5, atol=1e-5)


def test_from_dense_warns_once_with_the_measured_consequence():
    with pytest.warns(UserWarning, match=r"2x1 has no fast float32 kernel: it runs re-packed as 4x1 blocks"):
        BlockSparseLinear.from_dense(_pruned(64, 32, (2, 1)), (2, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        BlockSparseLinear.from_dense(_pruned(64, 32, (2, 1), seed=1), (2, 1))  # once per shape and dtype
        BlockSparseLinear.from_dense(_pruned(64, 32, (8, 8)), (8, 8))  # 4x4 blocks, no stored zeros
        BlockSparseLinear.from_dense(_pruned(64, 32, (16, 1)), (16, 1))  # fast shapes never warn
        BlockSparseLinear.from_dense(_pruned(64, 32, (4, 4)), (4, 4), torch.int8)  # 1x4 blocks, no stored zeros
    with pytest.warns(UserWarning, match=r"1x1 has no fast float32 kernel.*about dense speed or slower"):
        BlockSparseLinear.from_dense(_pruned(256, 128, (1, 1), density=0.2), (1, 1))


def test_sparsify_model_keeps_layers_dense_where_sparse_would_be_slower():
    slow = _pruned(256, 128, (1, 1), density=0.2)  # 80% sparse, but 4x1 / 1x4 re-packing stores ~59%
    odd = _pruned(30, 30, (1, 1), density=0.1)  # no fast shape divides 30 x 30: the portable kernel
    fine = _pruned(64, 128, (1, 1), density=0.02)  # re-packed at ~8%: sparse pays
    model = nn.Sequential(slow, nn.ReLU(), odd, fine)
    assert pack(slow.weight, (1, 1)).sparsity > 0.75 and pack(slow.weight, (1, 1)).kernel_layout().density > 0.5
    with pytest.warns(UserWarning, match=r"sparsify_model kept 2 layer\(s\) dense \(0, 2\): block shape 1x1"):
        sparsify_model(model, block_shape=(1, 1))
    assert model.kept_dense_modules == ["0", "2"]
    assert model.sparsified_modules == ["3"]
    assert model[0] is slow and model[2] is odd and isinstance(model[3], BlockSparseLinear)
    linear_module._warned_layouts.clear()
    native = nn.Sequential(_pruned(256, 128, (1, 4)), nn.ReLU())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a native shape: swapped, no warning
        sparsify_model(native, block_shape=(1, 4))
    assert native.sparsified_modules == ["0"] and native.kept_dense_modules == []


def test_to_sparse_model_warns_about_slow_shapes():
    from test_sparse_models import pruned_bert

    from optimum_ro.models import to_sparse_model

    model = pruned_bert(sparsity=0.0)
    for module in model.bert.encoder.modules():
        if isinstance(module, nn.Linear):
            n, k = module.weight.shape
            module.weight.data = _pruned(n, k, (2, 2), density=0.2).weight.data
    with pytest.warns(UserWarning, match=r"2x2 has no fast float32 kernel: it runs re-packed as (4x1|1x4)"):
        sparse = to_sparse_model(model, block_shape=(2, 2))
    assert sparse.config.sparse_layers["encoder.layer.0.output.dense"]["block_shape"] == [2, 2]
