"""Every kernel path this CPU can run (forced through OPTIMUM_RO_ISA) against dense oracles.

Tolerances: fp32 and bf16 weights (bf16 is widened to fp32, so only the summation order differs):
|y - oracle| <= 1e-5 * (|x| @ |W|^T + |b| + |residual|) + 1e-6. The AVX512-BF16 kernel (bf16 16x2 blocks,
``bf16_dot_products``) rounds x to bf16 first; its oracle uses the same rounded x (products of bf16 values
are exact in fp32), so the same bound applies. int8: the activations are quantised
per row exactly as ``quantize_rows`` does and the integer sums are exact, so the only difference is
the fp32 rounding of the scale product: same bound with |q_x| @ |q_W|^T * s_x * s_W.
"""

import contextlib
import os

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimum_ro.sparse import (
    FAST_BLOCK_SHAPES,
    ISA_ENV,
    available_isas,
    bf16_dot_products,
    block_sparse_linear,
    current_isa,
    kernels,
    pack,
    quantize_rows,
)

ISAS = available_isas()
FAST_SHAPES = FAST_BLOCK_SHAPES  # {dtype: (default shape, other fast shapes...)}


SMALL_WORK_CUTOFF = kernels.MIN_WORK_PER_THREAD  # the library's value, before any fixture patches it


@pytest.fixture(autouse=True)
def one_thread_and_no_small_work_cutoff(monkeypatch):
    """Shared 2-core CI machines make 2-thread runs slow, so only the thread-determinism check uses
    two threads; the small-problem cutoff is disabled so that check really runs two threads."""
    monkeypatch.setattr(kernels, "MIN_WORK_PER_THREAD", 0)
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@contextlib.contextmanager
def forced_isa(isa):
    old = os.environ.get(ISA_ENV)
    os.environ[ISA_ENV] = isa
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(ISA_ENV, None)
        else:
            os.environ[ISA_ENV] = old


@contextlib.contextmanager
def threads(n):
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def make_weight(n, k, block, density, pattern, gen):
    br, bc = block
    keep = torch.rand(n // br, k // bc, generator=gen) < density
    if pattern == "empty_rows":
        keep[::2] = False
    elif pattern == "empty_cols":
        keep[:, 1::2] = False
    elif pattern == "zero":
        keep[:] = False
    elif pattern == "dense":
        keep[:] = True
    mask = keep[:, None, :, None].expand(-1, br, -1, bc).reshape(n, k)
    return torch.randn(n, k, generator=gen) * mask


def oracle(x, packed, bias, residual, activation, isa=None):
    """Dense oracle and an error bound; independent of the BSR code paths."""
    if bf16_dot_products(isa, packed.dtype, packed.block_shape):
        x = x.bfloat16().float()  # the vdpbf16ps kernel multiplies bf16 activations
    if packed.dtype == torch.int8:
        q, sx = quantize_rows(x)
        wq = packed.unpack_stored().double()
        s = sx[:, None] * packed.scales[None, :]
        y = (q.double() @ wq.T).float() * s
        magnitude = (q.double().abs() @ wq.abs().T).float() * s
    else:
        w = packed.unpack()
        y = x @ w.T
        magnitude = x.abs() @ w.abs().T
    if bias is not None:
        y = y + bias
        magnitude = magnitude + bias.abs()
    if activation == "gelu":
        y = F.gelu(y)
    if residual is not None:
        y = y + residual
        magnitude = magnitude + residual.abs()
    return y, 1e-5 * magnitude + 1e-6


def assert_close(y, expected, bound, what):
    err = (y - expected).abs()
    worst = int(torch.argmax(err - bound)) if err.numel() else 0
    assert bool((err <= bound).all()), (
        f"{what}: max excess {float((err - bound).flatten()[worst]):.3g} at flat index {worst} "
        f"(got {float(y.flatten()[worst])}, expected {float(expected.flatten()[worst])})"
    )


@st.composite
def problems(draw):
    dtype = draw(st.sampled_from([torch.float32, torch.bfloat16, torch.int8]))
    others = [(4, 4), (4, 1), (1, 4), (1, 1), (32, 1), (2, 8), (16, 4)]
    block = draw(st.sampled_from(list(FAST_SHAPES[dtype]) * 3 + others))
    br, bc = block
    n = br * draw(st.integers(1, max(1, 96 // br)))
    k = bc * draw(st.integers(1, max(1, 96 // bc)))
    m = draw(st.one_of(st.integers(1, 48), st.integers(1, 48), st.integers(1, 48), st.integers(1, 600)))
    density = draw(st.sampled_from([0.01, 0.05, 0.1, 0.3, 0.6, 1.0]))
    pattern = draw(st.sampled_from(["random"] * 4 + ["empty_rows", "empty_cols", "zero", "dense"]))
    return dict(
        dtype=dtype,
        block=block,
        n=n,
        k=k,
        m=m,
        density=density,
        pattern=pattern,
        bias=draw(st.booleans()),
        residual=draw(st.booleans()),
        activation=draw(st.sampled_from(["none", "gelu"])),
        seed=draw(st.integers(0, 2**31 - 1)),
        lead=draw(st.sampled_from([(), (1,), (2,)])),
    )


def run_case(isa, c, check_threads=False):
    gen = torch.Generator().manual_seed(c["seed"])
    w = make_weight(c["n"], c["k"], c["block"], c["density"], c["pattern"], gen)
    packed = pack(w, c["block"], c["dtype"])
    m = c["m"]
    lead = c["lead"]
    if lead and m % lead[0] == 0:
        shape = (lead[0], m // lead[0])
    else:
        shape = (m,)
    x = torch.randn(*shape, c["k"], generator=gen) * 2
    bias = torch.randn(c["n"], generator=gen) if c["bias"] else None
    residual = torch.randn(*shape, c["n"], generator=gen) if c["residual"] else None
    with forced_isa(isa):
        y1 = block_sparse_linear(x, packed, bias, residual, c["activation"])
        if (
            check_threads or c["seed"] % 4 == 0
        ) and isa != "reference":  # a quarter of the cases: 2 threads, bit-identical
            with threads(2):
                y2 = block_sparse_linear(x, packed, bias, residual, c["activation"])
            assert torch.equal(y1, y2), "1 and 2 threads must give identical results"
    assert y1.shape == (*shape, c["n"])
    expected, bound = oracle(
        x.reshape(-1, c["k"]),
        packed,
        bias,
        None if residual is None else residual.reshape(-1, c["n"]),
        c["activation"],
        isa,
    )
    assert_close(y1.reshape(-1, c["n"]), expected, bound, f"{isa} {c}")


@pytest.mark.parametrize("isa", ISAS)
@settings(max_examples=350, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=problems())
def test_every_path_matches_the_dense_oracle(isa, case):
    run_case(isa, case)


BERT_CASES = [
    (torch.float32, (16, 1), 128, 768, 768, 0.1),
    (torch.float32, (16, 1), 7, 3072, 768, 0.05),
    (torch.bfloat16, (16, 1), 33, 768, 3072, 0.1),
    (torch.int8, (1, 4), 128, 3072, 768, 0.1),
    (torch.int8, (1, 4), 5, 768, 3072, 0.2),
    (torch.float32, (16, 1), 300, 256, 1024, 0.3),
    (torch.bfloat16, (16, 1), 600, 3072, 64, 0.1),  # several row blocks x several K chunks in the fp kernels
    (torch.int8, (1, 4), 600, 1024, 48, 0.3),
    (torch.float32, (16, 2), 128, 3072, 768, 0.1),
    (torch.bfloat16, (16, 2), 128, 768, 768, 0.1),
    (torch.bfloat16, (16, 2), 600, 3072, 64, 0.1),
    (torch.float32, (4, 1), 128, 768, 3072, 0.1),  # the small-block token kernels: M past a tile, odd multiples
    (torch.float32, (1, 4), 37, 3072, 772, 0.1),
    (torch.float32, (4, 4), 130, 772, 768, 0.1),
    (torch.bfloat16, (4, 1), 33, 3068, 260, 0.1),
    (torch.bfloat16, (1, 4), 65, 12, 3, 1.0),
    (torch.int8, (4, 1), 128, 3072, 768, 0.1),
    (torch.int8, (4, 1), 5, 1300, 36, 1.0),  # rows of 1300 stored inputs: two exactly-summed runs
]


@pytest.mark.parametrize("isa", [i for i in ISAS if i != "reference"])
@pytest.mark.parametrize("dtype,block,m,k,n,density", BERT_CASES)
def test_bert_sized_shapes(isa, dtype, block, m, k, n, density):
    run_case(
        isa,
        dict(
            dtype=dtype,
            block=block,
            n=n,
            k=k,
            m=m,
            density=density,
            pattern="random",
            bias=True,
            residual=dtype == torch.float32,
            activation="gelu",
            seed=m * n,
            lead=(),
        ),
        check_threads=True,
    )


@pytest.mark.parametrize("dtype,block", [(d, b) for d, shapes in FAST_SHAPES.items() for b in shapes])
def test_fast_paths_really_run(dtype, block):
    """The vector ISAs must take their own kernel for the fast block shapes, not the portable one; bf16
    16x2 takes the AVX512-BF16 dot-product kernel where the CPU has it."""
    w = make_weight(64, 64, block, 0.3, "random", torch.Generator().manual_seed(0))
    packed = pack(w, block, dtype)
    x = torch.randn(9, 64)
    for isa in [i for i in ISAS if i != "reference"]:
        out = torch.empty(9, 64)
        name = kernels.run_kernel(
            isa, x, packed.values, packed.row_ptr, packed.col_idx, packed.scales, None, None, out, "none"
        )
        expected = "avx512-bf16/" if bf16_dot_products(isa, dtype, block) else isa
        assert name.startswith(expected), name
        assert isa == "portable" or name.endswith(f"{block[0]}x{block[1]}"), name
        odd = pack(w, (2, 8), dtype)
        name = kernels.run_kernel(isa, x, odd.values, odd.row_ptr, odd.col_idx, odd.scales, None, None, out, "none")
        assert name.startswith("portable"), name


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_16x2_blocks_give_exactly_the_16x1_result(dtype):
    """A 16x2 block runs as two 16x1 columns at k and k + 1, so per output the products are summed in the
    same order as with the weight packed 16x1 (a zero column adds an exact 0): equal bit for bit, also
    across K chunks (3072) and the permuted lane order of AVX2 fp32."""
    gen = torch.Generator().manual_seed(7)
    for m, k, n in [(5, 64, 48), (128, 3072, 64), (37, 768, 32)]:
        w = make_weight(n, k, (16, 2), 0.2, "random", gen)
        x = torch.randn(m, k, generator=gen)
        bias = torch.randn(n, generator=gen)
        for isa in [i for i in ISAS if i != "reference"]:
            if bf16_dot_products(isa, dtype, (16, 2)):
                continue  # that kernel rounds x to bf16: covered by the oracle tests
            with forced_isa(isa):
                y2 = block_sparse_linear(x, pack(w, (16, 2), dtype), bias, activation="gelu")
                y1 = block_sparse_linear(x, pack(w, (16, 1), dtype), bias, activation="gelu")
            assert torch.equal(y1, y2), (isa, m, k, n)


BLOCKINGS = [  # extreme and ordinary cache blockings; none may change a single bit of the output
    dict(
        fp_tile_rows=1,
        fp_l1_x_bytes=64,
        fp_group_bytes=1,
        fp_block_rows=1,
        i8_group_tiles=1,
        i8_store_rows=1,
        i8_chains=1,
    ),
    dict(
        fp_tile_rows=5,
        fp_l1_x_bytes=4096,
        fp_group_bytes=4096,
        fp_block_rows=37,
        i8_group_tiles=3,
        i8_store_rows=13,
        i8_chains=2,
    ),
    dict(
        fp_tile_rows=1000,
        fp_l1_x_bytes=1 << 30,
        fp_group_bytes=1 << 30,
        fp_block_rows=1 << 20,
        i8_group_tiles=99,
        i8_store_rows=1 << 20,
        i8_chains=3,
    ),
    dict(i8_group_tiles=2, i8_chains=99),
]


@pytest.mark.skipif(not kernels.extension_available(), reason="needs the compiled kernels")
@pytest.mark.parametrize("dtype,block", [(d, b) for d, shapes in FAST_SHAPES.items() for b in shapes])
def test_cache_blocking_never_changes_results(dtype, block):
    """Tiles, K chunks, panel groups, row blocks and int8 token groups only reorder the loops: every output
    element sums the same products in the same order, so any blocking gives the automatic one's bits."""
    gen = torch.Generator().manual_seed(11)
    for m, k, n in [(1, 64, 32), (77, 3072, 48), (300, 768, 64)]:
        w = make_weight(n, k, block, 0.15, "random", gen)
        packed = pack(w, block, dtype)
        x, bias, res = (
            torch.randn(m, k, generator=gen),
            torch.randn(n, generator=gen),
            torch.randn(m, n, generator=gen),
        )
        for isa in [i for i in ISAS if i not in ("reference", "portable")]:
            with forced_isa(isa):
                expected = block_sparse_linear(x, packed, bias, residual=res, activation="gelu")
                for blocking in BLOCKINGS:
                    with kernels.tuned(**blocking) as resolved:
                        assert all(resolved[key] == value for key, value in blocking.items())
                        got = block_sparse_linear(x, packed, bias, residual=res, activation="gelu")
                    assert torch.equal(got, expected), (isa, m, k, n, blocking)


@pytest.mark.skipif(not kernels.extension_available(), reason="needs the compiled kernels")
def test_cache_blocking_defaults_and_bad_values():
    auto = kernels.kernel_tuning()
    assert auto["l1d_bytes"] >= 16 * 1024 and auto["l2_bytes"] >= 64 * 1024
    assert auto["fp_l1_x_bytes"] == auto["l1d_bytes"] * 5 // 8 and auto["fp_group_bytes"] == auto["l2_bytes"] // 2
    with kernels.tuned(fp_group_bytes=12345):
        with kernels.tuned(fp_block_rows=64) as inner:
            assert inner["fp_group_bytes"] == 12345 and inner["fp_block_rows"] == 64
        assert kernels.kernel_tuning()["fp_block_rows"] == auto["fp_block_rows"]
    assert kernels.kernel_tuning() == auto
    with pytest.raises(ValueError, match="unknown tuning field.*fp_l2_bytes; known: fp_tile_rows"):
        kernels.set_kernel_tuning(fp_l2_bytes=1)
    with pytest.raises(ValueError, match="fp_tile_rows must be a non-negative int"):
        kernels.set_kernel_tuning(fp_tile_rows=-3)
    with pytest.raises(ValueError, match="i8_group_tiles must be a non-negative int .*got True"):
        kernels.set_kernel_tuning(i8_group_tiles=True)
    assert kernels.kernel_tuning() == auto


def test_int8_quantisation_is_bit_identical_to_the_reference():
    """Residual-free int8 with unit weight scales exposes the codes: y = q_x * s_x exactly."""
    k = 64
    w = torch.zeros(k, k)
    w[torch.arange(k), torch.arange(k)] = 1.0  # identity: scales are 1/127, codes 127
    packed = pack(w, (1, 4), torch.int8)
    x = torch.randn(37, k) * 3
    x[3] = 0.0  # all-zero row: scale 0, output 0
    x[5, 7] = 0.5 * (x[5].abs().max())  # a value near a rounding tie
    q, sx = quantize_rows(x)
    for isa in ISAS:
        with forced_isa(isa):
            y = block_sparse_linear(x, packed)
        codes = torch.round(y / (sx[:, None] * packed.scales[None, :] * 127).clamp_min(1e-30))
        assert torch.equal(codes[torch.arange(37) != 3], q.float()[torch.arange(37) != 3]), isa
        assert torch.equal(y[3], torch.zeros(k)), isa


def test_int8_sums_are_exact_at_the_int16_saturation_edge():
    """Codes of 127 everywhere: pairwise sums 2*127*127 overflow int16 (a plain vpmaddubsw would saturate).
    Then the largest magnitudes int8 holds: weights of -128 (the packer never makes them, a hand-made
    checkpoint may) against activations of -127, products 128*127 whose signs the AVX2 path moves."""
    k = 3072
    packed = pack(torch.ones(16, k), (1, 4), torch.int8)
    x = torch.ones(8, k)
    for isa in ISAS:
        with forced_isa(isa):
            y = block_sparse_linear(x, packed)
        assert torch.allclose(y, torch.full((8, 16), float(k)), rtol=1e-6), isa
    packed.values.fill_(-128)
    packed.values[:, :, 1] = 127  # per block: -128, 127, -128, -128
    x = -torch.ones(8, k)  # codes -127, scale 1/127
    expected = (k // 4) * (3 * 128 - 127) * packed.scales[0].item()
    for isa in ISAS:
        with forced_isa(isa):
            y = block_sparse_linear(x, packed)
        assert torch.allclose(y, torch.full((8, 16), expected), rtol=1e-6), isa


def test_int8_4x1_sums_past_2_to_the_24_are_exact():
    """The int8 4x1 kernel sums products of codes in fp32, exact only below 2^24, so it adds runs of at most 1032
    inputs in int32: rows of 3072 inputs of codes 127 x 127 (up to 49.5M) must give the exact int32 sum, i.e. the
    portable kernel's result bit for bit. Without the runs, adding 16129 past 2^24 in fp32 rounds."""
    k, n = 3072, 8
    packed = pack(torch.ones(n, k), (4, 1), torch.int8)  # codes 127
    x = torch.ones(5, k)
    x[1, ::3] = -1.0
    x[2, : k // 2] = -1.0
    x[3, :1500] = -1.0
    q, sx = quantize_rows(x)
    exact = q.long() @ packed.unpack_stored().long().T
    want = exact.float() * (sx[:, None] * packed.scales[None, :])
    assert float(exact.abs().max()) > 2**24
    for isa in ISAS:
        with forced_isa(isa):
            y = block_sparse_linear(x, packed)
        assert torch.equal(y, want), isa


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fused_gelu_is_within_1e6_of_float64_gelu_on_every_path(dtype):
    """An identity weight makes the layer's output GELU(x) itself: the fused epilogue's GELU (an erf
    approximation on the vector paths) against float64 GELU, for x from -10 to 10 and both residual forms."""
    k = 64
    x = torch.linspace(-10, 10, 48 * k).reshape(48, k)
    for block in FAST_SHAPES[dtype]:
        packed = pack(torch.eye(k), block, dtype)
        for isa in ISAS:
            xd = x.bfloat16().double() if bf16_dot_products(isa, dtype, block) else x.double()  # X rounded there
            expected = 0.5 * xd * (1 + torch.erf(xd / 2**0.5))
            with forced_isa(isa):
                y = block_sparse_linear(x, packed, activation="gelu")
                y_res = block_sparse_linear(x, packed, residual=torch.ones(48, k), activation="gelu")
            err = (y.double() - expected).abs().max().item()
            assert err <= 1e-6, (isa, block, err)
            assert (y_res.double() - 1 - expected).abs().max().item() <= 2e-6, (isa, block)


def test_non_contiguous_input_is_handled():
    packed = pack(make_weight(32, 48, (16, 1), 0.5, "random", torch.Generator().manual_seed(1)), (16, 1))
    x = torch.randn(48, 10).T  # [10, 48], not contiguous
    assert not x.is_contiguous()
    for isa in ISAS:
        with forced_isa(isa):
            assert torch.equal(block_sparse_linear(x, packed), block_sparse_linear(x.contiguous(), packed))


def test_empty_batch():
    packed = pack(torch.ones(16, 8), (16, 1))
    for isa in ISAS:
        with forced_isa(isa):
            assert block_sparse_linear(torch.zeros(0, 8), packed).shape == (0, 16)


def test_bad_inputs_raise_clear_errors():
    packed = pack(torch.ones(32, 16), (16, 1))
    with pytest.raises(TypeError, match="expects float32 input; got torch.float64"):
        block_sparse_linear(torch.randn(4, 16, dtype=torch.float64), packed)
    with pytest.raises(ValueError, match="input has 15 features in its last dim; the weight expects 16"):
        block_sparse_linear(torch.randn(4, 15), packed)
    with pytest.raises(ValueError, match=r"bias must be float32 of shape \[32\]"):
        block_sparse_linear(torch.randn(4, 16), packed, bias=torch.randn(31))
    with pytest.raises(ValueError, match=r"residual must be float32 of shape \[4, 32\]"):
        block_sparse_linear(torch.randn(4, 16), packed, residual=torch.randn(4, 16))
    with pytest.raises(ValueError, match="activation must be one of"):
        block_sparse_linear(torch.randn(4, 16), packed, activation="relu6")


def test_forcing_an_isa_the_cpu_lacks_names_its_features():
    missing = [isa for isa in ("avx512", "avx2") if isa not in ISAS]
    if kernels.extension_available() and missing:
        with forced_isa(missing[0]):
            with pytest.raises(RuntimeError, match=f"{ISA_ENV}={missing[0]} but this CPU lacks .*it has:"):
                current_isa()
    with forced_isa("sse9"):
        with pytest.raises(ValueError, match="is not one of auto, avx512, avx2, portable, reference"):
            current_isa()
    with forced_isa("reference"):
        assert current_isa() == "reference"
    with forced_isa("auto"):
        assert current_isa() == ISAS[0]


def test_current_isa_follows_every_change_of_the_environment(monkeypatch):
    # current_isa reads the variable's raw bytes (a cheaper read than os.environ.get): never a stale value
    monkeypatch.setenv(ISA_ENV, "reference")
    assert current_isa() == "reference"
    monkeypatch.setenv(ISA_ENV, " Reference ")
    assert current_isa() == "reference"
    monkeypatch.delenv(ISA_ENV)
    assert current_isa() == ISAS[0]
    os.environ[ISA_ENV] = "reference"
    try:
        assert current_isa() == "reference"
    finally:
        del os.environ[ISA_ENV]
    assert current_isa() == ISAS[0]


def test_thread_count_follows_torch_and_skips_threads_only_for_tiny_work(monkeypatch):
    monkeypatch.setattr(kernels, "MIN_WORK_PER_THREAD", SMALL_WORK_CUTOFF)  # the fixture above disables it
    with threads(2):
        assert kernels.thread_count(kernels.MIN_WORK_PER_THREAD * 2) == 2
        assert kernels.thread_count(768 * 768 // 10) == 2  # one token through a 90%-sparse BERT-base layer
        assert kernels.thread_count(kernels.MIN_WORK_PER_THREAD - 1) == 1
        assert kernels.thread_count(0) == 1
    assert kernels.thread_count(1 << 30, num_threads=3) == 3
