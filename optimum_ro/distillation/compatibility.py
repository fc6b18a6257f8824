"""What a distillation setup must satisfy: the task kind, shared vocabularies, label spaces, hidden sizes."""

from __future__ import annotations

from .config import DistillationTrainingArguments

TASK_KINDS = ("token", "sequence", "regression", "mlm")


def infer_task_kind(model) -> str:
    """``mlm`` / ``token`` / ``sequence`` / ``regression`` from the model class and config."""
    name = type(model).__name__
    if name.endswith(("ForMaskedLM", "ForPreTraining")):
        return "mlm"
    if name.endswith("ForTokenClassification"):
        return "token"
    if name.endswith("ForSequenceClassification"):
        config = model.config
        return "regression" if config.problem_type == "regression" or config.num_labels == 1 else "sequence"
    raise ValueError(f"cannot tell the task of a {name}; pass task_kind= one of {TASK_KINDS}")


def shares_vocabulary(student, student_tokenizer, teacher, teacher_tokenizer) -> bool:
    """Whether a teacher reads the student's token ids (same vocabulary, or same vocab size without tokenizers)."""
    if teacher_tokenizer is None or student_tokenizer is None or teacher_tokenizer is student_tokenizer:
        return teacher.config.vocab_size == student.config.vocab_size
    return teacher_tokenizer.get_vocab() == student_tokenizer.get_vocab()


def cosine_alignment_error(
    task_kind: str, alpha_cos: float, unshared: list[int], columns=None, task: str | None = None
) -> str | None:
    """Why the hidden-state cosine loss cannot run, or ``None`` when it can (or nothing can be told yet).

    A teacher whose vocabulary differs from the student's is compared word by word, which needs the
    student's ``word_ids`` and its ``teacher{i}_word_ids`` columns; token tasks and the MLM stage have them,
    sentence tasks normally do not. ``columns``: the training data's column names (``None``: unknown).
    """
    if alpha_cos <= 0 or not unshared or task_kind not in ("sequence", "regression") or columns is None:
        return None
    needed = ["word_ids"] + [f"teacher{i}_word_ids" for i in unshared]
    if all(c in columns for c in needed):
        return None
    name = f"the sequence task {task!r}" if task else f"a {task_kind} task"
    return (
        f"alpha_cos={alpha_cos} on {name}: the hidden-state cosine loss compares tokens, so every teacher must "
        f"share the student's vocabulary, and teacher(s) {sorted(unshared)} do not (a trimmed student vocabulary, "
        f"or another teacher's tokenizer); comparing words instead needs the columns {needed}, which sentence "
        "tasks do not carry. Set alpha_cos=0, or distil from an untrimmed student cut from that teacher."
    )


def check_compatible(task_kind: str, shares_vocab: list[bool], student, teachers, args, train_dataset=None) -> None:
    """Raise a ``ValueError`` naming the problem when the student, teachers and loss weights cannot work together."""
    if task_kind == "mlm":
        if args.alpha_ce > 0 and not any(shares_vocab):
            raise ValueError(
                "alpha_ce > 0 in the MLM stage needs a teacher that shares the student's vocabulary "
                "(soft targets are distributions over tokens); set alpha_ce=0 or add such a teacher"
            )
        for i, t in enumerate(teachers):
            if shares_vocab[i] and args.alpha_ce > 0 and t.config.vocab_size != student.config.vocab_size:
                raise ValueError(
                    f"teacher {i} has {t.config.vocab_size} output "
                    f"tokens, the student {student.config.vocab_size}; "
                    "trim both with the same corpus (trim_vocabulary) so their vocabularies match"
                )
    elif task_kind in ("token", "sequence"):
        for i, t in enumerate(teachers):
            if getattr(t.config, "num_labels", None) != student.config.num_labels:
                raise ValueError(
                    f"teacher {i} predicts {t.config.num_labels} labels, the student {student.config.num_labels}; "
                    "teachers and student must share the task's label space"
                )
    unshared = [i for i, shares in enumerate(shares_vocab) if not shares]
    problem = cosine_alignment_error(task_kind, args.alpha_cos, unshared, getattr(train_dataset, "column_names", None))
    if problem:
        raise ValueError(problem)
    if args.alpha_cos > 0:
        for i, t in enumerate(teachers):
            if shares_vocab[i] and t.config.hidden_size != student.config.hidden_size:
                raise ValueError(
                    f"teacher {i} shares the student's vocabulary but has hidden size {t.config.hidden_size} "
                    f"!= {student.config.hidden_size}; the token-level "
                    "cosine loss needs equal sizes (set alpha_cos=0)"
                )


def teachers_and_args(model, teachers, teacher, args):
    """The teacher list and the arguments, checked: a student, exactly one of ``teacher`` / ``teachers``."""
    if model is None:
        raise ValueError("DistillationTrainer needs the student as model= (model_init is not supported)")
    if (teacher is None) == (teachers is None):
        raise ValueError("pass exactly one of teacher=model or teachers=[model, ...]")
    teachers = [teacher] if teacher is not None else list(teachers)
    if not teachers:
        raise ValueError("teachers is empty; give at least one teacher model")
    args = args if args is not None else DistillationTrainingArguments("distillation_output")
    if not isinstance(args, DistillationTrainingArguments):
        raise TypeError(
            f"args must be DistillationTrainingArguments (it holds the loss weights), got {type(args).__name__}"
        )
    return teachers, args
