"""Latency of several loaded models, timed interleaved: every round times every model, in an order rotated per round.

On a shared machine the load changes from minute to minute. Timed one after another, each model gets the load of
its own minutes (a small model timed right after a big one, or while another job starts, reads slow); interleaved,
a slow spell touches every model alike. Each round calls every model at every batch size twice in a row and times
the second (warm) call; the min over rounds is the least disturbed time, the median shows the spread.

    inputs = {key: {b: fixed_inputs(tokenizer, TEXTS, b, 128) for b in (1, 32)} for key, (_, tokenizer) in ...}
    result = time_interleaved({key: model, ...}, inputs, rounds=7)
    result["times_ms"][key][32]  # the warm batch-32 call of every round, in round order
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Callable, Hashable

import torch


def round_orders(keys: list, rounds: int) -> list[list]:
    """The models' order in each round: round r starts at model r mod n, so over n rounds every model sits once in
    every position (first after the idle gap, right after the biggest model, ...)."""
    n = len(keys)
    return [keys[r % n :] + keys[: r % n] for r in range(rounds)] if n else [[] for _ in range(rounds)]


def fixed_inputs(tokenizer, texts: list[str], batch: int, seq: int) -> dict:
    """``batch`` identical rows of exactly ``seq`` tokens of real text (the texts repeated until they are longer,
    then cut): no padding, an attention mask of ones, so every model does the work of ``seq`` tokens."""
    text, enc = " ".join(texts), None
    for _ in range(64):
        enc = tokenizer([text] * batch, truncation=True, max_length=seq, return_tensors="pt")
        if enc["input_ids"].shape[1] >= seq:
            return dict(enc)
        text = text + " " + " ".join(texts)
    raise ValueError(f"the latency texts give only {enc['input_ids'].shape[1]} tokens, fewer than seq={seq}")


@torch.inference_mode()
def time_interleaved(
    models: dict[Hashable, Callable],
    inputs: dict[Hashable, dict[int, dict]],
    rounds: int,
    clock: Callable[[], float] = time.perf_counter,
) -> dict:
    """Time ``models[key](**inputs[key][batch])`` for every model and batch size over ``rounds`` rounds, the models
    in ``round_orders``. Per call site: one warm-up call before the rounds; in each round an untimed call, then the
    timed one. Returns ``orders`` (the models' order in each round), ``times_ms`` (``{key: {batch: [ms per
    round]}}``), the torch thread count during the rounds and the 1-minute load average before and after."""
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1; got {rounds}")
    keys = list(models)
    for key in keys:  # first-call allocations, the sparse classes' fused Q/K/V weight, thread-pool start
        for batch in inputs[key].values():
            models[key](**batch)
    load_start = os.getloadavg()[0]
    orders = round_orders(keys, rounds)
    times = {key: {b: [] for b in inputs[key]} for key in keys}
    for order in orders:
        for key in order:
            for b, batch in inputs[key].items():
                models[key](**batch)
                start = clock()
                models[key](**batch)
                times[key][b].append(1e3 * (clock() - start))
    return {
        "orders": orders,
        "times_ms": times,
        "threads": torch.get_num_threads(),
        "load_1min_start": round(load_start, 2),
        "load_1min_end": round(os.getloadavg()[0], 2),
    }


def min_and_median(times_ms: list[float]) -> tuple[float, float]:
    """(min, median) of one call site's timed calls, in ms rounded to 0.01."""
    return round(min(times_ms), 2), round(statistics.median(times_ms), 2)
