"""CPU latency of model folders at batch 1 and 32 (seq 128), interleaved in one run.

    python examples/latency.py runs/teachers/e5-small/sentiment runs/students/a-sentiment --threads 2
    python examples/latency.py runs/pruned runs/pruned-sparse        # a sparse folder (optimum-ro sparsify) too

Prints and writes JSON: median/min ms per forward, parameters, disk size, and the speed-up of every
model against the first one: the ratio of the medians, and the median of the per-round ratios (each round
times every model back to back, so a slow spell of a shared machine touches both sides of a round's ratio)
with their spread. Timings on shared machines drift: methods are interleaved, repeats > 5.
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from optimum_ro.hub.folder import folder_mb


def stored_weights(model) -> int:
    """Parameters, counting a block-sparse layer's stored blocks (buffers, not parameters) as its weight."""
    return sum(t.numel() for t in model.parameters()) + sum(
        b.numel() for name, b in model.named_buffers() if name.endswith(".values")
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="+")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    ap.add_argument("--repeats", type=int, default=11)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoModelForTokenClassification

    torch.set_num_threads(args.threads)
    models = {}
    for path in args.models:
        cfg = AutoConfig.from_pretrained(path, trust_remote_code=True)
        arch = (cfg.architectures or [""])[0]
        cls = AutoModelForTokenClassification if "TokenClassification" in arch else AutoModelForSequenceClassification
        models[path] = cls.from_pretrained(path, trust_remote_code=True).eval()  # sparse folders: remote code
    results = {p: {"parameters": stored_weights(m), "weights_mb": round(folder_mb(p), 1)} for p, m in models.items()}
    for batch in args.batches:
        inputs = {}
        for p, m in models.items():
            ids = torch.randint(5, min(1000, m.config.vocab_size), (batch, args.seq))
            inputs[p] = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
        times = {p: [] for p in models}
        with torch.inference_mode():
            for p, m in models.items():  # warm-up
                m(**inputs[p])
            for _ in range(args.repeats):
                for p, m in models.items():
                    start = time.perf_counter()
                    m(**inputs[p])
                    times[p].append(1e3 * (time.perf_counter() - start))
        for p in models:
            results[p][f"batch{batch}_median_ms"] = round(statistics.median(times[p]), 2)
            results[p][f"batch{batch}_min_ms"] = round(min(times[p]), 2)
            results[p][f"batch{batch}_times_ms"] = [round(t, 2) for t in times[p]]  # per round, in run order
            ratios = sorted(a / b for a, b in zip(times[args.models[0]], times[p]))
            results[p][f"batch{batch}_paired_speedup"] = {
                "median": round(statistics.median(ratios), 3),
                "min": round(ratios[0], 3),
                "max": round(ratios[-1], 3),
            }
    base = args.models[0]
    for p in models:
        for batch in args.batches:
            results[p][f"batch{batch}_speedup"] = round(
                results[base][f"batch{batch}_median_ms"] / results[p][f"batch{batch}_median_ms"], 2
            )
        results[p]["param_reduction"] = round(1 - results[p]["parameters"] / results[base]["parameters"], 3)
    env = {
        "threads": args.threads,
        "seq": args.seq,
        "torch": torch.__version__,
        "cpu": next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "",
        ),
    }
    text = json.dumps({"environment": env, "models": results}, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
