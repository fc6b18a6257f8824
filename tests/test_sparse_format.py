"""Packing block-sparse weights: exact round trips, state_dict tensors, refusal of bad data."""

import pytest
import torch

from optimum_ro.sparse import PackedBlockSparse, pack, parse_block_shape, quantize_weight


def block_masked(n, k, block, density, seed=0):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(n, k, generator=g)
    br, bc = block
    keep = torch.rand(n // br, 1, k // bc, 1, generator=g) < density
    return w * keep.expand(-1, br, -1, bc).reshape(n, k)


@pytest.mark.parametrize("block", [(16, 1), (1, 4), (4, 4), (1, 1), (32, 1), (2, 8)])
def test_fp32_pack_unpack_is_exact(block):
    w = block_masked(64, 48, block, 0.3)
    packed = pack(w, block, torch.float32)
    assert torch.equal(packed.unpack(), w)
    expected_nnz = int((w.reshape(64 // block[0], block[0], 48 // block[1], block[1]) != 0).any(3).any(1).sum())
    assert packed.nnz_blocks == expected_nnz
    assert packed.values.shape == (expected_nnz, *block)


def test_bf16_pack_is_exact_for_bf16_values_and_rounds_others():
    w = block_masked(32, 16, (16, 1), 0.5).bfloat16().float()
    assert torch.equal(pack(w, "16x1", torch.bfloat16).unpack(), w)
    w32 = block_masked(32, 16, (16, 1), 0.5, seed=1)
    assert torch.equal(pack(w32, "16x1", "bfloat16").unpack(), w32.bfloat16().float())


def test_int8_pack_dequantises_to_per_channel_quantised_weight():
    w = block_masked(32, 64, (1, 4), 0.4)
    packed = pack(w, (1, 4), torch.int8)
    q, scales = quantize_weight(w)
    assert torch.equal(packed.scales, scales)
    assert torch.equal(packed.unpack_stored(), q)
    assert torch.allclose(packed.unpack(), q.float() * scales[:, None])
    # per-channel symmetric: the largest |w| of each row maps to +-127 and the error is at most half a step
    assert int(q.abs().amax(dim=1).min()) == 127
    assert float(((packed.unpack() - w).abs() / scales[:, None]).max()) <= 0.5 + 1e-5


def test_all_zero_and_dense_weights():
    zero = pack(torch.zeros(32, 8), (16, 1))
    assert zero.nnz_blocks == 0 and zero.sparsity == 1.0
    assert torch.equal(zero.unpack(), torch.zeros(32, 8))
    dense = pack(torch.ones(32, 8), (16, 1))
    assert dense.nnz_blocks == 16 and dense.density == 1.0


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.int8])
def test_state_dict_round_trip(dtype, tmp_path):
    from safetensors.torch import load_file, save_file

    packed = pack(block_masked(48, 32, (16, 1), 0.3), (16, 1), dtype)
    save_file(packed.state_dict("layer."), tmp_path / "w.safetensors")
    again = PackedBlockSparse.from_tensors(load_file(tmp_path / "w.safetensors"), prefix="layer.")
    assert again.block_shape == (16, 1) and again.shape == (48, 32) and again.dtype == dtype
    assert torch.equal(again.unpack(), packed.unpack())


def test_to_block_shape_is_lossless():
    w = block_masked(64, 32, (4, 1), 0.3)
    packed = pack(w, (4, 1))
    assert torch.equal(packed.to_block_shape("16x1").unpack(), w)
    assert packed.to_block_shape("16x1").block_shape == (16, 1)


@pytest.mark.parametrize("text,expected", [("16x1", (16, 1)), ("1X4", (1, 4)), ((4, 4), (4, 4)), ([32, 1], (32, 1))])
def test_parse_block_shape(text, expected):
    assert parse_block_shape(text) == expected


@pytest.mark.parametrize("bad", ["16", "16by1", "0x1", (16,), (1, -4), "axb", None])
def test_bad_block_shape_is_refused(bad):
    with pytest.raises(ValueError, match="block_shape must be two positive integers"):
        parse_block_shape(bad)


def test_block_that_does_not_divide_is_refused():
    with pytest.raises(ValueError, match=r"block shape 16x1 does not divide the weight of shape \[40, 8\]"):
        pack(torch.randn(40, 8), (16, 1))
    with pytest.raises(ValueError, match="does not divide"):
        pack(torch.randn(16, 10), (1, 4), torch.int8)


def test_bad_pack_arguments():
    with pytest.raises(ValueError, match="dtype must be one of"):
        pack(torch.randn(16, 4), (16, 1), torch.float16)
    with pytest.raises(ValueError, match="2-D tensor"):
        pack(torch.randn(16), (16, 1))
    with pytest.raises(ValueError, match="floating-point"):
        pack(torch.ones(16, 4, dtype=torch.int32), (16, 1))


def corrupt(tensors, **changes):
    out = dict(tensors)
    out.update(changes)
    return out


def test_corrupt_or_mismatched_tensors_are_refused():
    good = pack(block_masked(32, 16, (16, 1), 0.5), (16, 1)).state_dict()
    PackedBlockSparse.from_tensors(good)  # sanity
    cases = {
        "missing": ({k: v for k, v in good.items() if k != "col_idx"}, "missing"),
        "col range": (corrupt(good, col_idx=good["col_idx"] + 100), "col_idx must lie in"),
        "row_ptr len": (corrupt(good, row_ptr=torch.zeros(7, dtype=torch.int32)), "row_ptr must have"),
        "row_ptr end": (
            corrupt(good, row_ptr=good["row_ptr"] - torch.tensor([0, 0, 1], dtype=torch.int32)),
            "end at nnz_blocks",
        ),
        "values shape": (corrupt(good, values=good["values"].reshape(-1, 1, 16)), "values must have shape"),
        "dtype": (corrupt(good, row_ptr=good["row_ptr"].long()), "int32"),
        "shape": (corrupt(good, shape=torch.tensor([40, 16])), "does not divide"),
        "scales": (corrupt(good, scales=torch.ones(32)), "only used with int8"),
    }
    for name, (tensors, message) in cases.items():
        with pytest.raises(ValueError, match=message):
            PackedBlockSparse.from_tensors(tensors)
    assert int(good["row_ptr"][1]) >= 2  # the first block row holds two blocks to swap
    unsorted = good["col_idx"].clone()
    unsorted[:2] = unsorted[:2].flip(0)
    with pytest.raises(ValueError, match="strictly increasing"):
        PackedBlockSparse.from_tensors(corrupt(good, col_idx=unsorted))
    int8 = pack(block_masked(32, 16, (1, 4), 0.5), (1, 4), torch.int8).state_dict()
    with pytest.raises(ValueError, match="int8 weights need float32 scales"):
        PackedBlockSparse.from_tensors({k: v for k, v in int8.items() if k != "scales"})
    with pytest.raises(ValueError, match="inf/nan"):
        PackedBlockSparse.from_tensors(corrupt(int8, scales=torch.full((32,), float("nan"))))
