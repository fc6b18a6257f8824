"""Block scores, block masks, one-shot pruning, finalize and the model-level errors (no Trainer here)."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import AutoModelForSequenceClassification, BertForSequenceClassification

from optimum_ro import testing
from optimum_ro.pruning import (
    BlockPruner,
    BlockPruningConfig,
    find_target_modules,
    format_sparsity_report,
    prune_model,
    sparsity_report,
)
from optimum_ro.pruning.criteria import (
    apply_block_mask,
    block_sum,
    expand_block_mask,
    magnitude_scores,
    movement_update,
    select_blocks,
    snip_momentum_update,
)


def tiny_bert(seed=0, **kwargs):
    return testing.tiny_bert(
        "BertForSequenceClassification", vocab_size=50, num_layers=2, seed=seed, max_position_embeddings=16, **kwargs
    )


def weights(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def assert_exact_blocks(weight, block_shape, expected_sparsity, tol=0.005):
    """Every block is all zero or has no zero at all; the share of zero blocks is the expected sparsity."""
    rows, cols = block_shape
    zeros = (weight == 0).reshape(weight.shape[0] // rows, rows, weight.shape[1] // cols, cols).sum(dim=(1, 3))
    assert bool(((zeros == 0) | (zeros == rows * cols)).all()), "a block is partly zero"
    sparsity = (zeros == rows * cols).float().mean().item()
    assert abs(sparsity - expected_sparsity) <= tol, (sparsity, expected_sparsity)


# ---- criteria ------------------------------------------------------------------------------------
def test_block_sum_and_expand_are_inverse_shapes():
    t = torch.arange(24.0).reshape(4, 6)
    s = block_sum(t, (2, 3))
    assert s.tolist() == [[0 + 1 + 2 + 6 + 7 + 8, 3 + 4 + 5 + 9 + 10 + 11], [12 + 13 + 14 + 18 + 19 + 20, 114.0]]
    mask = torch.tensor([[True, False], [False, True]])
    full = expand_block_mask(mask, (2, 3))
    assert full.shape == (4, 6) and full[:2, :3].all() and not full[:2, 3:].any() and full[2:, 3:].all()


def test_magnitude_is_squared_l2_per_block():
    w = torch.tensor([[3.0, 4.0, 0.0, 1.0]])
    assert magnitude_scores(w, (1, 2)).tolist() == [[25.0, 1.0]]


def test_movement_and_snip_updates_by_hand():
    w = torch.tensor([[2.0, -1.0]])
    g = torch.tensor([[0.5, 0.5]])
    s = torch.zeros(1, 1)
    movement_update(s, w, g, (1, 2))
    assert s.item() == pytest.approx(-(2.0 * 0.5 + -1.0 * 0.5))  # -0.5
    snip = torch.full((1, 1), 1.0)
    snip_momentum_update(snip, w, g, (1, 2), momentum=0.5)
    assert snip.item() == pytest.approx(0.5 * 1.0 + (1.0 + 0.5))


def test_select_blocks_keeps_top_scores_and_never_revives():
    scores = torch.tensor([[5.0, 1.0, 3.0, 2.0]])
    keep = select_blocks(scores, 0.5)
    assert keep.tolist() == [[True, False, True, False]]
    previous = torch.tensor([[False, True, True, True]])  # block 0 was pruned earlier despite its score
    keep = select_blocks(scores, 0.5, previous)
    assert keep.tolist() == [[False, False, True, True]]
    # A lower sparsity never un-prunes blocks.
    assert select_blocks(scores, 0.0, previous).tolist() == previous.tolist()


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 60), sparsity=st.floats(0, 0.99), seed=st.integers(0, 1000))
def test_select_blocks_prunes_the_rounded_count_of_lowest_scores(n, sparsity, seed):
    scores = torch.randn(n, generator=torch.Generator().manual_seed(seed))
    keep = select_blocks(scores, sparsity)
    assert int((~keep).sum()) == round(sparsity * n)
    if keep.any() and (~keep).any():
        assert scores[keep].min() >= scores[~keep].max()


def test_apply_block_mask_zeroes_whole_blocks_in_place():
    w = torch.ones(4, 4)
    apply_block_mask(w, torch.tensor([[True, False], [False, False]]), (2, 2))
    assert w.sum() == 4 and w[:2, :2].eq(1).all()
    wt = torch.ones(4, 4).t()  # non-contiguous weights work too
    apply_block_mask(wt, torch.tensor([[False, True], [True, True]]), (2, 2))
    assert wt.sum() == 12 and wt[:2, :2].eq(0).all()


# ---- targets and errors -----------------------------------------------------------------------------
def test_default_targets_are_encoder_linears_only():
    model = tiny_bert()
    targets = find_target_modules(model, BlockPruningConfig())
    assert len(targets) == 12
    assert all(".encoder.layer." in n for n in targets)
    assert not any(k in n for n in targets for k in ("embeddings", "pooler", "classifier"))


def test_excluded_modules_are_untouched():
    model = tiny_bert()
    before = weights(model)
    config = BlockPruningConfig(
        target_modules=[r"."],
        exclude_modules=[r"pooler", r"classifier", r"attention"],
        block_shape="4x1",
        target_sparsity=0.5,
    )
    prune_model(model, config)
    after = weights(model)
    changed = {n for n in before if not torch.equal(before[n], after[n])}
    assert changed == {
        f"bert.encoder.layer.{i}.{m}.weight" for i in (0, 1) for m in ("intermediate.dense", "output.dense")
    }
    assert set(model.config.sparsity["layers"]) == {n[: -len(".weight")] for n in changed}


def test_block_shape_that_does_not_divide_names_the_layer():
    model = tiny_bert()
    with pytest.raises(
        ValueError,
        match=r"Block shape 3x1 does not divide layer 'bert\.encoder\.layer\.0\.attention"
        r"\.self\.query' with weight shape \[32, 32\]",
    ):
        BlockPruner(BlockPruningConfig(block_shape="3x1"), model)


def test_patterns_that_match_nothing_are_refused():
    model = tiny_bert()
    with pytest.raises(ValueError, match=r"target_modules pattern 'decoder' matches no nn.Linear module"):
        BlockPruner(BlockPruningConfig(target_modules=["attention", "decoder"]), model)
    with pytest.raises(ValueError, match=r"sparsity_overrides pattern 'ffn' matches no pruned module"):
        BlockPruner(BlockPruningConfig(sparsity_overrides={"ffn": 0.9}), model)
    with pytest.raises(ValueError, match="No module left to prune"):
        BlockPruner(BlockPruningConfig(target_modules=["classifier"]), model)


def test_model_pruned_with_another_block_shape_is_refused(tmp_path):
    model = prune_model(tiny_bert(), BlockPruningConfig(block_shape="16x1", target_sparsity=0.5))
    with pytest.raises(ValueError, match=r"already pruned with 16x1 blocks .* asks for 1x4 blocks"):
        BlockPruner(BlockPruningConfig(block_shape="1x4"), model)
    model.save_pretrained(tmp_path)  # the record survives a save / load
    reloaded = BertForSequenceClassification.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match="already pruned with 16x1 blocks"):
        prune_model(reloaded, BlockPruningConfig(block_shape="4x4"))


def test_gradient_criteria_need_gradients():
    with pytest.raises(ValueError, match="prune_model is one-shot and has no gradients"):
        prune_model(tiny_bert(), BlockPruningConfig(criterion="movement"))
    pruner = BlockPruner(BlockPruningConfig(criterion="snip_momentum", schedule="oneshot"), tiny_bert())
    with pytest.raises(RuntimeError, match="needs gradients, but no optimizer step has run before step 0"):
        pruner.update_masks(0)


# ---- one-shot pruning, overrides, scope, finalize -------------------------------------------------------
@pytest.mark.parametrize("block_shape", [(16, 1), (1, 4), (4, 4), (1, 1)])
def test_prune_model_gives_exact_blocks_and_sparsity(block_shape):
    model = prune_model(tiny_bert(), BlockPruningConfig(block_shape=block_shape, target_sparsity=0.8))
    modules = dict(model.named_modules())
    for name in model.config.sparsity["layers"]:
        assert_exact_blocks(modules[name].weight, block_shape, 0.8)
    assert model.config.sparsity["block_shape"] == list(block_shape)


def test_magnitude_prunes_the_smallest_blocks():
    model = tiny_bert()
    name = "bert.encoder.layer.0.attention.self.query"
    w = dict(model.named_modules())[name].weight
    norms_before = w.detach().pow(2).reshape(2, 16, 32).sum(1)  # 16x1 blocks: [out/16, in]
    prune_model(model, BlockPruningConfig(block_shape="16x1", target_sparsity=0.25))
    kept = w.detach().abs().reshape(2, 16, 32).sum(1) > 0
    assert norms_before[kept].min() > norms_before[~kept].max()


def test_sparsity_overrides_are_honoured():
    config = BlockPruningConfig(
        block_shape="4x1",
        target_sparsity=0.5,
        sparsity_overrides={r"intermediate\.dense|layer\.\d+\.output\.dense": 0.9, r"attention": 0.7},
    )
    model = prune_model(tiny_bert(), config)
    layers = model.config.sparsity["layers"]
    for name, value in layers.items():
        expected = 0.7 if "attention" in name else 0.9
        assert value == pytest.approx(expected, abs=0.005), name
        assert_exact_blocks(dict(model.named_modules())[name].weight, (4, 1), expected)
    assert model.config.sparsity["sparsity_overrides"] == config.sparsity_overrides


def test_global_scope_ranks_across_layers():
    model = tiny_bert()
    with torch.no_grad():  # make layer 0's query weights tiny: a global ranking prunes them first
        model.bert.encoder.layer[0].attention.self.query.weight.mul_(1e-3)
    prune_model(model, BlockPruningConfig(block_shape="1x4", target_sparsity=0.5, scope="global"))
    report = sparsity_report(model)
    assert report["layers"]["bert.encoder.layer.0.attention.self.query"]["sparsity"] == 1.0
    assert report["overall"] == pytest.approx(0.5, abs=0.005)
    assert len({row["sparsity"] for row in report["layers"].values()}) > 1


def test_movement_and_magnitude_choose_different_blocks():
    """Large weights that the gradient keeps shrinking are kept by magnitude and pruned by movement."""
    model = tiny_bert()
    layer = model.bert.encoder.layer[0].intermediate.dense  # [64, 32], 16x1 blocks -> [4, 32]
    with torch.no_grad():
        layer.weight.copy_(torch.linspace(0.1, 2.0, 64 * 32).reshape(64, 32))
    big = layer.weight.detach().abs().reshape(4, 16, 32).sum(1) > layer.weight.abs().mean() * 16
    config = dict(block_shape="16x1", target_modules=[r"layer\.0\.intermediate"], schedule="oneshot", start_step=1)
    movement = BlockPruner(BlockPruningConfig(criterion="movement", **config), model)
    layer.weight.grad = layer.weight.detach().sign() * big.repeat_interleave(16, 0)  # descent shrinks big ones
    movement.accumulate_scores()
    magnitude = BlockPruner(BlockPruningConfig(criterion="magnitude", **config), model)
    magnitude.update_masks(1, sparsity=0.5)  # scores these weights (zeroing the other half)
    mag_keep = magnitude.masks["bert.encoder.layer.0.intermediate.dense"]
    movement.update_masks(1, sparsity=0.5)
    mov_keep = movement.masks["bert.encoder.layer.0.intermediate.dense"]
    assert mag_keep[big].all() and not mov_keep[big].any()
    assert not torch.equal(mag_keep, mov_keep)


def test_finalize_records_sparsity_and_survives_save_load(tmp_path):
    model = tiny_bert()
    pruner = BlockPruner(BlockPruningConfig(block_shape="1x4", target_sparsity=0.75, schedule="oneshot"), model)
    pruner.update_masks(0)
    assert pruner.finalize() is model and pruner.finalized
    record = model.config.sparsity
    assert record["block_shape"] == [1, 4] and record["criterion"] == "magnitude"
    assert record["target_sparsity"] == 0.75
    assert set(record["layers"]) == set(pruner.targets)
    assert all(v == pytest.approx(0.75) for v in record["layers"].values())
    model.save_pretrained(tmp_path)
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path)
    assert loaded.config.sparsity == record
    for name, p in model.state_dict().items():
        assert torch.equal(p, loaded.state_dict()[name]), name
    report = sparsity_report(loaded)  # block shape and layers read from config.sparsity
    assert report["block_shape"] == [1, 4]
    assert {n: r["sparsity"] for n, r in report["layers"].items()} == pytest.approx(record["layers"])
    text = format_sparsity_report(pruner.sparsity_report())
    assert "bert.encoder.layer.1.output.dense" in text and "overall (1x4 blocks)" in text and "75.00%" in text


def test_repruning_with_same_shape_keeps_earlier_blocks_pruned():
    model = prune_model(tiny_bert(), BlockPruningConfig(block_shape="4x1", target_sparsity=0.5))
    zero_before = {n: dict(model.named_modules())[n].weight == 0 for n in model.config.sparsity["layers"]}
    pruner = BlockPruner(BlockPruningConfig(block_shape="4x1", target_sparsity=0.8), model)
    assert pruner.block_sparsity()["bert.encoder.layer.0.output.dense"] == pytest.approx(0.5)
    with torch.no_grad():  # even if the pruned weights became large, they stay pruned
        for name in zero_before:
            w = dict(model.named_modules())[name].weight
            w.add_(zero_before[name].float() * 100)
    pruner.update_masks(0, sparsity=0.8)
    for name, zeros in zero_before.items():
        assert dict(model.named_modules())[name].weight[zeros].eq(0).all()
    pruner.finalize()
    assert model.config.sparsity["target_sparsity"] == 0.8


@pytest.mark.parametrize("block_shape", [(16, 1), (1, 4)])
def test_pruned_blocks_are_the_sparse_kernels_blocks(block_shape):
    """Same (rows, cols) convention as optimum_ro.sparse: packing stores exactly the kept blocks."""
    sparse = pytest.importorskip("optimum_ro.sparse")
    model = prune_model(tiny_bert(), BlockPruningConfig(block_shape=block_shape, target_sparsity=0.75))
    modules = dict(model.named_modules())
    for name, value in model.config.sparsity["layers"].items():
        packed = sparse.pack(modules[name].weight.detach(), block_shape=block_shape, dtype=torch.float32)
        assert packed.sparsity == pytest.approx(value), name
    model.eval()
    ids = torch.randint(1, 50, (2, 8), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        dense_logits = model(input_ids=ids).logits
        sparse.sparsify_model(model, block_shape=block_shape, dtype=torch.float32, min_sparsity=0.5)
        assert len(model.sparsified_modules) == 12
        torch.testing.assert_close(model(input_ids=ids).logits, dense_logits, rtol=1e-4, atol=1e-5)


def test_local_names_strip_a_wrappers_prefix_and_the_old_name_warns():
    class Wrapper(torch.nn.Module):  # like StudentWithProjections: the trained model holds the student
        def __init__(self, student):
            super().__init__()
            self.student = student

    student = tiny_bert()
    pruner = BlockPruner(BlockPruningConfig(block_shape="1x4"), Wrapper(student))
    names = pruner.local_names(student)
    assert names and all(target == "student." + local for target, local in names.items())
    with pytest.warns(FutureWarning, match="local_names"):
        assert pruner.names_in(student) == names
