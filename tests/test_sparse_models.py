"""Sparse BERT checkpoints: pruned BERT -> save_sparse_pretrained -> AutoModel*.from_pretrained with remote code.

Tiny random BERTs with 16x4 block zeros (so both the 16x1 float blocks and the 1x4 int8 blocks are sparse)."""

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from card_checks import load_card_metadata
from safetensors.torch import load_file, save_file
from transformers import (
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    BertConfig,
    BertForMaskedLM,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
)

from optimum_ro.models import (
    SparseBertConfig,
    SparseBertForSequenceClassification,
    SparseBertModel,
    save_sparse_pretrained,
    to_dense_model,
    to_sparse_model,
)
from optimum_ro.sparse import BlockSparseLinear, sparsify_model
from optimum_ro.testing import prune_random_blocks

AUTO = {
    BertModel: AutoModel,
    BertForSequenceClassification: AutoModelForSequenceClassification,
    BertForTokenClassification: AutoModelForTokenClassification,
    BertForMaskedLM: AutoModelForMaskedLM,
}
IDS = torch.tensor([[2, 17, 33, 4, 51, 9, 77, 3], [2, 60, 61, 62, 8, 3, 0, 0]])
MASK = (IDS != 0).long()


def pruned_bert(cls=BertForSequenceClassification, sparsity=0.75, seed=0):
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=96,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        max_position_embeddings=32,
        num_labels=3,
    )
    model = cls(config).eval()
    prune_random_blocks(model.base_model.encoder, sparsity, seed=seed)
    return model


def outputs(model):
    with torch.no_grad():
        return model(input_ids=IDS, attention_mask=MASK)[0]


@pytest.mark.parametrize("cls", list(AUTO))
def test_each_head_round_trips_through_automodel_fp32(tmp_path, cls):
    dense = pruned_bert(cls)
    save_sparse_pretrained(dense, tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "sparse_bert" and config["auto_map"]["AutoModel"].endswith("SparseBertModel")
    assert (tmp_path / "modeling_sparse_bert.py").exists() and (tmp_path / "configuration_sparse_bert.py").exists()
    assert "trust_remote_code=True" in (tmp_path / "README.md").read_text()
    loaded = AUTO[cls].from_pretrained(tmp_path, trust_remote_code=True).eval()
    assert type(loaded).__name__ == "Sparse" + cls.__name__
    layers = [m for m in loaded.modules() if isinstance(m, BlockSparseLinear)]
    assert len(layers) == 12  # 6 linear layers per encoder layer, all 75% sparse
    fused = loaded.base_model.encoder.layer[0].intermediate
    assert fused.dense.activation == "gelu" and isinstance(fused.intermediate_act_fn, torch.nn.Identity)
    torch.testing.assert_close(outputs(loaded), outputs(dense), rtol=1e-5, atol=1e-5)
    back = to_dense_model(loaded)
    assert type(back) is cls
    for name, p in dense.state_dict().items():
        assert torch.equal(back.state_dict()[name], p), name


def test_bfloat16_blocks_match_the_rounded_weights(tmp_path):
    dense = pruned_bert()
    save_sparse_pretrained(dense, tmp_path, dtype=torch.bfloat16)
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path, trust_remote_code=True)
    assert loaded.bert.encoder.layer[1].output.dense.values.dtype == torch.bfloat16  # not cast to the model dtype
    rounded = copy.deepcopy(dense)
    for module in rounded.bert.encoder.modules():
        if isinstance(module, torch.nn.Linear):
            module.weight.data = module.weight.data.bfloat16().float()
    torch.testing.assert_close(outputs(loaded), outputs(rounded), rtol=1e-5, atol=1e-5)
    assert not torch.equal(outputs(loaded), outputs(dense))  # the rounding is real


def test_int8_checkpoint_runs_the_same_kernels_as_sparsify_model(tmp_path):
    dense = pruned_bert()
    save_sparse_pretrained(dense, tmp_path, dtype=torch.int8)
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path, trust_remote_code=True)
    layer = loaded.bert.encoder.layer[0].attention.self.query
    assert layer.values.dtype == torch.int8 and layer.block_shape == (1, 4) and layer.scales is not None
    in_memory = sparsify_model(copy.deepcopy(dense), dtype=torch.int8)
    x = torch.randn(2, 8, 128)
    with torch.no_grad():  # the same kernel on the same stored blocks
        ours, theirs = (m.bert.encoder.layer[1].output.dense(x) for m in (loaded, in_memory))
    assert torch.equal(ours, theirs)
    # the SparseBert classes run the output layers' LayerNorm in the kernel call, sparsify_model's BERT runs torch's
    torch.testing.assert_close(outputs(loaded), outputs(in_memory), rtol=1e-6, atol=1e-6)
    err = (outputs(loaded) - outputs(dense)).abs().max() / outputs(dense).abs().max()
    assert 0 < err < 0.05


def test_a_saved_sparse_model_saves_and_loads_again_bit_for_bit(tmp_path):
    dense = pruned_bert(BertForTokenClassification)
    first = to_sparse_model(dense, dtype=torch.int8)
    save_sparse_pretrained(first, tmp_path / "a")
    again = AutoModelForTokenClassification.from_pretrained(tmp_path / "a", trust_remote_code=True)
    save_sparse_pretrained(again, tmp_path / "b")
    third = AutoModelForTokenClassification.from_pretrained(tmp_path / "b", trust_remote_code=True)
    assert torch.equal(outputs(first), outputs(third))
    sizes = [os.path.getsize(tmp_path / d / "model.safetensors") for d in ("a", "b")]
    assert sizes[0] == sizes[1]


def test_models_loaded_as_remote_code_convert_and_save_like_ours(tmp_path):
    from transformers.dynamic_module_utils import get_class_from_dynamic_module

    dense = pruned_bert()
    save_sparse_pretrained(dense, tmp_path / "a", dtype=torch.bfloat16)
    remote_cls = get_class_from_dynamic_module(
        "modeling_sparse_bert.SparseBertForSequenceClassification", str(tmp_path / "a")
    )
    assert remote_cls is not SparseBertForSequenceClassification  # the copy in the folder, as another process sees it
    remote = remote_cls.from_pretrained(tmp_path / "a")
    back = to_dense_model(remote)
    assert type(back) is BertForSequenceClassification
    torch.testing.assert_close(outputs(back), outputs(remote), rtol=1e-5, atol=1e-5)
    save_sparse_pretrained(remote, tmp_path / "b")  # saved as it is, not re-packed
    again = AutoModelForSequenceClassification.from_pretrained(tmp_path / "b", trust_remote_code=True)
    assert again.config.sparse_layers == remote.config.sparse_layers
    assert torch.equal(outputs(again), outputs(remote))


def test_registered_classes_load_without_trust_remote_code(tmp_path):
    save_sparse_pretrained(pruned_bert(), tmp_path)
    base = AutoModel.from_pretrained(tmp_path)  # a head's checkpoint loads as the base model
    assert isinstance(base, SparseBertModel)
    torch.testing.assert_close(outputs(base), outputs(pruned_bert().bert), rtol=1e-5, atol=1e-5)


def test_checkpoint_loads_without_optimum_ro_on_dense_fallback(tmp_path):
    dense = pruned_bert()
    save_sparse_pretrained(dense, tmp_path, dtype=torch.int8)
    expected = outputs(AutoModelForSequenceClassification.from_pretrained(tmp_path, trust_remote_code=True))
    torch.save({"ids": IDS, "mask": MASK, "expected": expected}, tmp_path / "io.pt")
    script = f"""
import sys, torch
sys.modules["optimum_ro"] = None  # as on a machine without optimum-ro
from transformers import AutoModelForSequenceClassification
io = torch.load({str(tmp_path / "io.pt")!r})
model = AutoModelForSequenceClassification.from_pretrained({str(tmp_path)!r}, trust_remote_code=True).eval()
layer = model.bert.encoder.layer[0].output.dense
assert type(layer).__name__ == "DenseFallbackLinear", type(layer)
with torch.no_grad():
    got = model(input_ids=io["ids"], attention_mask=io["mask"]).logits
print("MAXDIFF", float((got - io["expected"]).abs().max()))
with torch.no_grad():  # new contents copied into the same tensors: the rebuilt dense weight follows
    layer.values.zero_()
    assert not torch.equal(model(input_ids=io["ids"], attention_mask=io["mask"]).logits, got)
"""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules")}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "optimum-ro is not installed" in run.stderr
    diff = float(run.stdout.split("MAXDIFF")[1])
    # int8 there: dequantised weights times unquantised activations, vs the kernels' quantised activations
    assert diff < 0.05 * float(expected.abs().max())


def _tamper(folder: Path, key: str, fn):
    tensors = load_file(folder / "model.safetensors")
    fn(tensors, key)
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})


def test_corrupt_or_truncated_checkpoints_are_refused(tmp_path):
    save_sparse_pretrained(pruned_bert(), tmp_path)
    key = "bert.encoder.layer.1.output.dense."

    def out_of_range(t, k):
        t[k + "col_idx"] = t[k + "col_idx"].clone()
        t[k + "col_idx"][0] = 10_000

    _tamper(tmp_path, key, out_of_range)
    with pytest.raises(ValueError, match=r"encoder\.layer\.1\.output\.dense.*col_idx must lie"):
        AutoModelForSequenceClassification.from_pretrained(tmp_path, trust_remote_code=True)
    _tamper(tmp_path, key, lambda t, k: t.pop(k + "col_idx"))
    with pytest.raises(ValueError, match=r"lacks \['bert\.encoder\.layer\.1\.output\.dense\.col_idx'\]"):
        AutoModelForSequenceClassification.from_pretrained(tmp_path, trust_remote_code=True)


def test_a_config_that_does_not_match_the_tensors_is_refused(tmp_path):
    save_sparse_pretrained(pruned_bert(), tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["sparse_layers"]["encoder.layer.0.output.dense"]["nnz_blocks"] += 1
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(RuntimeError, match="mismatch"):
        AutoModelForSequenceClassification.from_pretrained(tmp_path, trust_remote_code=True)


def test_bad_inputs_get_errors_that_name_the_problem():
    with pytest.raises(ValueError, match="prune it first"):
        to_sparse_model(BertForSequenceClassification(pruned_bert().config))  # nothing pruned
    with pytest.raises(ValueError, match="zero 1x4 blocks"):  # 16x1 zeros that are not 1x4 zeros
        dense = pruned_bert()
        for module in dense.bert.encoder.modules():
            if isinstance(module, torch.nn.Linear):
                module.weight.data[:, ::4] = 1.0
        to_sparse_model(dense, dtype=torch.int8)
    with pytest.raises(ValueError, match="supports BertModel"):
        to_sparse_model(torch.nn.Linear(4, 4))
    with pytest.raises(Exception, match=r"block_shape'\] must be two positive integers"):
        SparseBertConfig(
            sparse_layers={
                "encoder.layer.0.output.dense": {
                    "block_shape": [16],
                    "dtype": "float32",
                    "nnz_blocks": 1,
                    "bias": True,
                    "activation": "none",
                }
            }
        )
    config = SparseBertConfig(
        hidden_size=64,
        num_attention_heads=4,
        intermediate_size=128,
        num_hidden_layers=1,
        sparse_layers={
            "encoder.layer.5.output.dense": {
                "block_shape": [16, 1],
                "dtype": "float32",
                "nnz_blocks": 1,
                "bias": True,
                "activation": "none",
            }
        },
    )
    with pytest.raises(ValueError, match="not a linear layer of this BERT"):
        SparseBertForSequenceClassification(config)


def test_sparsify_command_writes_a_verified_folder(tmp_path, capsys):
    from optimum_ro.cli import main

    pruned_bert().save_pretrained(tmp_path / "pruned")
    assert main(["sparsify", "--model", str(tmp_path / "pruned"), "--output", str(tmp_path / "sparse")]) == 0
    summary = json.loads((tmp_path / "sparse" / "sparsify_results.json").read_text())
    assert summary["class"] == "SparseBertForSequenceClassification" and summary["sparse_layers"] == 12
    assert summary["max_abs_diff_vs_dense"] < 1e-5 < summary["max_abs_output_dense"]
    assert summary["weights_bytes"]["sparse"] < summary["weights_bytes"]["dense"]
    assert "block-pruned model `pruned`" in (tmp_path / "sparse" / "README.md").read_text()  # its name, not a path
    load_card_metadata(tmp_path / "sparse", base_model="pruned", pipeline_tag="text-classification", license="other")
    assert (
        main(
            [
                "sparsify",
                "--model",
                str(tmp_path / "pruned"),
                "--output",
                str(tmp_path / "x"),
                "--dtype",
                "int8",
                "--min-sparsity",
                "0.9",
            ]
        )
        == 2
    )  # 16x4 zeros, but 90% asked
    assert re.search("zero 1x4 blocks.*prune it first", capsys.readouterr().err)


def test_a_loaded_sparse_model_exports_with_the_op_as_graph_nodes(tmp_path):
    save_sparse_pretrained(pruned_bert(), tmp_path)
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path, trust_remote_code=True).eval()
    exported = torch.export.export(loaded, (), {"input_ids": IDS, "attention_mask": MASK})
    ops = [n for n in exported.graph.nodes if "optimum_ro.block_sparse_linear" in str(n.target)]
    assert len(ops) == 12
    with torch.no_grad():
        got = exported.module()(input_ids=IDS, attention_mask=MASK).logits
    torch.testing.assert_close(got, outputs(loaded), rtol=1e-5, atol=1e-5)
