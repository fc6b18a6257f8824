"""The student wrapped with learned projections to teachers' hidden sizes, and the checkpoint file they live in."""

from __future__ import annotations

import os

from torch import nn
from transformers.modeling_outputs import MaskedLMOutput

# Checkpoint file of the projections; ``save_model`` exports the bare student without them.
PROJECTIONS_NAME = "distillation_projections.safetensors"


def mlm_head(model):
    """The MLM head module applied to the encoder's last hidden state (``cls`` for BERT), or None."""
    head = getattr(model, "cls", None)
    return head if isinstance(head, nn.Module) and hasattr(model, "base_model") else None


class StudentWithProjections(nn.Module):
    """The student plus learned linear maps (student hidden -> teacher hidden) for teachers with another
    vocabulary. The maps are trained and checkpointed with the student, but ``save_model`` exports only
    ``.student``. Projections run inside ``forward`` so that DDP synchronises their gradients.

    ``forward(..., mlm_positions=mask)`` applies the MLM head to the masked positions only (logits
    ``[N, vocab]``): the same loss for a fraction of the head's work.
    """

    main_input_name = "input_ids"
    _keys_to_ignore_on_save = None

    def __init__(self, student: nn.Module, projections: dict[str, tuple[int, int]]):
        super().__init__()
        self.student = student
        self.config = student.config
        self.projections = nn.ModuleDict({name: nn.Linear(i, o) for name, (i, o) in projections.items()})

    def forward(self, mlm_positions=None, **inputs):
        head = mlm_head(self.student)
        if mlm_positions is not None and head is not None:
            base = self.student.base_model(**inputs, output_hidden_states=True)
            outputs = MaskedLMOutput(
                logits=head(base.last_hidden_state[mlm_positions]), hidden_states=base.hidden_states
            )
        else:
            outputs = self.student(**inputs, output_hidden_states=True)
        last = outputs.hidden_states[-1]
        return outputs, {name: proj(last) for name, proj in self.projections.items()}

    def tie_weights(self):
        if hasattr(self.student, "tie_weights"):
            self.student.tie_weights()


def save_projections(wrapper: StudentWithProjections, output_dir: str) -> None:
    """Write ``wrapper.projections`` to ``output_dir/distillation_projections.safetensors``."""
    from safetensors.torch import save_file

    save_file(
        {k: v.detach().cpu().contiguous() for k, v in wrapper.projections.state_dict().items()},
        os.path.join(output_dir, PROJECTIONS_NAME),
    )


def load_projections(wrapper: StudentWithProjections, checkpoint_dir: str) -> None:
    """Read the projections a checkpoint holds into ``wrapper``; a clear error when it holds none."""
    path = os.path.join(checkpoint_dir, PROJECTIONS_NAME)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path} is missing: this checkpoint was not written by a DistillationTrainer with the same teachers"
        )
    from safetensors.torch import load_file

    wrapper.projections.load_state_dict(load_file(path))
