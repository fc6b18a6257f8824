"""The round-robin timer, paired ratios over its rounds, and the facts about the machine a run is on."""

from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path
from typing import Callable, Optional


def cpu_info() -> dict:
    info = {"machine": platform.machine(), "processor": platform.processor()}
    try:
        text = Path("/proc/cpuinfo").read_text()
        for line in text.splitlines():
            if line.startswith("model name") and "model" not in info:
                info["model"] = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                info["flags"] = sorted(f for f in flags if f.startswith(("avx", "fma", "f16c", "amx")))
                break
    except OSError:
        pass
    info["logical_cpus"] = os.cpu_count()
    return info


def time_round_robin(methods: dict[str, Callable], repeats: int) -> dict[str, dict]:
    """Per method: ``repeats`` rounds, each calling every method twice in a row. The first call of a
    round runs right after the other methods ("cold": caches and predictors hold their data), the
    second right after itself ("warm": steady state, as inside a loop). Returns ms statistics and every
    round's warm time (``warm_ms``, in round order: ``paired_ratio`` pairs two methods round by round).
    A method with a ``timed_pair`` attribute (one that runs in another process) makes its two calls itself
    and returns their (cold, warm) seconds, so the round trip to that process is not in its times."""
    for fn in methods.values():  # warm up (allocations, lazy init)
        fn()
    cold: dict[str, list[float]] = {name: [] for name in methods}
    warm: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(repeats):
        for name, fn in methods.items():
            timed_pair = getattr(fn, "timed_pair", None)
            if timed_pair is not None:
                first, second = timed_pair()
            else:
                t0 = time.perf_counter()
                fn()
                t1 = time.perf_counter()
                fn()
                first, second = t1 - t0, time.perf_counter() - t1
            cold[name].append(first)
            warm[name].append(second)
    return {
        name: {
            "min_ms": 1e3 * min(warm[name]),
            "median_ms": 1e3 * statistics.median(warm[name]),
            "cold_min_ms": 1e3 * min(cold[name]),
            "cold_median_ms": 1e3 * statistics.median(cold[name]),
            "warm_ms": [round(1e3 * t, 6) for t in warm[name]],
        }
        for name in methods
    }


def paired_ratio(peer: Optional[dict], ours: Optional[dict]) -> Optional[tuple[float, float, float]]:
    """Median, min and max over rounds of peer time / our time, each round's two warm calls a few ms apart:
    a slow spell of the machine touches both sides of a round's ratio, which a ratio of two minima (taken
    in different rounds) does not see. None for results saved before the rounds were kept."""
    if not peer or not ours or not peer.get("warm_ms") or not ours.get("warm_ms"):
        return None
    ratios = sorted(p / o for p, o in zip(peer["warm_ms"], ours["warm_ms"]) if o > 0)
    return (statistics.median(ratios), ratios[0], ratios[-1]) if ratios else None
