"""Sparse BERT models behave like any PreTrainedModel (transformers' common model tests, with real sparse layers in
the config): meta-device init, every buffer in ``_init_weights``, hidden states / attentions, SDPA vs eager,
half-precision loading, odd sizes. And no tensor content ever makes a kernel read out of bounds."""

import pytest
import torch
from test_sparse_models import IDS, MASK, pruned_bert
from transformers import (
    AutoModelForSequenceClassification,
    BertConfig,
    BertForMaskedLM,
    BertForSequenceClassification,
    BertModel,
)

from optimum_ro.models import save_sparse_pretrained, to_sparse_model
from optimum_ro.sparse import BlockSparseLinear, PackedBlockSparse, block_sparse_linear_op

HEADS = (BertModel, BertForSequenceClassification, BertForMaskedLM)


def sparse_layers(model):
    return [m for m in model.modules() if isinstance(m, BlockSparseLinear)]


def _fill_with_garbage(model):
    """What ``to_empty()`` may leave: arbitrary bits (NaN floats, huge or negative integers)."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            if t.is_floating_point():
                t.fill_(float("nan"))
            else:
                t.copy_(torch.randint(-(2**30), 2**30, t.shape, generator=gen).to(t.dtype))
    return {name: t.clone() for name, t in model.state_dict().items()}


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.int8])
def test_a_model_built_on_meta_and_initialised_gets_valid_sparse_layers(head, dtype):
    config = to_sparse_model(pruned_bert(head), dtype=dtype).config
    cls = type(to_sparse_model(pruned_bert(head), dtype=dtype))
    with torch.device("meta"):
        model = cls(config)
    model.to_empty(device="cpu")
    garbage = _fill_with_garbage(model)
    model.init_weights()
    layers = sparse_layers(model)
    assert len(layers) == 12
    for layer in layers:
        packed = layer.packed  # validates the structure
        assert packed.nnz_blocks == config.sparse_layers[_name_of(model, layer)]["nnz_blocks"]
        assert torch.isfinite(layer.values.float()).all() and layer.values.float().std() > 0
        assert torch.equal(layer.bias, torch.zeros_like(layer.bias))
    for name, t in model.state_dict().items():  # every tensor of the model was initialised, not only the sparse ones
        if t.is_floating_point():
            assert torch.isfinite(t).all(), name
        else:
            assert not torch.equal(t, garbage[name]), name
    with torch.no_grad():
        out = model(input_ids=IDS, attention_mask=MASK)[0]
    assert torch.isfinite(out).all()


def _name_of(model, layer):
    return next(name for name, m in model.base_model.named_modules() if m is layer)


def test_init_weights_leaves_loaded_sparse_layers_alone(tmp_path):
    save_sparse_pretrained(pruned_bert(), tmp_path)
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.init_weights()
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def _layer():
    torch.manual_seed(0)
    linear = torch.nn.Linear(32, 48)
    with torch.no_grad():
        linear.weight[:, ::2] = 0
    return BlockSparseLinear.from_dense(linear, block_shape=(16, 1))


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda layer: layer.row_ptr.__setitem__(1, 1_000_000),
        lambda layer: layer.row_ptr.__setitem__(-1, 0),
        lambda layer: layer.col_idx.__setitem__(0, -5),
        lambda layer: layer.col_idx.__setitem__(3, 1 << 30),
    ],
)
@pytest.mark.parametrize("requires_grad", [False, True])
def test_indices_changed_in_place_are_checked_before_the_next_kernel_call(corrupt, requires_grad):
    layer = _layer()
    x = torch.randn(5, 32, requires_grad=requires_grad)
    expected = layer(x).detach()  # builds and caches the layer's kernel plan
    saved = (layer.row_ptr.clone(), layer.col_idx.clone())
    with torch.no_grad():
        corrupt(layer)
    with pytest.raises(ValueError, match="row_ptr|col_idx"):
        layer(x)
    with pytest.raises(ValueError, match="row_ptr|col_idx"):
        block_sparse_linear_op(x, layer.values, layer.row_ptr, layer.col_idx, None, None, None, 48, 32, "none")
    with torch.no_grad():
        layer.row_ptr.copy_(saved[0])
        layer.col_idx.copy_(saved[1])
    torch.testing.assert_close(layer(x).detach(), expected)


def test_to_empty_without_init_is_refused_not_run():
    layer = _layer()
    layer.to_empty(device="cpu")
    with torch.no_grad():
        layer.row_ptr.copy_(torch.arange(layer.row_ptr.numel(), dtype=torch.int32) * 1000)
    with pytest.raises(ValueError, match="row_ptr"):
        layer(torch.randn(2, 32))


def test_inference_tensors_are_checked_on_every_call():
    with torch.inference_mode():
        layer = _layer()
        x = torch.randn(3, 32)
        layer(x)
        layer.col_idx[0] = 99
        with pytest.raises(ValueError, match="col_idx"):
            layer(x)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("sparse")
    save_sparse_pretrained(pruned_bert(), path)
    return path


def test_sdpa_and_eager_attention_give_the_same_outputs(folder):
    eager = AutoModelForSequenceClassification.from_pretrained(folder, attn_implementation="eager").eval()
    sdpa = AutoModelForSequenceClassification.from_pretrained(folder, attn_implementation="sdpa").eval()
    assert eager.config._attn_implementation == "eager" and sdpa.config._attn_implementation == "sdpa"
    assert len(sparse_layers(sdpa)) == 12
    with torch.no_grad():
        a = eager(input_ids=IDS, attention_mask=MASK, output_hidden_states=True)
        b = sdpa(input_ids=IDS, attention_mask=MASK, output_hidden_states=True)
    torch.testing.assert_close(a.logits, b.logits, rtol=1e-5, atol=1e-5)
    for x, y in zip(a.hidden_states, b.hidden_states):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-5)


def test_hidden_states_and_attentions_match_the_dense_model(folder):
    sparse = AutoModelForSequenceClassification.from_pretrained(folder, attn_implementation="eager").eval()
    dense = pruned_bert()
    dense.set_attn_implementation("eager")
    with torch.no_grad():
        got = sparse(input_ids=IDS, attention_mask=MASK, output_hidden_states=True, output_attentions=True)
        want = dense(input_ids=IDS, attention_mask=MASK, output_hidden_states=True, output_attentions=True)
    assert len(got.hidden_states) == 3 and len(got.attentions) == 2
    assert got.attentions[0].shape == (2, 4, IDS.shape[1], IDS.shape[1])
    for x, y in zip(got.hidden_states + got.attentions, want.hidden_states + want.attentions):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("how", ["from_pretrained", "bfloat16", "half"])
def test_half_precision_models_keep_the_sparse_storage(folder, how):
    if how == "from_pretrained":
        model = AutoModelForSequenceClassification.from_pretrained(folder, dtype=torch.bfloat16)
        dtype = torch.bfloat16
    else:
        model = getattr(AutoModelForSequenceClassification.from_pretrained(folder), how)()
        dtype = torch.bfloat16 if how == "bfloat16" else torch.float16
    model.eval()
    assert model.bert.embeddings.word_embeddings.weight.dtype == dtype
    for layer in sparse_layers(model):
        assert layer.values.dtype == torch.float32 and layer.bias.dtype == torch.float32
    with torch.no_grad():
        logits = model(input_ids=IDS, attention_mask=MASK).logits
        full = AutoModelForSequenceClassification.from_pretrained(folder).eval()(input_ids=IDS, attention_mask=MASK)
    assert logits.dtype == dtype
    torch.testing.assert_close(logits.float(), full.logits, rtol=0.05, atol=0.02)


def test_odd_sizes_keep_the_layers_that_blocks_do_not_divide_dense(tmp_path):
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=96,
        hidden_size=48,
        num_hidden_layers=1,
        num_attention_heads=3,
        intermediate_size=40,  # 40 output rows: 16x1 blocks do not divide the intermediate layer
        max_position_embeddings=32,
        num_labels=2,
    )
    dense = BertForSequenceClassification(config).eval()
    for module in dense.bert.encoder.modules():
        if isinstance(module, torch.nn.Linear):
            module.weight.data[:, ::4] = 0
            module.weight.data[:, 1::4] = 0
    save_sparse_pretrained(dense, tmp_path)
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    assert set(model.config.sparse_layers) == {
        "encoder.layer.0.attention.self.query",
        "encoder.layer.0.attention.self.key",
        "encoder.layer.0.attention.self.value",
        "encoder.layer.0.attention.output.dense",
        "encoder.layer.0.output.dense",  # [48, 40]: 16x1 blocks divide it
    }
    assert isinstance(model.bert.encoder.layer[0].intermediate.dense, torch.nn.Linear)
    with torch.no_grad():
        torch.testing.assert_close(
            model(input_ids=IDS, attention_mask=MASK).logits,
            dense(input_ids=IDS, attention_mask=MASK).logits,
            rtol=1e-5,
            atol=1e-5,
        )
    with pytest.raises(ValueError, match="does not divide the weight of shape \\[40, 48\\]"):
        PackedBlockSparse.placeholder((40, 48), (16, 1), torch.float32, 1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.int8])
def test_fused_qkv_and_residual_match_the_separate_layers(dtype):
    model = to_sparse_model(pruned_bert(), dtype=dtype)
    attention = model.bert.encoder.layer[0].attention
    assert type(attention.self).__name__ == "SparseBertSelfAttention"
    assert set(model.state_dict()) == set(to_sparse_model(pruned_bert(), dtype=dtype).state_dict())
    with torch.no_grad():
        fused = model(input_ids=IDS, attention_mask=MASK).logits
    assert "_qkv" in attention.self.__dict__  # the fused path ran
    separate = model(input_ids=IDS, attention_mask=MASK).logits  # grad mode: each layer's own call, for autograd
    # the fused path's LayerNorm runs in the kernel call, the separate path's is torch's: float32 rounding apart
    torch.testing.assert_close(fused, separate, rtol=1e-6, atol=1e-6)
    h = torch.randn(2, 8, 64)
    with torch.no_grad():
        stacked = attention.self._fused_qkv(h)(h)
        three = torch.cat([attention.self.query(h), attention.self.key(h), attention.self.value(h)], dim=-1)
    if dtype == torch.int8:
        assert torch.equal(stacked, three)  # the input is quantised the same way once or three times
    else:
        torch.testing.assert_close(stacked, three, rtol=1e-6, atol=1e-6)
    with torch.no_grad():
        (attention.self.key.scales if dtype == torch.int8 else attention.self.key.values).mul_(-1)
        changed = model(input_ids=IDS, attention_mask=MASK).logits
    torch.testing.assert_close(changed, model(input_ids=IDS, attention_mask=MASK).logits, rtol=1e-6, atol=1e-6)
    assert not torch.allclose(changed, fused)  # the fused copy followed the in-place change


def test_the_stacked_qkv_weight_is_checked_once_under_inference_mode():
    model = to_sparse_model(pruned_bert(), dtype=torch.int8)
    attention = model.bert.encoder.layer[0].attention.self
    with torch.inference_mode():
        model(input_ids=IDS, attention_mask=MASK)
        stacked = attention.__dict__["_qkv"][2]
        plan = stacked._plan
        model(input_ids=IDS, attention_mask=MASK)
    assert not stacked.values.is_inference()  # has a version counter: its plan stays valid between calls
    assert attention.__dict__["_qkv"][2] is stacked and stacked._plan is plan
