"""The LayerNorm pass of the sparse kernel call (``BlockSparseLinear(x, residual, layer_norm=ln)``, ``ops.layer_norm``)
against torch's LayerNorm: every ISA this CPU runs, every dtype and fast block shape, odd widths, and the fallback
to the module where the C++ pass cannot stand in for it."""

import pytest
import torch

from optimum_ro.sparse import BlockSparseLinear, available_isas, kernels, pack
from optimum_ro.sparse.ops import layer_norm

ISAS = [isa for isa in available_isas() if isa != "reference"]
needs_kernels = pytest.mark.skipif(not ISAS, reason="the C++ kernels are not built")


def _layer_norm_module(n, affine=True, bias=True, seed=0):
    gen = torch.Generator().manual_seed(seed)
    ln = torch.nn.LayerNorm(n, eps=1e-12, elementwise_affine=affine, bias=bias)
    with torch.no_grad():
        if affine:
            ln.weight.copy_(1 + 0.5 * torch.randn(n, generator=gen))
            if bias:
                ln.bias.copy_(torch.randn(n, generator=gen))
    return ln


@needs_kernels
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("n", [1, 15, 16, 40, 48, 93, 768])
@pytest.mark.parametrize("affine", ["both", "weight", "none"])
def test_the_layer_norm_pass_matches_torch(monkeypatch, isa, n, affine):
    monkeypatch.setenv(kernels.ISA_ENV, isa)
    ln = _layer_norm_module(n, affine != "none", affine == "both")
    gen = torch.Generator().manual_seed(n)
    x = torch.randn(2, 33, n, generator=gen) * 3 + 50  # a mean far from 0: the variance must not cancel
    threads = torch.get_num_threads()
    with torch.no_grad():
        want = ln(x)
        got = layer_norm(x, ln)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=2e-5)
        torch.set_num_threads(2)
        try:
            again = layer_norm(x, ln)
        finally:
            torch.set_num_threads(threads)
    assert torch.equal(got, again)  # one row per thread: results do not depend on the thread count


def _linear(dtype, block, n=48, k=80, seed=0):
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(n, k, generator=gen)
    br, bc = block
    keep = torch.rand(n // br, k // bc, generator=gen) > 0.6
    w = w * keep.repeat_interleave(br, 0).repeat_interleave(bc, 1)
    return BlockSparseLinear(pack(w, block, dtype), torch.randn(n, generator=gen))


def spy_on_launch(monkeypatch):
    """The ``layer_norm`` argument of every kernel call from now on (``()``: none)."""
    calls = []
    launch = kernels.launch

    def spy(*args, **kwargs):
        calls.append(args[7] if len(args) > 7 else kwargs.get("layer_norm", ()))
        return launch(*args, **kwargs)

    monkeypatch.setattr(kernels, "launch", spy)
    return calls


@needs_kernels
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize(
    "dtype,block",
    [(torch.float32, (16, 1)), (torch.bfloat16, (16, 1)), (torch.bfloat16, (16, 2)), (torch.int8, (1, 4))],
)
def test_the_kernel_call_applies_the_layer_norm_after_its_epilogue(monkeypatch, isa, dtype, block):
    monkeypatch.setenv(kernels.ISA_ENV, isa)
    layer = _linear(dtype, block)
    ln = _layer_norm_module(48)
    x, residual = torch.randn(2, 13, 80), torch.randn(2, 13, 48)
    calls = spy_on_launch(monkeypatch)
    with torch.no_grad():
        want = ln(layer(x, residual=residual))
        got = layer(x, residual=residual, layer_norm=ln)
    assert calls[0] == () and calls[1][0] == 1  # the second call normalised the rows in the kernel call
    torch.testing.assert_close(got, want, rtol=1e-5, atol=2e-5)


@needs_kernels
def test_the_layer_norm_falls_back_to_the_module_when_the_kernel_cannot_take_it():
    layer = _linear(torch.float32, (16, 1))
    x, residual = torch.randn(3, 80), torch.randn(3, 48)
    ln = _layer_norm_module(48)
    out = layer(x, residual=residual, layer_norm=ln)  # grad mode, LayerNorm parameters require grad: autograd
    out.square().sum().backward()
    assert ln.weight.grad is not None and layer.values.grad is not None
    with torch.no_grad():
        want = ln(layer(x, residual=residual))
        strided = _layer_norm_module(48)
        strided.weight = torch.nn.Parameter(torch.randn(96)[::2])  # not contiguous: the module runs
        got = layer(x, residual=residual, layer_norm=strided)
        torch.testing.assert_close(got, strided(layer(x, residual=residual)), rtol=0, atol=0)
    torch.testing.assert_close(out.detach(), want, rtol=1e-5, atol=2e-5)
