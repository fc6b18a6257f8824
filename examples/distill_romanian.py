"""Reproduce the three Romanian students of Avram et al. (2021) on CPU: one per teacher and one from both.

    # teachers first: the MLM teachers (stage-2 e5, the in-house WordPiece BERT) and their task fine-tunes
    accelerate launch --multi_gpu --num_processes 2 examples/distill_romanian.py --students a b ab   # gloo DDP on CPU
    python examples/distill_romanian.py --students b --tasks sentiment sts --mlm-minutes 20            # one process

Per student: (1) general distillation (masked-LM stage) on ../shared/data/ro/raw — the student is cut from its
vocabulary teacher (every other layer) and its vocabulary is trimmed first: e5's 250k to the pieces the Romanian
corpus uses, the in-house BERT's 16k (every piece of which the corpus uses) to its 11,500 most frequent
(--b-vocab-size; its embedding is over half the model, so this is what a 35% smaller student takes);
(2) task distillation on each task from that student, with the task teachers' soft labels (ensembled for "ab",
with weights chosen on dev: the best-scoring ensemble on a 0.1 grid, see --ab-weights).
Results: runs/students/<student>/<task>/distill_results.json (scores, loyalty, sizes).
Note `accelerate launch --cpu --num_processes 2` starts only one process (accelerate#2741); `--multi_gpu` on a
machine without GPUs gives gloo DDP, as does `torchrun --nproc_per_node 2`.
"""

import argparse
import json
import os
import shutil
from pathlib import Path

from optimum_ro.distillation.cli import DistillConfig, run_distillation

TASKS = ["pos", "ner", "sentiment", "sts", "dialect"]
TASK_BUDGET = {
    "sts": dict(max_steps=150, max_length=64),
    "pos": dict(max_steps=120, max_length=128),
    "ner": dict(max_steps=150, max_length=128),
    "sentiment": dict(max_steps=100, max_length=128),
    "dialect": dict(max_steps=100, max_length=128),
}  # about the e5 teacher's budgets (results/archive/teachers.md)
# Every student gets the same step budget per task: 4x the e5 teacher's (B's teachers were fine-tuned with 4x
# the steps of e5, examples/train_teachers.sh). With the e5 teachers' own budgets (0.2-0.6 epoch) the half-depth
# e5 students stayed far below them on the token tasks and STS (UPOS 91%, NER 89%, STS Pearson 35 vs 82 with
# 150 steps); results/archive/students-notes.md has the runs.
STUDENT_STEPS_SCALE = 4


def task_steps(student: str, task: str) -> int:
    """Task-distillation steps of one student on one task (the same for every student)."""
    return TASK_BUDGET[task]["max_steps"] * STUDENT_STEPS_SCALE


MAIN_METRIC = {"pos": "accuracy", "ner": "f1", "sentiment": "accuracy", "sts": "pearson", "dialect": "macro_f1"}


def has_mlm_head(folder: str) -> bool:
    from safetensors import safe_open

    path = Path(folder) / "model.safetensors"
    if not path.exists():
        return False
    with safe_open(str(path), "pt") as f:
        return any(k.startswith("cls.predictions.transform") for k in f.keys())


def num_layers(folder: str) -> int:
    return json.loads((Path(folder) / "config.json").read_text())["num_hidden_layers"]


def dev_score_weights(teachers: list, task: str) -> list:
    """Ensemble weights proportional to each task teacher's dev score (chosen on dev, never on test)."""
    scores = []
    for t in teachers:
        results = json.loads((Path(t) / "eval_results.json").read_text())["validation"]
        metric = MAIN_METRIC[task]
        scores.append(max(float(results.get(metric, results.get(f"validation_{metric}"))), 1e-3))
    return [round(s / sum(scores), 4) for s in scores]


def write_task_train_text(data: Path, path: Path) -> str:
    """The *train* texts of every task, one per line (dev/test are never used to choose the vocabulary)."""
    from optimum_ro.tasks import task_texts

    if path.exists():
        return str(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.part")  # atomic: parallel runs may share the output folder
    with open(partial, "w", encoding="utf-8") as fh:
        for text in task_texts(data, "train"):
            fh.write(text.replace("\n", " ") + "\n")
    os.replace(partial, path)
    return str(path)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--teacher-a-mlm",
        default="models/multilingual-e5-small",
        help="teacher A for the MLM stage (ideally e5 after `optimum-ro pretrain --from`, which trains its MLM head)",
    )
    p.add_argument("--teacher-b-mlm", default="runs/ro-bert-base", help="teacher B: the in-house WordPiece BERT")
    p.add_argument("--teacher-a-task", default="runs/teachers/e5-small/{task}")
    p.add_argument("--teacher-b-task", default="runs/teachers/ro-bert-base/{task}")
    p.add_argument("--data-root", default="../shared/data/ro")
    p.add_argument("--output", default="runs/students")
    p.add_argument("--students", nargs="+", default=["a", "b", "ab"], choices=["a", "b", "ab"])
    p.add_argument("--tasks", nargs="+", default=TASKS, choices=TASKS)
    p.add_argument(
        "--student-layers",
        type=int,
        default=None,
        help="encoder layers of every student (default: half of the teacher it is cut from)",
    )
    p.add_argument("--mlm-minutes", type=float, default=10.0, help="time budget of each general distillation")
    p.add_argument("--mlm-max-texts", type=int, default=20000, help="raw lines read for the MLM stage")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--skip-mlm", action="store_true", help="task distillation straight from the cut student")
    p.add_argument("--mlm-max-steps", type=int, default=-1, help="cap the MLM stage (smoke runs)")
    p.add_argument("--task-max-steps", type=int, default=None, help="override every task's step budget (smoke runs)")
    p.add_argument(
        "--b-vocab-size",
        type=int,
        default=11500,
        help="student B keeps the corpus's N most frequent of its teacher's 16,000 WordPiece tokens "
        "(0: keep them all, as the first reported runs did)",
    )
    p.add_argument("--trim-max-lines", type=int, default=None, help="read only this many corpus lines for trimming")
    p.add_argument(
        "--max-eval-samples", type=int, default=None, help="evaluate on the first N dev/test rows (smoke runs)"
    )
    p.add_argument("--seed", type=int, default=42, help="training seed of every run (data order, dropout)")
    p.add_argument("--redo", action="store_true", help="re-run tasks that already have distill_results.json")
    p.add_argument(
        "--task-learning-rate",
        action="append",
        default=[],
        metavar="TASK=LR",
        help="task distillation's learning rate for one task (repeatable; default 5e-5 for every task), "
        "e.g. sts=1e-4 as the 5-layer student A used (results/archive/students-5l/)",
    )
    p.add_argument(
        "--ab-weights",
        choices=["tuned", "dev-score"],
        default="tuned",
        help="the two-teacher ensemble's weights per task: 'tuned' = the grid of weights (steps of 0.1) "
        "whose ensemble scores best on dev (DistillationTrainer.tune_teacher_weights); 'dev-score' "
        "= proportional to each teacher's own dev score (the first reported runs)",
    )
    args = p.parse_args()
    task_lr = {}
    for item in args.task_learning_rate:
        task, _, lr = item.partition("=")
        if task not in TASKS or not lr:
            p.error(f"--task-learning-rate {item!r}: expected TASK=LR with TASK one of {', '.join(TASKS)}")
        try:
            task_lr[task] = float(lr)
        except ValueError:
            p.error(f"--task-learning-rate {item!r}: {lr!r} is not a number")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    data = Path(args.data_root)
    raw = str(data / "raw" / "train.txt.gz")
    trim_corpus = [raw, write_task_train_text(data, Path(args.output) / "trim_corpus_task_train.txt")]
    summary = {}
    for name in args.students:
        teachers_mlm = {
            "a": [args.teacher_a_mlm],
            "b": [args.teacher_b_mlm],
            "ab": [args.teacher_a_mlm, args.teacher_b_mlm],
        }[name]
        # the student is cut from its first teacher; e5's 250k vocabulary is trimmed to the Romanian corpus,
        # B's to its most frequent tokens
        vocab_size = (args.b_vocab_size or None) if name == "b" else None
        trim = trim_corpus if name in ("a", "ab") or vocab_size else []
        student_dir = Path(args.output) / name / "general"
        layers = args.student_layers or max(1, num_layers(teachers_mlm[0]) // 2)
        if args.skip_mlm:
            start_from = None
        elif (student_dir / "distill_results.json").exists() and not args.redo:
            start_from = str(student_dir)  # general distillation finished earlier
        else:
            alpha_ce = 5.0 if has_mlm_head(teachers_mlm[0]) else 0.0  # soft targets need a trained MLM head
            run_distillation(
                DistillConfig(
                    teachers=teachers_mlm,
                    task="mlm",
                    data=raw,
                    output_dir=str(student_dir),
                    student_layers=layers,
                    trim_vocab_corpus=trim,
                    trim_vocab_size=vocab_size,
                    alpha_ce=alpha_ce,
                    alpha_mlm=2.0,
                    alpha_cos=1.0,
                    max_length=128,
                    max_texts=args.mlm_max_texts,
                    batch_size=args.batch_size,
                    learning_rate=1e-4,
                    epochs=1,
                    time_budget_min=args.mlm_minutes,
                    save_steps=200,
                    max_steps=args.mlm_max_steps,
                    trim_max_lines=args.trim_max_lines,
                    seed=args.seed,
                )
            )
            start_from = str(student_dir)
        for task in args.tasks:
            teachers = {
                "a": [args.teacher_a_task],
                "b": [args.teacher_b_task],
                "ab": [args.teacher_a_task, args.teacher_b_task],
            }[name]
            teachers = [t.format(task=task) for t in teachers]
            done = Path(args.output) / name / task / "distill_results.json"
            if done.exists() and not args.redo:  # finished earlier: a re-run continues where it stopped
                results = json.loads(done.read_text())
            else:
                results = run_distillation(
                    DistillConfig(
                        teachers=teachers,
                        task=task,
                        data=str(data / task),
                        output_dir=str(Path(args.output) / name / task),
                        student=start_from,
                        student_layers=layers,
                        trim_vocab_corpus=[] if start_from else trim,
                        trim_vocab_size=None if start_from else vocab_size,
                        teacher_weights=dev_score_weights(teachers, task) if name == "ab" else None,
                        tune_teacher_weights=name == "ab" and args.ab_weights == "tuned",
                        batch_size=args.batch_size,
                        learning_rate=task_lr.get(task, 5e-5),
                        trim_max_lines=args.trim_max_lines,
                        max_eval_samples=args.max_eval_samples,
                        seed=args.seed,
                        **{**TASK_BUDGET[task], "max_steps": args.task_max_steps or task_steps(name, task)},
                    )
                )
                if args.max_eval_samples is None:  # done: keep the report's inputs, drop the checkpoints
                    shutil.rmtree(Path(args.output) / name / task / "checkpoints", ignore_errors=True)
            summary.setdefault(name, {})[task] = {
                k: results.get(k) for k in ("validation", "test", "student_parameters")
            }
    out = Path(args.output) / "summary.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2, default=str))
    print(json.dumps(summary, indent=2, default=str))


if __name__ == "__main__":
    main()
