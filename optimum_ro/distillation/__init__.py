"""Knowledge distillation for BERT-family models: one or several teachers, even with different tokenizers.

from optimum_ro.distillation import DistillationTrainer, DistillationTrainingArguments, make_student
student = make_student(teacher, num_layers=6)
args = DistillationTrainingArguments("out")
DistillationTrainer(model=student, teacher=teacher, args=args, train_dataset=ds).train()
"""

from .alignment import AlignmentError, align_to_student, pool_words, prepare_student_words, prepare_teacher_inputs
from .collator import DistillationDataCollator
from .compatibility import infer_task_kind
from .config import DistillationTrainingArguments
from .losses import (
    cosine_hidden_loss,
    cross_entropy_loss,
    ensemble_probabilities,
    mlm_loss,
    mse_loss,
    soft_target_loss,
    teacher_probabilities,
)
from .projections import StudentWithProjections
from .student import count_parameters, make_student
from .trainer import DistillationTrainer
from .vocab import count_token_ids, select_vocabulary, trim_vocabulary

__all__ = [
    "DistillationTrainer",
    "DistillationTrainingArguments",
    "DistillationDataCollator",
    "StudentWithProjections",
    "make_student",
    "count_parameters",
    "trim_vocabulary",
    "select_vocabulary",
    "count_token_ids",
    "infer_task_kind",
    "AlignmentError",
    "align_to_student",
    "pool_words",
    "prepare_teacher_inputs",
    "prepare_student_words",
    "soft_target_loss",
    "teacher_probabilities",
    "ensemble_probabilities",
    "cross_entropy_loss",
    "mlm_loss",
    "cosine_hidden_loss",
    "mse_loss",
]


def __getattr__(name: str):
    if name == "DistillationStudent":  # deprecated name, kept importable with a warning
        from . import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
