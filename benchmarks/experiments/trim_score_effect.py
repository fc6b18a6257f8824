"""Score effect of vocabulary trimming: every task teacher scored on dev before and after its vocabulary is
trimmed to the tokens of the Romanian raw corpus and the tasks' *train* splits (no retraining).

    python examples/trim_score_effect.py                      # e5-small task teachers, ../shared/data/ro
    python examples/trim_score_effect.py --teachers 'runs/teachers/e5-small/{task}' --out results/archive/vocab-trim
    python examples/trim_score_effect.py --teachers 'runs/teachers/ro-bert-base/{task}' --max-size 11500 \
        --out results/archive/vocab-trim-ro-bert-11500      # the most frequent 11,500 of the WordPiece model's 16,000

The kept vocabulary is the one the e5 students use (`examples/distill_romanian.py` trims with the same
corpus). Trimming keeps every kept token's embedding row exactly, so a score moves only where a dev word is
spelled with a dropped token: a fast tokenizer then re-segments it with the pieces that are left (or maps it
to the unknown token). Writes ``<out>.json`` and ``<out>.md``: per task the dev score with the full and the
trimmed vocabulary, the share of unchanged predictions, tokens per dev text and unknown tokens, and sizes.
"""

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from optimum_ro.distillation import count_parameters, select_vocabulary, trim_vocabulary
from optimum_ro.distillation.vocab import count_token_ids
from optimum_ro.tasks import (
    build_model,
    decode_predictions,
    get_task,
    load_task,
    metrics_fn,
    preprocess_task,
    task_texts,
)
from optimum_ro.tasks.pretrain import read_lines
from optimum_ro.tasks.specs import REGRESSION, TOKEN

MAIN = {"pos": "accuracy", "ner": "f1", "sentiment": "accuracy", "sts": "pearson", "dialect": "macro_f1"}
MAX_LENGTH = {"sts": 64}  # the teachers' training lengths (examples/train_teachers.sh); 128 elsewhere


def predict(model, tokenizer, task, rows, batch_size: int = 32):
    """Dev predictions and scores of ``model`` with ``tokenizer`` (transformers' Trainer, CPU)."""
    from datasets import DatasetDict
    from transformers import DataCollatorForTokenClassification, DataCollatorWithPadding, Trainer, TrainingArguments

    spec = get_task(task)
    ds = preprocess_task(DatasetDict({"validation": rows}), tokenizer, spec, max_length=MAX_LENGTH.get(task, 128))[
        "validation"
    ]
    if spec.kind == TOKEN:
        ds = ds.remove_columns("word_ids")
        collator = DataCollatorForTokenClassification(tokenizer)
    else:
        collator = DataCollatorWithPadding(tokenizer)
    args = TrainingArguments(
        output_dir="/tmp/optimum-ro-trim-effect",
        per_device_eval_batch_size=batch_size,
        report_to="none",
        use_cpu=True,
        dataloader_num_workers=0,
    )
    trainer = Trainer(model=model.eval(), args=args, data_collator=collator, compute_metrics=metrics_fn(spec))
    out = trainer.predict(ds, metric_key_prefix="dev")
    preds, _ = decode_predictions(spec, out.predictions, out.label_ids)
    tokens = sum(len(r) for r in ds["input_ids"])
    unk = (
        sum(row.count(tokenizer.unk_token_id) for row in ds["input_ids"]) if tokenizer.unk_token_id is not None else 0
    )
    scores = {k[len("dev_") :]: v for k, v in out.metrics.items() if k.startswith("dev_") and isinstance(v, float)}
    return preds, scores, {"tokens": tokens, "unknown": unk, "texts": len(ds)}


def agreement(task, full, trimmed) -> dict:
    """How much the trimmed teacher's dev predictions differ from the full-vocabulary teacher's."""
    if get_task(task).kind == REGRESSION:
        a, b = np.asarray(full, dtype=np.float64), np.asarray(trimmed, dtype=np.float64)
        return {"mean_abs_change": float(np.abs(a - b).mean()), "pearson_full_trimmed": float(np.corrcoef(a, b)[0, 1])}
    if get_task(task).kind == TOKEN:  # one label per word; a re-segmented, truncated text may keep fewer words
        pairs = [(x, y) for f, t in zip(full, trimmed) for x, y in zip(f, t)]
        return {"unchanged_labels": sum(x == y for x, y in pairs) / max(len(pairs), 1)}
    return {"unchanged_labels": sum(x == y for x, y in zip(full, trimmed)) / max(len(full), 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--teachers", default="runs/teachers/e5-small/{task}", help="task model folders, {task} filled in")
    ap.add_argument("--tasks", nargs="+", default=list(MAIN), choices=list(MAIN))
    ap.add_argument("--data-root", default="../shared/data/ro", help="task folders + raw/train.txt.gz")
    ap.add_argument(
        "--corpus", nargs="+", default=None, help="raw text for the kept vocabulary (default: DATA_ROOT/raw)"
    )
    ap.add_argument(
        "--max-size",
        type=int,
        default=None,
        help="keep at most this many tokens, the most frequent (trim_vocabulary's max_size); default: all used",
    )
    ap.add_argument("--max-eval-samples", type=int, default=None, help="score the first N dev rows (smoke runs)")
    ap.add_argument("--out", default="results/archive/vocab-trim", help="writes OUT.json and OUT.md")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    root = Path(args.data_root)
    corpus_files = args.corpus or [str(root / "raw" / "train.txt.gz")]
    base_tokenizer = AutoTokenizer.from_pretrained(args.teachers.format(task=args.tasks[0]))
    start = time.time()
    counts = count_token_ids(base_tokenizer, [*read_lines(corpus_files), *task_texts(root, "train")])
    keep = select_vocabulary(base_tokenizer, counts, max_size=args.max_size)
    report = {
        "teachers": args.teachers,
        "max_size": args.max_size,
        "corpus": corpus_files + [f"{root}/<task>/train.jsonl"],
        "vocabulary": {"before": len(base_tokenizer), "after": None},
        "count_seconds": round(time.time() - start, 1),
        "tasks": {},
    }
    for task in args.tasks:
        folder = args.teachers.format(task=task)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        if len(tokenizer) != len(base_tokenizer):
            raise ValueError(
                f"{folder}: its tokenizer has {len(tokenizer)} tokens, {args.tasks[0]}'s {len(base_tokenizer)}; "
                "every teacher must share one vocabulary for one kept set"
            )
        rows = load_task(
            task, str(root / get_task(task).folder), splits=["validation"], max_samples=args.max_eval_samples
        )["validation"]
        model = build_model(folder, task)
        params_before = count_parameters(model)
        t0 = time.time()
        full_preds, full_scores, full_tokens = predict(model, tokenizer, task, rows)
        model, trimmed_tokenizer = trim_vocabulary(model, tokenizer, [], keep_ids=keep)
        trimmed_preds, trimmed_scores, trimmed_tokens = predict(model, trimmed_tokenizer, task, rows)
        report["vocabulary"]["after"] = len(trimmed_tokenizer)
        metric = MAIN[task]
        report["tasks"][task] = {
            "metric": metric,
            "dev_full": full_scores[metric],
            "dev_trimmed": trimmed_scores[metric],
            "delta": trimmed_scores[metric] - full_scores[metric],
            "scores_full": full_scores,
            "scores_trimmed": trimmed_scores,
            **agreement(task, full_preds, trimmed_preds),
            "tokens_full": full_tokens,
            "tokens_trimmed": trimmed_tokens,
            "parameters": {"before": params_before, "after": count_parameters(model)},
            "seconds": round(time.time() - t0, 1),
        }
        print(
            task,
            json.dumps({k: v for k, v in report["tasks"][task].items() if not k.startswith("scores")}),
            flush=True,
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2))
    out.with_suffix(".md").write_text(render(report, args))
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")


def render(report: dict, args) -> str:
    v = report["vocabulary"]
    lines = [
        "# Vocabulary trimming: size and score effect",
        "",
        f"Regenerate: `python examples/trim_score_effect.py --teachers '{args.teachers}' --out {args.out}"
        + (f" --max-size {args.max_size}" if args.max_size else "")
        + (f" --max-eval-samples {args.max_eval_samples}" if args.max_eval_samples else "")
        + "`.",
        "",
        f"Each task teacher ({args.teachers}) is scored on the dev split with its full vocabulary and again after "
        + (
            f"`trim_vocabulary` keeps only the {v['after']:,} of "
            f"its {v['before']:,} tokens that the Romanian raw corpus "
            "and the tasks' train splits use (the vocabulary of the e5 students)."
            if not args.max_size
            else f"`trim_vocabulary(max_size={args.max_size})` keeps the {v['after']:,} of its {v['before']:,} tokens "
            "that the "
            "Romanian raw corpus and the tasks' train splits use most (with every single-character piece of their "
            "alphabet, so words that needed a dropped token are re-segmented into more pieces, not unknown)."
        )
        + " No retraining: kept rows are copied "
        "exactly, so a prediction can change only where a dev text needs a dropped token.",
        "",
        "| task | metric | dev, full vocabulary | dev, trimmed | Δ | unchanged predictions "
        "| tokens per dev text full → trimmed | unknown tokens trimmed | parameters |",
        "|---|---|---:|---:|---:|---:|---|---:|---|",
    ]
    for task, r in report["tasks"].items():
        unchanged = (
            f"{100 * r['unchanged_labels']:.2f}%"
            if "unchanged_labels" in r
            else f"Pearson {r['pearson_full_trimmed']:.4f}, mean abs. change {r['mean_abs_change']:.3f}"
        )
        tf, tt = r["tokens_full"], r["tokens_trimmed"]
        lines.append(
            f"| {task} | {r['metric']} | {100 * r['dev_full']:.2f} | "
            f"{100 * r['dev_trimmed']:.2f} | {100 * r['delta']:+.2f} | "
            f"{unchanged} | {tf['tokens'] / tf['texts']:.2f} → {tt['tokens'] / tt['texts']:.2f} | "
            f"{100 * tt['unknown'] / max(tt['tokens'], 1):.3f}% | {r['parameters']['before'] / 1e6:.1f} M → "
            f"{r['parameters']['after'] / 1e6:.1f} M |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    main()
