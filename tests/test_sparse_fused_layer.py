"""The fused encoder-layer forward of the SparseBert classes against their module-by-module path (float32, bfloat16
and int8 sparse layers, odd sizes, a dense layer among sparse ones), and the fallbacks that must take the modules:
grad mode, training, user hooks, output_attentions. Hidden states are recorded on the fused path."""

import pytest
import torch
from test_sparse_layer_norm import needs_kernels, spy_on_launch
from test_sparse_models import IDS as BERT_IDS
from test_sparse_models import MASK as BERT_MASK
from test_sparse_models import pruned_bert
from transformers import BertConfig, BertForSequenceClassification

from optimum_ro.models import to_sparse_model
from optimum_ro.models.sparse_bert import modeling_sparse_bert
from optimum_ro.testing import prune_random_blocks


def odd_bert(seed=0):
    """A tiny pruned BERT of odd sizes: 3 heads of 16, 80 intermediate features, 7 tokens, padding in one row. Its
    second layer's attention output keeps too many blocks to be stored sparse: a dense layer on the fused path."""
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=50,
        hidden_size=48,
        num_hidden_layers=2,
        num_attention_heads=3,
        intermediate_size=80,
        max_position_embeddings=16,
        num_labels=3,
    )
    model = BertForSequenceClassification(config).eval()
    prune_random_blocks(model.bert.encoder, 0.7, seed=seed)
    return model


IDS = torch.tensor([[2, 17, 33, 4, 41, 9, 3], [2, 30, 31, 8, 3, 0, 0]])
MASK = (IDS != 0).long()


@pytest.fixture
def fused_calls(monkeypatch):
    """How many layer calls took the fused path (returned an output) and how many fell back."""
    counts = {"fused": 0, "modules": 0}
    original = modeling_sparse_bert.fused_layer_forward

    def spy(*args, **kwargs):
        out = original(*args, **kwargs)
        counts["fused" if out is not None else "modules"] += 1
        return out

    monkeypatch.setattr(modeling_sparse_bert, "fused_layer_forward", spy)
    return counts


@needs_kernels
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.bfloat16, 1e-5), (torch.int8, 1e-2)])
@pytest.mark.parametrize("make", [odd_bert, pruned_bert])
def test_the_fused_layers_give_the_module_path_outputs(fused_calls, dtype, tol, make):
    dense = make()
    model = to_sparse_model(dense, dtype=dtype)
    assert all(type(layer).__name__ == "SparseBertLayer" for layer in model.bert.encoder.layer)
    ids, mask = (IDS, MASK) if make is odd_bert else (BERT_IDS, BERT_MASK)
    with torch.inference_mode():
        fused = model(input_ids=ids, attention_mask=mask).logits
    assert fused_calls == {"fused": 2, "modules": 0}
    modules = model(input_ids=ids, attention_mask=mask).logits  # grad mode: every module's own call
    assert fused_calls["modules"] == 2
    torch.testing.assert_close(fused, modules.detach(), rtol=tol, atol=tol)
    if dtype == torch.float32:
        with torch.no_grad():
            torch.testing.assert_close(fused, dense(input_ids=ids, attention_mask=mask).logits, rtol=1e-5, atol=1e-5)
    modules.sum().backward()  # the module path still trains
    assert model.bert.encoder.layer[0].output.LayerNorm.weight.grad is not None


@needs_kernels
def test_hidden_states_are_recorded_on_the_fused_path_and_attentions_take_the_modules(fused_calls):
    model = to_sparse_model(odd_bert())
    model.set_attn_implementation("eager")  # SDPA returns no attention weights
    with torch.no_grad():
        plain = model(input_ids=IDS, attention_mask=MASK)
        states = model(input_ids=IDS, attention_mask=MASK, output_hidden_states=True)
        assert fused_calls == {"fused": 4, "modules": 0}  # transformers' hooks, idle for the layer's insides
        both = model(input_ids=IDS, attention_mask=MASK, output_hidden_states=True, output_attentions=True)
        assert fused_calls == {"fused": 4, "modules": 2}
        again = model(input_ids=IDS, attention_mask=MASK)  # the installed hooks are idle again
    assert fused_calls == {"fused": 6, "modules": 2}
    assert len(states.hidden_states) == 3 and len(both.attentions) == 2
    assert both.attentions[0].shape == (2, 3, 7, 7)
    for x, y in zip(states.hidden_states, both.hidden_states):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-5)
    assert torch.equal(plain.logits, states.logits) and torch.equal(plain.logits, again.logits)


@needs_kernels
def test_training_and_user_hooks_take_the_modules(fused_calls):
    model = to_sparse_model(odd_bert())
    with torch.no_grad():
        want = model(input_ids=IDS, attention_mask=MASK).logits
        seen = []
        handle = model.bert.encoder.layer[1].output.dense.register_forward_hook(lambda m, a, out: seen.append(out))
        hooked = model(input_ids=IDS, attention_mask=MASK).logits
        handle.remove()
        assert fused_calls == {"fused": 3, "modules": 1} and len(seen) == 1
        model.train()
        for module in model.modules():  # dropout off: the outputs must still agree
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
        trained = model(input_ids=IDS, attention_mask=MASK).logits
    assert fused_calls == {"fused": 3, "modules": 3}
    torch.testing.assert_close(hooked, want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(trained, want, rtol=1e-5, atol=1e-5)


@needs_kernels
def test_the_output_layers_run_their_layer_norm_in_the_kernel_call(monkeypatch):
    model = to_sparse_model(pruned_bert())  # every encoder linear layer sparse
    calls = spy_on_launch(monkeypatch)
    with torch.no_grad():
        model(input_ids=BERT_IDS, attention_mask=BERT_MASK)
    # per layer: Q/K/V, attention output (+ LayerNorm), intermediate, output (+ LayerNorm); then the pooler
    assert [len(c) > 0 for c in calls] == [False, True, False, True] * 2 + [False] * (len(calls) - 8)
    ln = model.bert.encoder.layer[0].output.LayerNorm
    assert calls[3][1:] == (ln.weight.data_ptr(), ln.bias.data_ptr(), ln.eps)
