"""The ``Trainer`` of task fine-tuning: the new head gets its own learning rate, big word embeddings stay frozen.

TaskTrainer = make_trainer_class()
trainer = TaskTrainer(model=model, args=args, train_dataset=ds, head_learning_rate=1e-3)
"""

from __future__ import annotations


def freeze_word_embeddings(model, mode: str = "auto") -> bool:
    """Freeze the word embedding matrix (most of a multilingual model, rarely worth training)."""
    emb = model.get_input_embeddings()
    freeze = mode == "yes" or (mode == "auto" and emb.weight.shape[0] > 50_000)
    if freeze:
        emb.weight.requires_grad_(False)
    return freeze


def make_trainer_class():
    """``Trainer`` whose optimizer gives the freshly initialised head its own learning rate
    (``head_param_groups``)."""
    import torch
    from transformers import Trainer

    from .modeling import head_param_groups

    class TaskTrainer(Trainer):
        def __init__(self, *args, head_learning_rate=None, **kwargs):
            super().__init__(*args, **kwargs)
            self.head_learning_rate = head_learning_rate

        def create_optimizer(self, model=None):
            if self.optimizer is not None or not self.head_learning_rate:
                return super().create_optimizer(model)
            groups = head_param_groups(
                self.model, self.args.learning_rate, self.head_learning_rate, self.args.weight_decay
            )
            self.optimizer = torch.optim.AdamW(
                groups,
                lr=self.args.learning_rate,
                eps=self.args.adam_epsilon,
                betas=(self.args.adam_beta1, self.args.adam_beta2),
            )
            return self.optimizer

    return TaskTrainer
