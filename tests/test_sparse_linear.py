"""The custom op under opcheck / torch.compile / torch.export, and BlockSparseLinear as an nn.Linear drop-in."""

import pytest
import torch
from torch import nn

from optimum_ro.sparse import BlockSparseLinear, block_sparse_linear_op, block_sparsity, pack, sparsify_model


def pruned_linear(k, n, block=(16, 1), density=0.3, seed=0):
    torch.manual_seed(seed)
    linear = nn.Linear(k, n)
    br, bc = block
    keep = torch.rand(n // br, 1, k // bc, 1) < density
    with torch.no_grad():
        linear.weight.mul_(keep.expand(-1, br, -1, bc).reshape(n, k))
    return linear


@pytest.mark.parametrize(
    "dtype,block",
    [
        (torch.float32, (16, 1)),
        (torch.bfloat16, (16, 1)),
        (torch.int8, (1, 4)),
        (torch.float32, (4, 4)),
        (torch.int8, (4, 1)),
        (torch.bfloat16, (1, 4)),
    ],
)
def test_opcheck(dtype, block):
    linear = pruned_linear(32, 48, block)
    p = pack(linear.weight, block, dtype)
    x = torch.randn(2, 5, 32)
    residual = torch.randn(2, 5, 48)
    for bias, res, act in [(None, None, "none"), (linear.bias.detach(), residual, "gelu")]:
        torch.library.opcheck(
            block_sparse_linear_op, (x, p.values, p.row_ptr, p.col_idx, p.scales, bias, res, 48, 32, act)
        )


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.int8])
def test_drop_in_for_nn_linear(dtype):
    linear = pruned_linear(64, 32, (16, 1) if dtype != torch.int8 else (1, 4))
    layer = BlockSparseLinear.from_dense(linear, dtype=dtype)
    assert (layer.in_features, layer.out_features) == (64, 32)
    assert layer.weight.shape == linear.weight.shape
    x = torch.randn(3, 7, 64)
    with torch.no_grad():
        expected = linear(x)
        got = layer(x)
    assert got.shape == (3, 7, 32)
    tol = {torch.float32: 1e-5, torch.bfloat16: 2e-2, torch.int8: 6e-2}[dtype]
    torch.testing.assert_close(got, expected, rtol=tol, atol=tol * float(expected.abs().max()))
    if dtype == torch.float32:
        dense = layer.to_dense()
        assert isinstance(dense, nn.Linear) and torch.equal(dense.weight, linear.weight)
        assert torch.equal(dense.bias, linear.bias)
    assert "block_shape=" in repr(layer) and "sparsity=" in repr(layer)


def test_fused_gelu_and_residual_match_unfused():
    linear = pruned_linear(64, 48)
    layer = BlockSparseLinear.from_dense(linear, (16, 1), activation="gelu")
    x, res = torch.randn(9, 64), torch.randn(9, 48)
    with torch.no_grad():
        torch.testing.assert_close(layer(x, residual=res), nn.functional.gelu(linear(x)) + res, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.int8])
def test_fast_path_matches_the_op_and_follows_buffer_changes(dtype):
    from optimum_ro.sparse.ops import call_block_sparse_linear

    block = (16, 1) if dtype == torch.float32 else (1, 4)
    layer = BlockSparseLinear.from_dense(pruned_linear(64, 48, block), block, dtype, activation="gelu")
    x, res = torch.randn(2, 9, 64), torch.randn(2, 9, 48)

    def via_op(x, res):
        return call_block_sparse_linear(
            x, layer.values, layer.row_ptr, layer.col_idx, layer.scales, layer.bias, res, 48, 64, "gelu"
        )

    with torch.no_grad():
        for r in (None, res):
            assert torch.equal(layer(x, residual=r), via_op(x, r))
        assert layer._plan is not None  # the fast path ran
        assert torch.equal(layer(x[:, ::2]), via_op(x[:, ::2].contiguous(), None))  # non-contiguous input
        layer.bias.mul_(0).add_(3.0)  # in place: same tensors, new numbers
        assert torch.equal(layer(x), via_op(x, None))
        other = BlockSparseLinear.from_dense(pruned_linear(64, 48, block, seed=1), block, dtype, activation="gelu")
        layer.values, layer.row_ptr, layer.col_idx = other.values, other.row_ptr, other.col_idx  # new buffers
        if dtype == torch.int8:
            layer.scales = other.scales
        assert torch.equal(layer(x), via_op(x, None))
        layer.bias = nn.Parameter(torch.zeros(47), requires_grad=False)  # a corrupt replacement is refused
        with pytest.raises(ValueError, match="bias must be float32 of shape"):
            layer(x)


def test_state_dict_round_trip_through_a_fresh_module():
    layer = BlockSparseLinear.from_dense(pruned_linear(32, 32), (16, 1))
    state = layer.state_dict()
    assert set(state) == {"values", "row_ptr", "col_idx", "bias"}
    clone = BlockSparseLinear(layer.packed, layer.bias)
    clone.load_state_dict(state)
    x = torch.randn(4, 32)
    assert torch.equal(clone(x), layer(x))


def test_loading_a_corrupt_state_dict_is_refused():
    layer = BlockSparseLinear.from_dense(pruned_linear(32, 32), (16, 1))
    state = layer.state_dict()
    state["col_idx"] = state["col_idx"] + 1000
    with pytest.raises(ValueError, match="col_idx must lie in"):
        layer.load_state_dict(state)
    assert int(layer.col_idx.max()) < 32  # nothing was copied in


def test_torch_compile_and_export():
    model = nn.Sequential(
        BlockSparseLinear.from_dense(pruned_linear(32, 64), (16, 1), activation="gelu"), nn.LayerNorm(64)
    )
    x = torch.randn(6, 32)
    with torch.no_grad():
        expected = model(x)
        compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
        torch.testing.assert_close(compiled(x), expected)
        exported = torch.export.export(model, (x,))
    assert "optimum_ro.block_sparse_linear" in str(exported.graph)
    torch.testing.assert_close(exported.module()(x), expected)


def test_non_float32_input_is_cast_and_cast_back():
    layer = BlockSparseLinear.from_dense(pruned_linear(32, 16), (16, 1))
    x = torch.randn(3, 32)
    y = layer(x.double())
    assert y.dtype == torch.float64
    torch.testing.assert_close(y.float(), layer(x))


def test_bad_module_arguments():
    with pytest.raises(ValueError, match="activation must be None or one of"):
        BlockSparseLinear.from_dense(pruned_linear(32, 16), activation="tanh")
    with pytest.raises(ValueError, match="does not divide"):
        BlockSparseLinear.from_dense(nn.Linear(32, 20), (16, 1))
    with pytest.raises(ValueError, match="dtype must be one of"):
        BlockSparseLinear.from_dense(nn.Linear(32, 16), dtype=torch.float16)


def _tiny_bert(hidden_act: str = "gelu"):
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=99,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        hidden_act=hidden_act,
    )
    return BertModel(config).eval()


def _keep_a_fifth_of_the_16x1_blocks(lin: nn.Linear) -> None:
    n, k = lin.weight.shape
    keep = (torch.rand(n // 16, 1, k, 1) < 0.2).expand(-1, 16, -1, 1).reshape(n, k)
    with torch.no_grad():
        lin.weight.mul_(keep)


def test_sparsify_model_swaps_only_sparse_enough_layers_of_a_bert():
    model = _tiny_bert()
    layer0 = model.encoder.layer[0]
    for lin in (layer0.intermediate.dense, layer0.output.dense, layer0.attention.self.query):
        _keep_a_fifth_of_the_16x1_blocks(lin)
    ids = torch.randint(0, 99, (2, 9))
    with torch.no_grad():
        expected = model(input_ids=ids).last_hidden_state
    assert block_sparsity(layer0.intermediate.dense.weight, (16, 1)) > 0.5
    sparsify_model(model, block_shape=(16, 1), min_sparsity=0.5)
    assert sorted(model.sparsified_modules) == [
        "encoder.layer.0.attention.self.query",
        "encoder.layer.0.intermediate.dense",
        "encoder.layer.0.output.dense",
    ]
    assert isinstance(layer0.intermediate.dense, BlockSparseLinear)
    assert isinstance(model.encoder.layer[1].intermediate.dense, nn.Linear)
    with torch.no_grad():
        got = model(input_ids=ids).last_hidden_state
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "hidden_act, fuse_gelu, fused",
    [("gelu", True, True), ("gelu", False, False), ("gelu_new", True, False), ("relu", True, False)],
)
def test_sparsify_model_fuses_only_the_exact_gelu_of_intermediate_layers(hidden_act, fuse_gelu, fused):
    model = _tiny_bert(hidden_act)
    for name, lin in model.named_modules():
        if isinstance(lin, nn.Linear) and name.startswith("encoder."):
            _keep_a_fifth_of_the_16x1_blocks(lin)
    ids = torch.randint(0, 99, (2, 9))
    with torch.no_grad():
        expected = model(input_ids=ids).last_hidden_state
    sparsify_model(model, block_shape=(16, 1), min_sparsity=0.5, fuse_gelu=fuse_gelu)
    assert len(model.sparsified_modules) == 12
    intermediate = model.encoder.layer[1].intermediate
    if fused:
        assert model.fused_gelu_modules == ["encoder.layer.0.intermediate.dense", "encoder.layer.1.intermediate.dense"]
        assert intermediate.dense.activation == "gelu" and isinstance(intermediate.intermediate_act_fn, nn.Identity)
    else:
        assert model.fused_gelu_modules == []
        assert intermediate.dense.activation == "none" and not isinstance(
            intermediate.intermediate_act_fn, nn.Identity
        )
    with torch.no_grad():
        got = model(input_ids=ids).last_hidden_state
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_package_works_without_the_extension():
    """With optimum_ro.sparse._C unavailable the op falls back to the reference, warning once."""
    import subprocess
    import sys

    code = """
import sys, warnings
sys.modules['optimum_ro.sparse._C'] = None   # makes `from . import _C` raise ImportError
import torch
from optimum_ro.sparse import available_isas, current_isa, pack, block_sparse_linear, extension_available
assert not extension_available() and available_isas() == ['reference']
w = torch.zeros(16, 8); w[:, 2] = 1.0
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
    y1 = block_sparse_linear(torch.ones(3, 8), pack(w, (16, 1)))
    y2 = block_sparse_linear(torch.ones(3, 8), pack(w, (16, 1)))
assert torch.equal(y1, torch.ones(3, 16)) and torch.equal(y2, y1)
msgs = [str(c.message) for c in caught if 'not built' in str(c.message)]
assert len(msgs) == 1, msgs
print(current_isa(), msgs[0])
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("reference") and "pip install" in out.stdout
