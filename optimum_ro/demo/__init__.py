"""``optimum-ro demo``: the whole pipeline on a built-in default, in minutes on 2 CPU cores.

teacher (multilingual-e5-small, fine-tuned on Romanian sentiment) → distilled student (fewer layers, trimmed
vocabulary) → block-pruned while distilling from the dense student → ``sparsify`` (fp32 and int8) → every model
scored and timed on the same dev rows → the sparse model published in ``runs/demo/model`` with its card, and
loaded back in a fresh process through ``AutoModelFor*.from_pretrained(..., trust_remote_code=True)``.

Outputs in ``--output`` (default ``runs/demo``): ``report.md`` (+ ``report.json``, ``chart.png``), ``model/``,
and one folder per stage. A re-run reuses finished stages; an interrupted one resumes from its checkpoints.

In Python: ``run_demo(DemoConfig(task="dialect"))`` or ``build_config("full", "demo.yaml")``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from .config import BUDGETS, DemoConfig, build_config

__all__ = ["BUDGETS", "DemoConfig", "build_config", "run_demo", "add_parser"]


def run_demo(cfg: DemoConfig, echo=print) -> dict:
    """Run (or resume) the pipeline and write the report; returns the report dict."""
    from .pipeline import run_pipeline
    from .report import markdown_table, write_report

    start = time.time()
    report = run_pipeline(cfg, echo=echo)
    out = Path(cfg.output_dir)
    path = write_report(report, out)
    echo("\n=== optimum-ro demo ===")
    echo(markdown_table(report))
    echo(f"\nreport: {path}   model: {report['published']}   ({time.time() - start:.0f} s this run)")
    return report


def _run(args) -> int:
    try:
        cfg = build_config(
            args.budget,
            args.config,
            task=args.task,
            teacher=args.teacher,
            data=args.data,
            output_dir=args.output,
            models_dir=args.models_dir,
            eval_samples=args.eval_samples,
            train_samples=args.train_samples,
            teacher_steps=args.teacher_steps,
            distill_steps=args.distill_steps,
            prune_steps=args.prune_steps,
            student_layers=args.student_layers,
            sparsity=args.sparsity,
            max_length=args.max_length,
            latency_rounds=args.latency_rounds,
        )
        from .pipeline import preflight

        preflight(cfg)
    except (ValueError, OSError) as err:
        print(f"optimum-ro demo: {err}", file=sys.stderr)
        return 2
    run_demo(cfg)
    return 0


def add_parser(subparsers):
    p = subparsers.add_parser(
        "demo",
        help="teacher -> distilled student -> pruned -> sparse, scored and timed (minutes, built-in default)",
        description=__doc__.splitlines()[0],
    )
    p.add_argument("--task", default=None, help="sentiment (default), dialect, sts, pos or ner")
    p.add_argument("--budget", default="small", choices=sorted(BUDGETS), help="small: minutes; full: the long recipe")
    p.add_argument("--config", default=None, help="a JSON or YAML file of DemoConfig fields (over the budget)")
    p.add_argument("--teacher", "--model", dest="teacher", default=None, help="default: multilingual-e5-small")
    p.add_argument("--data", default=None, help="task data folder or datasets id (default: ../shared/data/ro/<task>)")
    p.add_argument("--output", default=None, help="default: runs/demo")
    p.add_argument("--models-dir", default=None, help="where known models are built (default: models)")
    p.add_argument("--eval-samples", type=int, default=None, help="dev rows to score (default 400)")
    p.add_argument("--train-samples", type=int, default=None, help="train rows to use (default: all)")
    p.add_argument("--teacher-steps", type=int, default=None)
    p.add_argument("--distill-steps", type=int, default=None)
    p.add_argument("--prune-steps", type=int, default=None)
    p.add_argument("--student-layers", type=int, default=None)
    p.add_argument("--sparsity", type=float, default=None, help="share of encoder weight blocks pruned (0.8)")
    p.add_argument("--max-length", type=int, default=None)
    p.add_argument("--latency-rounds", type=int, default=None)
    p.set_defaults(func=_run)
    return p
