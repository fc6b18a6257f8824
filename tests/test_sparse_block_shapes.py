"""Block shapes without a fast kernel: they run re-packed into a fast layout (same numbers), warn once with the
consequence, and ``sparsify_model`` keeps a layer dense when even the re-packed layout could not beat dense."""

import warnings

import pytest
import torch
from torch import nn

from optimum_ro.sparse import BlockSparseLinear, PackedBlockSparse, pack, reference_block_sparse_linear, sparsify_model
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
        (torch.float32, (4, 1), (16, 1)),
        (torch.float32, (1, 4), (16, 1)),
        (torch.float32, (4, 4), (16, 1)),
        (torch.bfloat16, (4, 1), (16, 1)),
        (torch.int8, (4, 1), (1, 4)),
        (torch.int8, (4, 4), (1, 4)),
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


def test_the_re_packed_layout_follows_in_place_changes():
    layer = BlockSparseLinear.from_dense(_pruned(64, 32, (4, 1)), (4, 1))
    x = torch.randn(5, 32)
    with torch.no_grad():
        layer(x)
        layer.values.mul_(2.0)
        layer.bias.zero_()
        want = x @ layer.weight.T
        torch.testing.assert_close(layer(x), want, rtol=1e-5, atol=1e-5)


def test_from_dense_warns_once_with_the_measured_consequence():
    with pytest.warns(UserWarning, match=r"4x1 has no fast float32 kernel: it runs re-packed as 16x1 blocks"):
        BlockSparseLinear.from_dense(_pruned(64, 32, (4, 1)), (4, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        BlockSparseLinear.from_dense(_pruned(64, 32, (4, 1), seed=1), (4, 1))  # once per shape and dtype
        BlockSparseLinear.from_dense(_pruned(64, 32, (16, 1)), (16, 1))  # fast shapes never warn
        BlockSparseLinear.from_dense(_pruned(64, 32, (4, 4)), (4, 4), torch.int8)  # 1x4 blocks, no stored zeros
    with pytest.warns(UserWarning, match=r"1x4 has no fast float32 kernel.*about dense speed or slower"):
        BlockSparseLinear.from_dense(_pruned(256, 128, (1, 4)), (1, 4))


def test_sparsify_model_and_to_sparse_model_warn_about_slow_shapes():
    model = nn.Sequential(_pruned(256, 128, (1, 4)), nn.ReLU())
    assert pack(model[0].weight, (1, 4)).sparsity > 0.85  # sparse in its own blocks, not in any fast layout
    with pytest.warns(UserWarning, match=r"1x4 has no fast float32 kernel.*about dense speed or slower"):
        sparsify_model(model, block_shape=(1, 4))
    assert model.sparsified_modules == ["0"]


def test_to_sparse_model_warns_about_slow_shapes():
    from test_sparse_models import pruned_bert

    from optimum_ro.models import to_sparse_model

    model = pruned_bert(sparsity=0.0)
    for module in model.bert.encoder.modules():
        if isinstance(module, nn.Linear):
            n, k = module.weight.shape
            module.weight.data = _pruned(n, k, (4, 4), density=0.2).weight.data
    with pytest.warns(UserWarning, match=r"4x4 has no fast float32 kernel: it runs re-packed as 16x1"):
        sparse = to_sparse_model(model, block_shape=(4, 4))
    assert sparse.config.sparse_layers["encoder.layer.0.output.dense"]["block_shape"] == [4, 4]
