"""``optimum-ro distill``: build a student from one or more teachers and distill them into it.

    optimum-ro distill --teacher runs/e5-pos --teacher runs/robert-pos --task pos --data ../shared/data/ro/pos \\
        --student-layers 6 --output runs/student-ab-pos --trim-vocab-corpus corpus.txt --teacher-weights 0.5 0.5
    optimum-ro distill --teacher models/e5-mlm --task mlm --data ../shared/data/ro/raw/train.txt.gz \\
        --output runs/student-a

Task mode (``--task pos|ner|sentiment|sts|dialect``): teachers are fine-tuned task models; the student learns their
(ensembled) soft labels plus the gold labels, and ``distill_results.json`` holds scores, loyalty and sizes.
MLM mode (``--task mlm``, general distillation on raw text): DistilBERT's soft-target CE + MLM + cosine losses with
the teacher sharing the student's vocabulary; other teachers add word-aligned cosine losses through a learned
projection. Teachers with other tokenizers are re-tokenized from the raw words (``teacher{i}_`` columns).
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

logger = logging.getLogger("optimum_ro.distill")

MLM_DEFAULTS = dict(alpha_ce=5.0, alpha_mlm=2.0, alpha_cos=1.0, alpha_task=0.0, alpha_mse=0.0)  # DistilBERT
DISTILL_TASKS = ("pos", "ner", "sentiment", "sts", "dialect", "mlm")
TASK_DEFAULTS = dict(alpha_ce=0.5, alpha_mlm=0.0, alpha_cos=0.0, alpha_task=0.5, alpha_mse=0.5)


@dataclass
class DistillConfig:
    teachers: list
    task: str
    output_dir: str
    data: str | None = None
    student: str | None = None  # start from this student folder instead of make_student
    student_layers: int = 6
    student_from: int = 0  # which teacher the student is cut from (its tokenizer too)
    trim_vocab_corpus: list = field(default_factory=list)
    trim_max_lines: int | None = None
    trim_vocab_size: int | None = None  # keep at most this many tokens, the corpus's most frequent
    teacher_weights: list | None = None
    tune_teacher_weights: bool = False  # choose the ensemble weights on the dev split (grid of 1/tune_steps)
    tune_steps: int = 10
    temperature: float = 2.0
    alpha_ce: float | None = None
    alpha_mlm: float | None = None
    alpha_cos: float | None = None
    alpha_task: float | None = None
    alpha_mse: float | None = None
    epochs: float = 3.0
    max_steps: int = -1
    batch_size: int = 16
    grad_accum: int = 1
    learning_rate: float = 5e-5
    head_learning_rate: float | None = None  # default: 20x learning_rate for a fresh head, else learning_rate
    max_length: int | None = None
    max_texts: int | None = None  # MLM: lines of raw text to read
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    time_budget_min: float | None = None
    save_steps: int = 200
    seed: int = 42
    resume: bool = True
    trust_remote_code: bool = False  # run the model folders' own code (auto_map); only for folders you trust


def _load_teacher(path: str, task: str, trust_remote_code: bool = False):
    from transformers import AutoModelForMaskedLM

    if task == "mlm":
        model, info = AutoModelForMaskedLM.from_pretrained(
            path, output_loading_info=True, trust_remote_code=trust_remote_code
        )
    else:
        from optimum_ro.tasks import build_model

        model, info = build_model(path, task, output_loading_info=True, trust_remote_code=trust_remote_code)
    fresh = [k for k in info.get("missing_keys", []) if "embeddings.position_ids" not in k]
    if fresh:
        what = (
            "an MLM head (run `optimum-ro pretrain` on it first)"
            if task == "mlm"
            else "a task head (run `optimum-ro finetune` first)"
        )
        logger.warning(
            "teacher %s has newly initialised weights %s: it lacks %s, so its targets are noise", path, fresh[:4], what
        )
    return model


def run_distillation(cfg: DistillConfig, training_args: dict | None = None) -> dict:
    """Build (or load) the student, distill, save it to ``cfg.output_dir``; returns the results dict.
    ``training_args`` override the ``DistillationTrainingArguments`` this builds (any field)."""
    from transformers import AutoTokenizer

    from optimum_ro.commands.runs import resume_checkpoint, save_results

    from .student import count_parameters

    _check_config(cfg)
    mlm = cfg.task == "mlm"
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()

    remote = dict(trust_remote_code=cfg.trust_remote_code)
    teachers = [_load_teacher(p, cfg.task, cfg.trust_remote_code) for p in cfg.teachers]
    tokenizers = [AutoTokenizer.from_pretrained(p, **remote) for p in cfg.teachers]
    results = {
        "task": cfg.task,
        "teachers": list(cfg.teachers),
        "config": asdict(cfg),
        "teacher_parameters": [count_parameters(t) for t in teachers],
    }
    student, student_tok = _load_student(cfg, teachers, tokenizers, results)
    results["student_parameters_before_trim"] = count_parameters(student)
    if cfg.trim_vocab_corpus:
        student, student_tok = _trim_vocabularies(cfg, student, student_tok, teachers, tokenizers, results)
    results["student_parameters"] = count_parameters(student)
    student_vocab = student_tok.get_vocab()
    others = {i: tok for i, tok in enumerate(tokenizers) if tok.get_vocab() != student_vocab}
    alphas = _loss_weights(cfg, others)

    from .distill_data import mlm_dataset, task_dataset

    data = mlm_dataset(cfg, student_tok, others) if mlm else task_dataset(cfg, student_tok, others)
    head_lr = _head_learning_rate(cfg, results)
    results["loss_weights"] = dict(alphas)
    args = _training_arguments(cfg, out, alphas, head_lr, training_args)
    results["trainer_overrides"] = dict(training_args or {})
    trainer = _build_trainer(cfg, student, student_tok, teachers, tokenizers, args, data)
    if cfg.tune_teacher_weights and not mlm and len(teachers) > 1:
        _tune_teacher_weights(cfg, trainer, data, results)
    results["teacher_weights"] = list(trainer.teacher_weights)
    resume = resume_checkpoint(out, enabled=cfg.resume)
    train_out = trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(str(out))
    results["train"] = {
        "loss": train_out.training_loss,
        "steps": trainer.state.global_step,
        "runtime_s": round(time.time() - started, 1),
        "resumed_from": resume,
    }
    if not mlm:
        _evaluate_task(cfg, trainer, data, results)
    from .model_card import write_student_card

    save_results(trainer, out, "distill_results.json", results, write_student_card)
    logger.info("student saved to %s (%d parameters)", out, results["student_parameters"])
    return results


def _check_config(cfg: DistillConfig) -> None:
    """Stop with a one-line message on settings that cannot go together."""
    if not cfg.teachers:
        raise SystemExit("give at least one --teacher")
    if cfg.trim_vocab_size is not None and not cfg.trim_vocab_corpus:
        raise SystemExit("--trim-vocab-size needs --trim-vocab-corpus: the kept tokens are the corpus's most frequent")
    if not 0 <= cfg.student_from < len(cfg.teachers):
        raise SystemExit(f"--student-from {cfg.student_from} is not a teacher index (0..{len(cfg.teachers) - 1})")


def _load_student(cfg: DistillConfig, teachers: list, tokenizers: list, results: dict):
    """The student and its tokenizer: ``cfg.student`` loaded, or cut from teacher ``cfg.student_from``."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from .student import make_student

    remote = dict(trust_remote_code=cfg.trust_remote_code)
    if cfg.student:
        student_tok = AutoTokenizer.from_pretrained(cfg.student, **remote)
        if cfg.task == "mlm":
            student = AutoModelForMaskedLM.from_pretrained(cfg.student, **remote)
        else:
            from optimum_ro.tasks import build_model
            from optimum_ro.tasks.modeling import copy_task_head

            student = build_model(cfg.student, cfg.task, **remote)
            # a general-distilled student has no task head: start from its teacher's (DistilBERT-style)
            results["head_copied_from_teacher"] = copy_task_head(student, teachers[cfg.student_from])
    else:
        student = make_student(teachers[cfg.student_from], num_layers=cfg.student_layers)
        student_tok = tokenizers[cfg.student_from]
    return student, student_tok


def _trim_vocabularies(cfg: DistillConfig, student, student_tok, teachers: list, tokenizers: list, results: dict):
    """Trim the student's vocabulary to the corpus's tokens (in MLM mode its source teacher's too, in place in
    ``teachers`` and ``tokenizers``); returns the trimmed student and tokenizer."""
    from .vocab import count_token_ids, select_vocabulary, trim_vocabulary

    mlm = cfg.task == "mlm"
    from .distill_data import trim_corpus_lines

    lines = trim_corpus_lines(cfg)
    vocab_before, teacher_tok = len(student_tok), tokenizers[cfg.student_from]
    # the corpus is tokenized once; a teacher with the student's vocabulary keeps the same ids
    kept = select_vocabulary(student_tok, count_token_ids(student_tok, lines), max_size=cfg.trim_vocab_size)
    shared = mlm and teacher_tok.get_vocab() == student_tok.get_vocab()
    student, student_tok = trim_vocabulary(student, student_tok, [], keep_ids=kept)
    results["vocabulary"] = {
        "before": vocab_before,
        "after": len(student_tok),
        "corpus_lines": len(lines),
        "max_size": cfg.trim_vocab_size,
    }
    if mlm:  # soft targets over tokens: the teacher the student was cut from gets the same vocabulary
        teachers[cfg.student_from], tokenizers[cfg.student_from] = (
            trim_vocabulary(teachers[cfg.student_from], teacher_tok, [], keep_ids=kept)
            if shared
            else trim_vocabulary(teachers[cfg.student_from], teacher_tok, lines, max_size=cfg.trim_vocab_size)
        )
    return student, student_tok


def _loss_weights(cfg: DistillConfig, others: dict) -> dict:
    """The loss weights: the mode's defaults, overridden by those set in ``cfg``; checks the cosine loss can align."""
    from .trainer import cosine_alignment_error

    mlm = cfg.task == "mlm"
    weights = MLM_DEFAULTS if mlm else TASK_DEFAULTS
    alphas = {k: (getattr(cfg, k) if getattr(cfg, k) is not None else v) for k, v in weights.items()}
    if not mlm:  # before tokenizing: sentence-task datasets built here carry no word alignment
        from optimum_ro.tasks import TASKS

        problem = cosine_alignment_error(
            TASKS[cfg.task].kind, alphas["alpha_cos"], sorted(others), columns=(), task=cfg.task
        )
        if problem:
            raise ValueError(problem)
    return alphas


def _head_learning_rate(cfg: DistillConfig, results: dict):
    """``cfg.head_learning_rate``, else 20x the learning rate for a loaded task student's fresh head, else None."""
    head_lr = cfg.head_learning_rate
    if head_lr is None and cfg.task != "mlm" and cfg.student and not results.get("head_copied_from_teacher"):
        head_lr = 20 * cfg.learning_rate  # a fresh head: as in `optimum-ro finetune`
    return head_lr


def _tune_teacher_weights(cfg: DistillConfig, trainer, data, results: dict) -> None:
    """Choose the ensemble weights on the validation split, recorded in ``results["teacher_weights_tuning"]``."""
    if data.get("validation") is None:
        raise SystemExit("--tune-teacher-weights needs a validation (dev) split in --data")
    tuned = trainer.tune_teacher_weights(data["validation"], task=cfg.task, steps=cfg.tune_steps)
    results["teacher_weights_tuning"] = tuned


def _training_arguments(cfg: DistillConfig, out: Path, alphas: dict, head_lr, training_args: dict | None):
    """The ``DistillationTrainingArguments`` of the run, ``training_args`` overriding the defaults built here."""
    from ..commands.training import project_training_arguments
    from .config import DistillationTrainingArguments

    args = project_training_arguments(
        out,
        cfg,
        num_train_epochs=cfg.epochs,
        gradient_accumulation_steps=cfg.grad_accum,
        warmup_steps=0.06,
        save_total_limit=2,
        temperature=cfg.temperature,
        teacher_weights=cfg.teacher_weights,
        head_learning_rate=head_lr,
        **alphas,
    )
    return DistillationTrainingArguments(**{**args, **(training_args or {})})


def _build_trainer(cfg: DistillConfig, student, student_tok, teachers: list, tokenizers: list, args, data):
    """The ``DistillationTrainer`` of the student and its teachers (task metrics and time budget as set)."""
    from .trainer import DistillationTrainer

    compute_metrics = None
    if cfg.task != "mlm":
        from optimum_ro.tasks import metrics_fn

        compute_metrics = metrics_fn(cfg.task)
    callbacks = []
    if cfg.time_budget_min:
        from optimum_ro.tasks.pretrain import time_budget_callback

        callbacks.append(time_budget_callback(cfg.time_budget_min))
    return DistillationTrainer(
        model=student,
        teachers=teachers,
        teacher_tokenizers=tokenizers,
        args=args,
        train_dataset=data["train"],
        eval_dataset=data.get("validation"),
        processing_class=student_tok,
        compute_metrics=compute_metrics,
        callbacks=callbacks,
    )


def _evaluate_task(cfg: DistillConfig, trainer, data, results: dict) -> None:
    """Score the student on the validation and test splits, with its loyalty to the teachers."""
    from optimum_ro.tasks import TASKS

    for split in ("validation", "test"):
        if split in data:
            scores = trainer.evaluate(data[split], metric_key_prefix=split)
            loyalty = trainer.loyalty(data[split], score_range=TASKS[cfg.task].score_range, task=cfg.task)
            scores.update(
                {f"{split}_{'student_teacher_pearson' if k == 'pearson' else k}": v for k, v in loyalty.items()}
            )
            results[split] = scores


# argparse settings of DistillConfig's fields on the command line (the flags themselves come from the dataclass)
FLAG_SETTINGS = {
    "task": {"choices": DISTILL_TASKS, "help": "pos, ner, sentiment, sts, dialect, or mlm (general distillation)"},
    "data": {
        "help": "task: folder of train/dev/test .jsonl; mlm: text file(s) (comma-separated) or a folder of *.txt[.gz]"
    },
    "output_dir": {"aliases": ["--output"], "required": True, "help": "the student folder to write"},
    "student": {"help": "start from this student folder (e.g. a general-distilled one) instead of cutting a teacher"},
    "student_from": {"help": "index of the teacher the student is cut from (default 0)"},
    "trim_vocab_size": {
        "help": "keep at most this many tokens: the corpus's most frequent, with its alphabet's single "
        "characters so that the words of dropped tokens are re-segmented, not unknown"
    },
    "tune_teacher_weights": {
        "help": "choose the ensemble weights on the dev split: the grid of weights (multiples of "
        "1/--tune_steps) whose ensemble scores best on the task's metric"
    },
    "epochs": {"help": "training epochs (Trainer: --num_train_epochs)"},
    "batch_size": {"help": "per-device training batch (Trainer: --per_device_train_batch_size)"},
    "grad_accum": {"help": "gradient accumulation steps (Trainer: --gradient_accumulation_steps)"},
    "head_learning_rate": {"help": "task head and pooler (default: 20x --learning_rate when the head is new)"},
    "max_texts": {"help": "mlm: read at most this many lines"},
    "max_eval_samples": {"help": "score a seeded random N dev/test rows (smoke runs)"},
    "time_budget_min": {"help": "stop (and save) after this many minutes"},
    "resume": {"help": "resume from OUTPUT/checkpoints (--no_resume: start again)"},
    "trust_remote_code": {"help": "run the model folders' own code (only for folders you trust)"},
}


def add_parser(subparsers):
    from optimum_ro.commands.training import add_dataclass_flags, add_trainer_flags

    from .config import DistillationTrainingArguments

    p = subparsers.add_parser(
        "distill",
        help="distill one or more teachers into a smaller student",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--teacher", action="append", required=True, dest="teachers", help="teacher folder (repeat for several)"
    )
    p.add_argument(
        "--trim_vocab_corpus",
        "--trim-vocab-corpus",
        action="append",
        default=[],
        help="text file(s): keep only the tokens they use (repeat for several)",
    )
    p.add_argument("--teacher_weights", "--teacher-weights", type=float, nargs="+", help="ensemble weights")
    add_dataclass_flags(
        p, DistillConfig, skip=("teachers", "trim_vocab_corpus", "teacher_weights"), extra=FLAG_SETTINGS
    )
    add_trainer_flags(p, DistillationTrainingArguments)
    p.set_defaults(func=_run)
    return p


def check_distill_inputs(cfg: DistillConfig) -> None:
    """Every path and value of a distillation run, checked before a teacher is loaded."""
    from pathlib import Path

    from optimum_ro.commands import UsageError, check_data, check_model_folder

    for path in cfg.teachers:
        check_model_folder(path, "--teacher", cfg.trust_remote_code)
    if cfg.student:
        check_model_folder(cfg.student, "--student", cfg.trust_remote_code)
    for corpus in cfg.trim_vocab_corpus:
        if not Path(corpus).is_file():
            raise UsageError(f"--trim-vocab-corpus {corpus}: no such file; give a text file (one text per line).")
    if cfg.task == "mlm":
        if not cfg.data:
            raise UsageError("--task mlm needs --data: a text file (.txt or .txt.gz, one text per line) or several")
        for part in [cfg.data] if Path(cfg.data).is_dir() else cfg.data.split(","):
            if not Path(part).exists():
                raise UsageError(
                    f"--data {part}: no such file or folder; give text file(s) or a folder of *.txt[.gz]."
                )
    else:
        cfg.data = check_data(cfg.task, cfg.data)


def _run(args) -> int:
    keys = set(DistillConfig.__dataclass_fields__)
    cfg = DistillConfig(**{k: v for k, v in vars(args).items() if k in keys})
    check_distill_inputs(cfg)
    from optimum_ro.commands.training import finish_run, trainer_overrides

    results = run_distillation(cfg, training_args=trainer_overrides(args))
    return finish_run(args, cfg.output_dir, results, ("student_parameters", "train", "validation", "test"))
