"""A teacher fine-tuned to convergence on one Romanian task, with its learning curve.

    python examples/teacher_curve.py --task ner --epochs 5 --eval-every 130 --out results/teacher-curves

The cheap levers first: the vocabulary trimmed to the tokens of the raw Romanian corpus and the tasks' *train*
texts (e5-small: 250k -> ~30k tokens, so the word embeddings can train), length-grouped dynamic padding, the
task's own maximum length. The dev score is measured every ``--eval-every`` steps; the best dev checkpoint is
scored on test (where the split is public). Writes ``<out>/<model>-<task>.json`` (curve, best step, dev and test
scores, budget, hardware) and a PNG of the curve; the model folder goes to ``runs/teachers-converged/``.
Re-running the same command resumes from the last checkpoint.

STS trains a bi-encoder by default (``--objective bi-encoder``: each sentence mean-pooled on its own, the cosine
of the two regressed onto the score, the objective e5 was made for; ``BertForSentenceSimilarity``); its
zero-shot cosine on dev and test, with and without e5's ``"query: "`` prefix, is measured first and written to
the JSON, and the prefix that reads better on dev is used for training too (``--prefix`` forces one).
``--objective cross-encoder`` fine-tunes the pair classifier head instead, as for the other tasks.

    python examples/teacher_curve.py --task sts --epochs 3 --eval-every 180 --learning-rate 3e-5
"""

import argparse
import json
import time
from pathlib import Path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/multilingual-e5-small")
    ap.add_argument("--task", required=True)
    ap.add_argument("--data-root", default="../shared/data/ro")
    ap.add_argument("--epochs", type=float, default=5.0)
    ap.add_argument("--eval-every", type=int, default=130)
    ap.add_argument("--learning-rate", type=float, default=5e-5)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-length", type=int, default=None)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--runs", default="runs/teachers-converged")
    ap.add_argument("--out", default="results/teacher-curves")
    ap.add_argument(
        "--objective",
        choices=("cross-encoder", "bi-encoder"),
        default=None,
        help="STS only: bi-encoder (default; mean pooling, cosine) or cross-encoder (a regression head on the pair)",
    )
    ap.add_argument(
        "--prefix",
        default=None,
        help='bi-encoder: the text before every sentence (e.g. "query: "); default: the better one on dev zero-shot',
    )
    args = ap.parse_args()

    import torch
    from transformers import (
        AutoTokenizer,
        DataCollatorForTokenClassification,
        DataCollatorWithPadding,
        TrainingArguments,
    )
    from transformers.trainer_utils import get_last_checkpoint

    from optimum_ro.demo.report import machine
    from optimum_ro.distillation.vocab import trim_vocabulary
    from optimum_ro.tasks import build_model, load_task, metrics_fn, preprocess_task
    from optimum_ro.tasks.bi_encoder import BertForSentenceSimilarity, PairCollator, encode_pairs
    from optimum_ro.tasks.finetune import make_trainer_class
    from optimum_ro.tasks.loading import task_texts
    from optimum_ro.tasks.pretrain import read_lines
    from optimum_ro.tasks.specs import REGRESSION, TOKEN, get_task

    spec = get_task(args.task)
    objective = args.objective or ("bi-encoder" if spec.kind == REGRESSION else "cross-encoder")
    if objective == "bi-encoder" and spec.kind != REGRESSION:
        raise SystemExit(f"--objective bi-encoder is for sentence-pair regression (sts), not {spec.name!r}")
    name = Path(args.model).name
    run = Path(args.runs) / (f"{name}-{spec.name}" + ("-bi-encoder" if objective == "bi-encoder" else ""))
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    if objective == "bi-encoder":
        model = BertForSentenceSimilarity.from_encoder(args.model, score_range=spec.score_range)
    else:
        model = build_model(args.model, spec)
    corpus = list(task_texts(args.data_root, "train")) + list(read_lines([f"{args.data_root}/raw/train.txt.gz"]))
    corpus += list(PREFIXES)  # the prefixes' pieces stay in the vocabulary
    vocab_before = len(tokenizer)
    model, tokenizer = trim_vocabulary(model, tokenizer, corpus)
    raw = load_task(spec, f"{args.data_root}/{spec.folder}")
    extra = {}
    max_length = args.max_length or spec.default_max_length
    if objective == "bi-encoder":
        collator = PairCollator(tokenizer)
        encode = lambda prefix: {  # noqa: E731
            split: encode_pairs(rows, tokenizer, spec.text_fields, spec.label_field, prefix, max_length)
            for split, rows in raw.items()
        }
        extra["zero_shot"] = zero_shot(run, model, encode, collator, args.prefix)
        prefix = extra["zero_shot"]["prefix"]
        extra["objective"] = {"name": objective, "prefix": prefix, "max_length": max_length}
        ds = encode(prefix)
        print(json.dumps(extra["zero_shot"], indent=2))
    else:
        ds = preprocess_task(raw, tokenizer, spec, max_length=args.max_length)
        if spec.kind == TOKEN:
            ds = ds.remove_columns("word_ids")
            collator = DataCollatorForTokenClassification(tokenizer)
        else:
            collator = DataCollatorWithPadding(tokenizer)
    metric = f"eval_{spec.metric}"
    targs = TrainingArguments(
        output_dir=str(run / "checkpoints"),
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=32,
        num_train_epochs=args.epochs,
        learning_rate=args.learning_rate,
        weight_decay=0.01,
        warmup_steps=0.06,
        lr_scheduler_type="linear",
        logging_steps=20,
        eval_strategy="steps",
        eval_steps=args.eval_every,
        save_strategy="steps",
        save_steps=args.eval_every,
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model=metric,
        report_to="none",
        seed=args.seed,
        use_cpu=True,
        train_sampling_strategy="group_by_length",
        dataloader_num_workers=0,
    )
    trainer = make_trainer_class()(
        model=model,
        args=targs,
        train_dataset=ds["train"],
        eval_dataset=ds["validation"],
        data_collator=collator,
        processing_class=tokenizer,
        compute_metrics=metrics_fn(spec),
        head_learning_rate=None if objective == "bi-encoder" else 20 * args.learning_rate,  # no new head
    )
    start = time.time()
    checkpoints = run / "checkpoints"
    trainer.train(resume_from_checkpoint=get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None)
    seconds = time.time() - start
    trainer.save_model(str(run))
    curve = [
        {"step": e["step"], "epoch": round(e["epoch"], 3), "dev": e[metric]}
        for e in trainer.state.log_history
        if metric in e
    ]
    best = max(curve, key=lambda e: e["dev"])
    result = {
        "model": name,
        "task": spec.name,
        "metric": spec.metric,
        "vocabulary": {"before": vocab_before, "after": len(tokenizer)},
        "budget": {
            "epochs": args.epochs,
            "steps": trainer.state.global_step,
            "batch_size": args.batch_size,
            "learning_rate": args.learning_rate,
            "train_seconds_this_run": round(seconds),
        },
        "curve": curve,
        "best": best,
        "hardware": f"{machine()}, {torch.get_num_threads()} torch threads",
        **extra,
    }
    for split in ("validation", "test"):
        if split in ds:
            scores = trainer.evaluate(ds[split], metric_key_prefix=split)
            result[split] = scores.get(f"{split}_{spec.metric}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}-{spec.name}.json").write_text(json.dumps(result, indent=2))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
        ax.plot([e["epoch"] for e in curve], [100 * e["dev"] for e in curve], marker="o")
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"dev {spec.metric} (%)")
        ax.set_title(f"{name} on {spec.name}")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / f"{name}-{spec.name}.png")
    except ImportError:
        pass
    print(json.dumps({k: result[k] for k in ("best", "validation", "test") if k in result}, indent=2))


PREFIXES = ("", "query: ")  # e5's prefix for symmetric tasks, and none


def zero_shot(run, model, encode, collator, prefix=None) -> dict:
    """Pearson/Spearman of the untrained bi-encoder's cosine on dev and test, per prefix (only ``prefix`` when
    given); the prefix with the better dev Pearson is chosen. Kept in ``run/zero_shot.json``, so a resumed run
    reads it back instead of measuring the untrained model again."""
    from optimum_ro.tasks.bi_encoder import pair_scores

    path = run / "zero_shot.json"
    if path.is_file():
        saved = json.loads(path.read_text())
        if prefix is None or saved["prefix"] == prefix:
            return saved
    scores = {}
    for candidate in PREFIXES if prefix is None else (prefix,):
        encoded = encode(candidate)
        scores[candidate] = {
            split: pair_scores(model, encoded[split], collator) for split in ("validation", "test") if split in encoded
        }
    best = max(scores, key=lambda k: scores[k]["validation"]["pearson"])
    result = {"prefix": best, "by_prefix": scores, **scores[best]}
    run.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
