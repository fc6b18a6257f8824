"""BlockPruningConfig, block-shape parsing, schedules and the configuration errors."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimum_ro.pruning import (
    CONFIG_NAME,
    BlockPruningConfig,
    cubic_sparsity,
    format_block_shape,
    is_pruning_step,
    linear_sparsity,
    parse_block_shape,
    scheduled_sparsity,
)


@pytest.mark.parametrize("given", ["4x1", "4X1", (4, 1), [4, 1]])
def test_block_shape_forms_are_equivalent(given):
    assert parse_block_shape(given) == (4, 1)
    assert BlockPruningConfig(block_shape=given).block_shape == (4, 1)
    assert format_block_shape(given) == "4x1"


def test_block_shape_rows_are_output_features():
    # "1x4" is Intel's VNNI "4x1": one output row, four input columns.
    assert parse_block_shape("1x4") == (1, 4)
    assert parse_block_shape("16x1") == (16, 1)


@pytest.mark.parametrize("bad", ["4", "4x", "x1", "0x4", "-1x4", "4x1x1", "ax1", (4,), (4, 0), None, 16])
def test_bad_block_shape_is_refused(bad):
    with pytest.raises(ValueError, match="Invalid block_shape"):
        parse_block_shape(bad)


@pytest.mark.parametrize("bad", [1.0, 1.5, -0.1, "0.5", True])
def test_sparsity_outside_unit_interval_is_refused(bad):
    with pytest.raises(ValueError, match=r"target_sparsity must be a number in \[0, 1\)"):
        BlockPruningConfig(target_sparsity=bad)


def test_override_sparsity_outside_unit_interval_is_refused():
    with pytest.raises(ValueError, match=r"sparsity_overrides\['intermediate'\] must be a number in \[0, 1\)"):
        BlockPruningConfig(sparsity_overrides={"intermediate": 1.0})


@pytest.mark.parametrize(
    "field,value,match",
    [
        ("criterion", "taylor", "Unknown criterion 'taylor': choose one of magnitude, movement, snip_momentum"),
        ("schedule", "exp", "Unknown schedule 'exp'"),
        ("scope", "per_head", "Unknown scope 'per_head'"),
        ("pruning_frequency", 0, "pruning_frequency must be a positive integer"),
        ("start_step", -1, "start_step must be a non-negative integer"),
        ("target_modules", ["layer("], "not a valid regular expression"),
        ("target_modules", [], "target_modules is empty"),
    ],
)
def test_invalid_fields_are_refused(field, value, match):
    with pytest.raises(ValueError, match=match):
        BlockPruningConfig(**{field: value})


def test_end_step_before_start_step_is_refused():
    with pytest.raises(ValueError, match=r"end_step \(5\) must be an integer >= start_step \(10\)"):
        BlockPruningConfig(start_step=10, end_step=5)


def test_save_and_load_round_trip(tmp_path):
    config = BlockPruningConfig(
        block_shape="1x4",
        target_sparsity=0.9,
        criterion="movement",
        schedule="linear",
        sparsity_overrides={r"attention": 0.8},
        exclude_modules=["pooler"],
        start_step=3,
        end_step=40,
        pruning_frequency=5,
        scope="global",
    )
    path = config.save_pretrained(tmp_path)
    assert path == str(tmp_path / CONFIG_NAME)
    on_disk = json.loads((tmp_path / CONFIG_NAME).read_text())
    assert on_disk["block_shape"] == [1, 4] and on_disk["sparsity_overrides"] == {"attention": 0.8}
    loaded = BlockPruningConfig.from_pretrained(tmp_path)
    assert loaded == config
    assert BlockPruningConfig.from_dict(config.to_dict()) == config
    assert BlockPruningConfig.from_pretrained(path) == config  # the file itself works too


def test_unknown_field_and_missing_file_are_explained(tmp_path):
    with pytest.raises(ValueError, match=r"Unknown BlockPruningConfig field\(s\) \['pattern'\]"):
        BlockPruningConfig.from_dict({"pattern": "4x1"})
    with pytest.raises(FileNotFoundError, match="No pruning_config.json"):
        BlockPruningConfig.from_pretrained(tmp_path)


# ---- schedules (values computed by hand) ------------------------------------------------------------
def test_cubic_schedule_values():
    # s(t) = 0.8 + (0 - 0.8) * (1 - t/100)^3
    assert cubic_sparsity(0, 0, 100, 0.8) == pytest.approx(0.0)
    assert cubic_sparsity(25, 0, 100, 0.8) == pytest.approx(0.8 - 0.8 * 0.421875)  # 0.4625
    assert cubic_sparsity(50, 0, 100, 0.8) == pytest.approx(0.7)
    assert cubic_sparsity(100, 0, 100, 0.8) == pytest.approx(0.8)
    assert cubic_sparsity(150, 0, 100, 0.8) == pytest.approx(0.8)  # held after the end
    assert cubic_sparsity(60, 10, 110, 0.8) == pytest.approx(0.7)  # shifted window
    assert cubic_sparsity(50, 0, 100, 0.8, initial_sparsity=0.2) == pytest.approx(0.725)


def test_cubic_prunes_faster_early_than_linear():
    # Zhu & Gupta's curve, not Neural Compressor's s_f * (t/T)^3 (which would be 0.1 here).
    assert cubic_sparsity(50, 0, 100, 0.8) > linear_sparsity(50, 0, 100, 0.8) == pytest.approx(0.4)


def test_scheduled_sparsity_from_config():
    config = BlockPruningConfig(target_sparsity=0.8, start_step=10, end_step=110)
    assert scheduled_sparsity(config, 5) == 0.0
    assert scheduled_sparsity(config, 60) == pytest.approx(0.7)
    assert scheduled_sparsity(config, 60, final_sparsity=0.4) == pytest.approx(0.35)  # per-layer override
    assert scheduled_sparsity(config, 60, end_step=210) == pytest.approx(0.8 - 0.8 * 0.75**3)
    linear = BlockPruningConfig(target_sparsity=0.6, schedule="linear", start_step=0, end_step=30)
    assert scheduled_sparsity(linear, 10) == pytest.approx(0.2)
    oneshot = BlockPruningConfig(target_sparsity=0.6, schedule="oneshot", start_step=7)
    assert [scheduled_sparsity(oneshot, t) for t in (6, 7, 100)] == [0.0, 0.6, 0.6]
    with pytest.raises(ValueError, match="end_step is unknown"):
        scheduled_sparsity(BlockPruningConfig(), 3)


def test_pruning_steps_follow_frequency_and_include_end():
    config = BlockPruningConfig(start_step=5, end_step=50, pruning_frequency=10)
    steps = [t for t in range(100) if is_pruning_step(config, t)]
    assert steps == [5, 15, 25, 35, 45, 50]
    oneshot = BlockPruningConfig(schedule="oneshot", start_step=3)
    assert [t for t in range(20) if is_pruning_step(oneshot, t)] == [3]


@settings(max_examples=60, deadline=None)
@given(
    start=st.integers(0, 50),
    length=st.integers(1, 200),
    final=st.floats(0, 0.99),
    initial_share=st.floats(0, 1),
    schedule=st.sampled_from(["cubic", "linear"]),
)
def test_schedules_rise_monotonically_from_initial_to_final(start, length, final, initial_share, schedule):
    config = BlockPruningConfig(
        target_sparsity=final,
        initial_sparsity=final * initial_share,
        schedule=schedule,
        start_step=start,
        end_step=start + length,
    )
    values = [scheduled_sparsity(config, t) for t in range(start, start + length + 3)]
    assert values[0] == pytest.approx(config.initial_sparsity)
    assert values[length] == pytest.approx(final) and values[-1] == pytest.approx(final)
    assert all(b >= a - 1e-12 for a, b in zip(values, values[1:]))
