"""Training arguments for distillation: ``TrainingArguments`` plus the loss weights.

from optimum_ro.distillation import DistillationTrainingArguments
args = DistillationTrainingArguments("out", temperature=2.0, alpha_ce=0.5, alpha_task=0.5)
args = DistillationTrainingArguments("out", alpha_ce=5.0, alpha_mlm=2.0, alpha_cos=1.0)  # DistilBERT MLM stage
"""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import TrainingArguments


@dataclass
class DistillationTrainingArguments(TrainingArguments):
    """Loss = alpha_ce * KL(teachers || student) * T^2 + alpha_mlm * MLM CE + alpha_cos * (1 - cos)
    + alpha_task * hard-label loss + alpha_mse * MSE(student, teachers) (regression)."""

    temperature: float = field(
        default=2.0, metadata={"help": "Softmax temperature T of the soft targets (KL scaled by T^2)."}
    )
    alpha_ce: float = field(
        default=0.5, metadata={"help": "Weight of the soft-target KL loss (classification, tagging, MLM)."}
    )
    alpha_mlm: float = field(
        default=0.0, metadata={"help": "Weight of the masked-LM cross-entropy on the student's own labels."}
    )
    alpha_cos: float = field(
        default=0.0, metadata={"help": "Weight of the cosine loss between student and teacher hidden states."}
    )
    alpha_task: float = field(
        default=0.5, metadata={"help": "Weight of the hard-label task loss (CE, or MSE for regression)."}
    )
    alpha_mse: float = field(
        default=0.5, metadata={"help": "Weight of the MSE to the teachers' scores (regression tasks)."}
    )
    head_learning_rate: float | None = field(
        default=None,
        metadata={
            "help": "Learning rate of the task head and pooler (default: learning_rate); give a "
            "freshly initialised head a larger one."
        },
    )
    teacher_weights: list[float] | None = field(
        default=None, metadata={"help": "One weight per teacher for the ensemble (normalised); default equal."}
    )
    hidden_layer_map: list[str] | None = field(
        default=None,
        metadata={
            "help": "Cosine loss layer pairs 'student:teacher' (0 = embeddings, -1 = last) for "
            "the teacher sharing the student's vocabulary; default '-1:-1'."
        },
    )

    def __post_init__(self):
        super().__post_init__()
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        for name in ("alpha_ce", "alpha_mlm", "alpha_cos", "alpha_task", "alpha_mse"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.teacher_weights is not None and (
            any(w < 0 for w in self.teacher_weights) or sum(self.teacher_weights) <= 0
        ):
            raise ValueError(f"teacher_weights must be non-negative and not all zero, got {self.teacher_weights}")
        self.layer_pairs()  # validate early
        if self.label_names is None:
            self.label_names = ["labels"]

    def layer_pairs(self) -> list[tuple[int, int]]:
        """``hidden_layer_map`` parsed into (student_layer, teacher_layer) pairs."""
        pairs = []
        for item in self.hidden_layer_map or ["-1:-1"]:
            try:
                s, t = str(item).split(":")
                pairs.append((int(s), int(t)))
            except ValueError:
                raise ValueError(
                    f"hidden_layer_map entries look like 'student:teacher' (e.g. '3:6'), got {item!r}"
                ) from None
        return pairs
