"""Distill -> prune -> run sparse, the last step measured: a pruned model folder, saved sparse with
``optimum-ro sparsify``, loaded back with ``AutoModel*.from_pretrained(..., trust_remote_code=True)``, scored on
the task's dev split beside the dense pruned model, and timed beside it (seq 128, batch 1 and 32).

    python examples/run_sparse.py runs/pipeline/a5-sentiment-16x1-80 --task sentiment --out results/archive/pipeline

Data: ``--data`` (a folder or a datasets id), else ``$OPTIMUM_RO_DATA/<task>`` or ``../shared/data/ro/<task>``.
Writes ``<out>/<name>.json`` (scores, agreement of the two models' predictions, sizes, latency).
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch


def predict(model_path, task, data, max_length):
    from transformers import (
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
        AutoTokenizer,
        Trainer,
        TrainingArguments,
    )

    from optimum_ro.tasks import load_task, preprocess_task
    from optimum_ro.tasks.evaluation import metrics_fn
    from optimum_ro.tasks.specs import TOKEN, get_task

    spec = get_task(task)
    auto = AutoModelForTokenClassification if spec.kind == TOKEN else AutoModelForSequenceClassification
    model = auto.from_pretrained(model_path, trust_remote_code=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    dev = preprocess_task(load_task(task, data, splits=["validation"]), tokenizer, task, max_length=max_length)[
        "validation"
    ]
    args = TrainingArguments(
        output_dir="/tmp/run_sparse", per_device_eval_batch_size=32, report_to="none", use_cpu=True
    )
    out = Trainer(model=model, args=args, compute_metrics=metrics_fn(task), processing_class=tokenizer).predict(dev)
    return out.predictions, out.label_ids, {k.removeprefix("test_"): v for k, v in out.metrics.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pruned", help="a pruned model folder (optimum-ro prune output)")
    ap.add_argument("--task", required=True)
    ap.add_argument("--data", default=None)
    ap.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "int8"))
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=11)
    ap.add_argument("--out", default="results/archive/pipeline")
    args = ap.parse_args()
    from optimum_ro.models.cli import sparsify
    from optimum_ro.sparse import current_isa
    from optimum_ro.tasks.finetune import resolve_data

    torch.set_num_threads(args.threads)
    data = resolve_data(args.task, args.data)
    sparse_dir = str(Path(args.pruned).with_name(Path(args.pruned).name + f"-sparse-{args.dtype}"))
    report = {"sparsify": sparsify(args.pruned, sparse_dir, args.dtype)}
    (dense_logits, labels, dense_scores), (sparse_logits, _, sparse_scores) = (
        predict(p, args.task, data, args.max_length) for p in (args.pruned, sparse_dir)
    )
    scored = labels != -100 if labels.ndim == 2 else np.ones(len(labels), dtype=bool)  # tokens: labelled ones
    agree = float(np.mean((dense_logits.argmax(-1) == sparse_logits.argmax(-1))[scored]))
    report["dev"] = {
        "pruned_dense": dense_scores,
        "sparse": sparse_scores,
        "same_prediction": round(agree, 4),
        "max_abs_logit_diff": float(np.abs(dense_logits - sparse_logits).max()),
    }
    lat = Path(args.out) / (Path(sparse_dir).name + "-latency.json")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("latency.py")),
            args.pruned,
            sparse_dir,
            "--threads",
            str(args.threads),
            "--repeats",
            str(args.repeats),
            "--out",
            str(lat),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    report["latency"] = json.loads(lat.read_text())
    lat.unlink()
    pruning = Path(args.pruned) / "pruning_config.json"
    report.update(
        task=args.task, isa=current_isa(), pruning=json.loads(pruning.read_text()) if pruning.exists() else None
    )
    out = Path(args.out) / (Path(sparse_dir).name + ".json")
    out.write_text(json.dumps(report, indent=2))
    write_report(Path(args.out))
    print(json.dumps({k: report[k] for k in ("dev",)}, indent=2), "\n->", out)


def write_report(folder: Path) -> Path:
    """``folder/README.md``: one row per ``run_sparse.py`` JSON in ``folder``, then ``folder/notes.md`` if present."""
    rows, machines = [], set()
    for path in sorted(folder.glob("*.json")):
        r = json.loads(path.read_text())
        if "sparsify" not in r:
            continue
        (dense_path, dense), (_, sparse) = r["latency"]["models"].items()
        env = r["latency"]["environment"]
        machines.add(
            f"{env['cpu']}, {env['threads']} threads, seq {env['seq']}, torch {env['torch']}, kernels {r.get('isa')}"
        )
        metric = next(k for k in ("accuracy", "f1", "pearson") if k in r["dev"]["sparse"])
        block = "x".join(map(str, r["pruning"]["block_shape"])) if r.get("pruning") else "?"
        rows.append(
            f"| {Path(dense_path).name} | {r['task']} {metric} | {block} | {r['sparsify']['dtype']} | "
            f"{r['sparsify']['sparse_layers']} | {100 * r['dev']['pruned_dense'][metric]:.2f} → "
            f"{100 * r['dev']['sparse'][metric]:.2f} | {100 * r['dev']['same_prediction']:.2f}% | "
            f"{r['dev']['max_abs_logit_diff']:.1e} | {dense['weights_mb']} → {sparse['weights_mb']} | "
            + " | ".join(
                f"{dense[f'batch{b}_median_ms']} → {sparse[f'batch{b}_median_ms']} ms, "
                f"{sparse[f'batch{b}_speedup']}x (paired {sparse[f'batch{b}_paired_speedup']['median']}x)"
                for b in (1, 32)
            )
            + " |"
        )
    text = "\n".join(
        [
            "# Distill → prune → run sparse, end to end",
            "",
            "Regenerate a row: `python examples/run_sparse.py <pruned "
            "folder> --task <task> [--dtype float32|bfloat16|int8]`"
            " (it runs `optimum-ro sparsify`, loads the sparse folder with `AutoModelFor*.from_pretrained(...,"
            " trust_remote_code=True)`, scores it and the dense pruned model on the dev split, and times both in one"
            " interleaved run: medians of 21 rounds, paired = median of the per-round ratios).",
            "",
            "Machine: " + "; ".join(sorted(machines)),
            "",
            "| pruned model | dev metric | blocks | stored as | "
            "sparse layers | dense → sparse (dev) | same predictions |"
            " max abs logit diff | weights MB | batch 1 | batch 32 |",
            "|---|---|---|---|---:|---|---:|---:|---|---|---|",
            *rows,
            "",
        ]
    )
    if (folder / "notes.md").exists():  # the hand-written reading, kept beside the generated table
        text += "\n" + (folder / "notes.md").read_text(encoding="utf-8")
    path = folder / "README.md"
    path.write_text(text, encoding="utf-8")
    return path


if __name__ == "__main__":
    main()
