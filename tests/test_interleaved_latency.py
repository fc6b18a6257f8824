"""benchmarks/experiments/interleaved_latency.py: the rounds visit every model, in a rotated order, with every batch
size's inputs fixed per model; the inputs are real tokens of the full length. No timing asserts: a clock that
counts calls stands in for the real one where a test reads the times."""

import itertools

import pytest
import torch
from experiments import interleaved_latency as il

from optimum_ro.testing import tiny_bert, tiny_wordpiece_tokenizer

TEXTS = ["ana are mere", "mere are ana ana"]


class Recorder:
    """A model stand-in that logs (name, batch rows) of each call."""

    def __init__(self, name, log):
        self.name, self.log = name, log

    def __call__(self, input_ids, attention_mask=None, **_):
        self.log.append((self.name, input_ids.shape[0]))


def test_round_orders_rotate_so_every_model_takes_every_position():
    orders = il.round_orders(["a", "b", "c"], 4)
    assert orders == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"], ["a", "b", "c"]]
    for position in range(3):
        assert {order[position] for order in orders[:3]} == {"a", "b", "c"}


def test_every_round_times_a_warm_call_of_every_model_at_every_batch_size():
    log = []
    models = {name: Recorder(name, log) for name in ("dense", "sparse", "int8")}
    inputs = {name: {b: {"input_ids": torch.ones(b, 8, dtype=torch.long)} for b in (1, 32)} for name in models}
    ticks = itertools.count()
    result = il.time_interleaved(models, inputs, rounds=3, clock=lambda: float(next(ticks)))

    warmup, rounds = log[:6], log[6:]
    assert sorted(warmup) == sorted((n, b) for n in models for b in (1, 32))
    # per round and model: batch 1 twice (untimed, timed), then batch 32 twice; the model order rotates
    per_round = [rounds[i : i + 12] for i in range(0, 36, 12)]
    for order, calls in zip(result["orders"], per_round):
        assert calls == [(n, b) for n in order for b in (1, 1, 32, 32)]
    assert [order[0] for order in result["orders"]] == ["dense", "sparse", "int8"]
    for name in models:
        for b in (1, 32):
            times = result["times_ms"][name][b]
            assert len(times) == 3 and all(t == 1e3 for t in times)  # one clock tick around each timed call
    assert result["threads"] == torch.get_num_threads()
    assert result["load_1min_start"] >= 0 and result["load_1min_end"] >= 0


def test_rounds_below_one_are_refused():
    with pytest.raises(ValueError, match="rounds must be at least 1"):
        il.time_interleaved({}, {}, rounds=0)


def test_fixed_inputs_are_full_length_real_tokens_and_run_a_tiny_model():
    tok = tiny_wordpiece_tokenizer(["ana", "are", "mere"])
    model = tiny_bert("BertForSequenceClassification", vocab_size=len(tok), num_layers=1,
                      max_position_embeddings=64, pad_token_id=tok.pad_token_id).eval()  # fmt: skip
    batch = il.fixed_inputs(tok, TEXTS, batch=4, seq=48)
    assert batch["input_ids"].shape == (4, 48)
    assert bool(batch["attention_mask"].all())  # no padding: every model does the work of 48 tokens
    assert not bool((batch["input_ids"] == tok.pad_token_id).any())
    result = il.time_interleaved({"m": model}, {"m": {4: batch}}, rounds=2)
    assert len(result["times_ms"]["m"][4]) == 2
    assert il.min_and_median([3.0, 1.0, 2.0]) == (1.0, 2.0)
