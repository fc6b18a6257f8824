"""Backward of ``optimum_ro::block_sparse_linear``: gradients against the dense masked reference, and a Trainer that
fine-tunes a loaded sparse checkpoint (with gradient checkpointing) without touching the sparsity pattern."""

import pytest
import torch
import torch.nn.functional as F
from test_sparse_models import IDS, MASK, pruned_bert
from transformers import AutoModelForSequenceClassification, Trainer, TrainingArguments

from optimum_ro.models import save_sparse_pretrained
from optimum_ro.sparse import BlockSparseLinear


def _pruned_linear(n, k, block, seed=0):
    gen = torch.Generator().manual_seed(seed)
    linear = torch.nn.Linear(k, n)
    with torch.no_grad():
        linear.weight.copy_(torch.randn(n, k, generator=gen) * 0.3)
        linear.bias.copy_(torch.randn(n, generator=gen))
        keep = torch.rand(n // block[0], k // block[1], generator=gen) < 0.35
        linear.weight.mul_(keep.repeat_interleave(block[0], 0).repeat_interleave(block[1], 1))
    return linear


def _dense_from_blocks(layer, values):
    """The layer's dense weight as a differentiable function of ``values`` (zeros outside the stored blocks)."""
    nnz, br, bc = layer.values.shape
    nrb, ncb = layer.out_features // br, layer.in_features // bc
    rows = torch.repeat_interleave(torch.arange(nrb), (layer.row_ptr[1:] - layer.row_ptr[:-1]).long())
    blocks = torch.zeros(nrb, ncb, br, bc).index_put((rows, layer.col_idx.long()), values.float())
    return blocks.permute(0, 2, 1, 3).reshape(layer.out_features, layer.in_features)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("block", [(16, 1), (16, 2), (4, 4)])
@pytest.mark.parametrize("activation", [None, "gelu"])
def test_gradients_match_the_dense_masked_reference(dtype, block, activation):
    layer = BlockSparseLinear.from_dense(_pruned_linear(48, 32, block), block, dtype, activation=activation)
    assert layer.values.requires_grad and layer.bias.requires_grad
    x = torch.randn(2, 5, 32, requires_grad=True)
    res = torch.randn(2, 5, 48, requires_grad=True)
    weights = torch.randn(2, 5, 48)
    (layer(x, residual=res) * weights).sum().backward()

    values = layer.values.detach().clone().requires_grad_()
    bias = layer.bias.detach().clone().requires_grad_()
    x_ref, res_ref = x.detach().clone().requires_grad_(), res.detach().clone().requires_grad_()
    y = F.linear(x_ref, _dense_from_blocks(layer, values), bias)
    y = (F.gelu(y) if activation else y) + res_ref
    (y * weights).sum().backward()

    tol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else dict(rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(x.grad, x_ref.grad, **tol)
    torch.testing.assert_close(res.grad, res_ref.grad)
    torch.testing.assert_close(layer.bias.grad, bias.grad, **tol)
    assert layer.values.grad.dtype == dtype and layer.values.grad.shape == layer.values.shape
    torch.testing.assert_close(layer.values.grad.float(), values.grad.float(), **tol)


def test_int8_layers_pass_gradients_to_inputs_and_scales_not_codes():
    layer = BlockSparseLinear.from_dense(_pruned_linear(48, 32, (1, 4)), (1, 4), torch.int8)
    assert "values" in dict(layer.named_buffers()) and not layer.values.requires_grad
    with pytest.raises(RuntimeError, match="floating point"):
        layer.values.requires_grad_()
    layer.scales.requires_grad_()
    x = torch.randn(7, 32, requires_grad=True)
    weights = torch.randn(7, 48)
    (layer(x) * weights).sum().backward()
    # straight-through reference: the dequantised weight applied to the unquantised input
    scales = layer.scales.detach().clone().requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    dense = _dense_from_blocks(layer, layer.values) * scales[:, None]
    (F.linear(x_ref, dense, layer.bias.detach()) * weights).sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(layer.scales.grad, scales.grad, rtol=2e-2, atol=2e-2)


def test_compiled_backward_matches_eager():
    layer = BlockSparseLinear.from_dense(_pruned_linear(32, 32, (16, 1)), activation="gelu")
    x = torch.randn(4, 32, requires_grad=True)
    layer(x).square().sum().backward()
    eager = (x.grad.clone(), layer.values.grad.clone(), layer.bias.grad.clone())
    x.grad = layer.values.grad = layer.bias.grad = None
    torch.compile(layer, backend="aot_eager", fullgraph=True)(x).square().sum().backward()
    for got, want in zip((x.grad, layer.values.grad, layer.bias.grad), eager):
        torch.testing.assert_close(got, want)


def test_a_trainer_fine_tunes_a_sparse_checkpoint_with_gradient_checkpointing(tmp_path):
    save_sparse_pretrained(pruned_bert(), tmp_path / "model")
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "model")
    layers = [m for m in model.modules() if isinstance(m, BlockSparseLinear)]
    before = [(m.values.detach().clone(), m.row_ptr.clone(), m.col_idx.clone()) for m in layers]
    rows = [
        {"input_ids": ids, "attention_mask": mask, "labels": int(i % 3)}
        for i, (ids, mask) in enumerate(zip(IDS, MASK))
    ]
    args = TrainingArguments(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=2,
        max_steps=8,
        learning_rate=5e-3,
        activation_checkpointing=True,
        use_cpu=True,
        report_to=[],
        save_strategy="no",
        logging_steps=1,
    )
    trainer = Trainer(model=model, args=args, train_dataset=rows * 4)
    trainer.train()
    assert model.is_activation_checkpointing  # the encoder layers were recomputed in the backward
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 8 and losses[-1] < losses[0]
    for layer, (values, row_ptr, col_idx) in zip(layers, before):
        assert not torch.equal(layer.values, values)  # the stored blocks learned
        assert torch.equal(layer.row_ptr, row_ptr) and torch.equal(layer.col_idx, col_idx)  # the pattern did not
    model.eval()
    save_sparse_pretrained(model, tmp_path / "tuned")
    again = AutoModelForSequenceClassification.from_pretrained(tmp_path / "tuned").eval()
    with torch.no_grad():
        torch.testing.assert_close(
            again(input_ids=IDS, attention_mask=MASK).logits, model(input_ids=IDS, attention_mask=MASK).logits
        )
