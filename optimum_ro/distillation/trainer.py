"""``DistillationTrainer``: a ``transformers.Trainer`` whose loss distills one or several frozen teachers.

    from optimum_ro.distillation import DistillationTrainer, DistillationTrainingArguments, make_student
    args = DistillationTrainingArguments("out")
    trainer = DistillationTrainer(model=make_student(teacher, 6), teacher=teacher, args=args,
                                  train_dataset=ds["train"], processing_class=tokenizer)
    trainer.train(); trainer.save_model("student")

Batches carry the student's columns (``input_ids``, ``attention_mask``, ``labels``, ``word_ids``) and, for a
teacher ``i`` whose tokenizer differs from the student's, ``teacher{i}_input_ids/attention_mask/word_ids``
(see :func:`optimum_ro.distillation.alignment.prepare_teacher_inputs`). A teacher without such columns
reads the student's inputs, so it must share the student's vocabulary.

Every loss term is a sum over its items (labelled positions, examples, tokens or aligned words) divided
by the item count of the whole accumulated batch, across processes; so gradient accumulation and DDP
give the update of one large batch (``loss_is_scaled_for_ga = True``).
"""

from __future__ import annotations

import inspect
import os
import warnings

import torch
from torch import nn
from transformers import Trainer

from . import ensemble, evaluation, losses
from .alignment import AlignmentError
from .collator import TEACHER_KEYS, DistillationDataCollator, count_items, split_inputs
from .compatibility import (
    TASK_KINDS,
    check_compatible,
    cosine_alignment_error,
    infer_task_kind,
    shares_vocabulary,
    teachers_and_args,
)
from .config import DistillationTrainingArguments
from .ensemble import simplex_grid
from .projections import PROJECTIONS_NAME, StudentWithProjections, load_projections, mlm_head, save_projections
from .teacher_targets import ensemble_soft_targets, hidden_cosine_term

__all__ = [
    "DistillationTrainer",
    "DistillationDataCollator",
    "StudentWithProjections",
    "infer_task_kind",
    "cosine_alignment_error",
    "simplex_grid",
    "TASK_KINDS",
    "PROJECTIONS_NAME",
]


class DistillationTrainer(Trainer):
    """``Trainer`` that trains ``model`` (the student) on a weighted sum of distillation losses.

    teachers / teacher: frozen models (eval mode, no gradients, moved to the student's device, never
    wrapped in DDP, never saved). Their task heads share the student's label space.
    teacher_tokenizers: optional, one per teacher (``None`` = the student's tokenizer). Used to decide
    which teachers share the student's vocabulary and to pad their ``teacher{i}_`` columns.
    task_kind: ``token``, ``sequence``, ``regression`` or ``mlm``; inferred from the student's class.
    """

    loss_is_scaled_for_ga = True

    def __init__(
        self,
        model=None,
        args: DistillationTrainingArguments | None = None,
        teachers=None,
        teacher=None,
        teacher_tokenizers=None,
        task_kind: str | None = None,
        **kwargs,
    ):
        teachers, args = teachers_and_args(model, teachers, teacher, args)
        self.task_kind = task_kind or infer_task_kind(model)
        if self.task_kind not in TASK_KINDS:
            raise ValueError(f"task_kind must be one of {TASK_KINDS}, got {task_kind!r}")
        if args.teacher_weights is not None and len(args.teacher_weights) != len(teachers):
            raise ValueError(
                f"teacher_weights has {len(args.teacher_weights)} values "
                f"for {len(teachers)} teachers; give one per teacher"
            )
        self.teacher_weights = list(args.teacher_weights or [1.0] * len(teachers))
        teacher_tokenizers = list(teacher_tokenizers or [None] * len(teachers))
        if len(teacher_tokenizers) != len(teachers):
            raise ValueError(f"got {len(teacher_tokenizers)} teacher tokenizers for {len(teachers)} teachers")
        student_tokenizer = kwargs.get("processing_class")
        self.shares_vocab = [
            shares_vocabulary(model, student_tokenizer, t, tok) for t, tok in zip(teachers, teacher_tokenizers)
        ]
        check_compatible(self.task_kind, self.shares_vocab, model, teachers, args, kwargs.get("train_dataset"))
        model = self._wrap_student(model, teachers, args)
        if kwargs.get("data_collator") is None:
            kwargs["data_collator"] = DistillationDataCollator(
                tokenizer=student_tokenizer,
                teacher_pad_token_ids={
                    i: tok.pad_token_id for i, tok in enumerate(teacher_tokenizers) if tok is not None
                },
                mlm_probability=0.15 if self.task_kind == "mlm" else None,
            )
        self._num_teachers = len(teachers)
        self._counts = None
        # per loss term, the sum of its values since the last log, and the step that sum started at
        self._loss_term_sums, self._loss_terms_since_step = {}, 0
        self._saving_checkpoint = False
        super().__init__(model=model, args=args, **kwargs)
        self.teachers = [self._freeze(t) for t in teachers]

    def _wrap_student(self, model, teachers, args) -> nn.Module:
        """The student in a ``StudentWithProjections`` when it needs projections or the masked-only MLM head."""
        projections = {}
        if args.alpha_cos > 0:
            student_hidden = model.config.hidden_size
            projections = {
                f"teacher{i}": (student_hidden, t.config.hidden_size)
                for i, t in enumerate(teachers)
                if not self.shares_vocab[i]
            }
        if projections or (self.task_kind == "mlm" and mlm_head(model) is not None):
            return StudentWithProjections(model, projections)
        return model

    def create_optimizer(self, model=None):
        """With ``args.head_learning_rate``, the task head and pooler get their own rate (``head_param_groups``)."""
        if self.optimizer is not None or not self.args.head_learning_rate:
            return super().create_optimizer(model)
        from optimum_ro.tasks.modeling import head_param_groups

        groups = head_param_groups(
            self.model, self.args.learning_rate, self.args.head_learning_rate, self.args.weight_decay
        )
        self.optimizer = torch.optim.AdamW(
            groups,
            lr=self.args.learning_rate,
            eps=self.args.adam_epsilon,
            betas=(self.args.adam_beta1, self.args.adam_beta2),
        )
        return self.optimizer

    def _freeze(self, teacher: nn.Module) -> nn.Module:
        teacher = teacher.to(self.args.device)
        teacher.eval()
        teacher.requires_grad_(False)
        return teacher

    @property
    def student(self) -> nn.Module:
        """The bare student (without projections or DDP wrappers)."""
        model = self.accelerator.unwrap_model(self.model)
        return model.student if isinstance(model, StudentWithProjections) else model

    # ---- columns kept for the teachers ------------------------------------------------------------------
    def _set_signature_columns_if_needed(self):
        if self._signature_columns is None:
            params = list(inspect.signature(self.student.forward).parameters)
            teacher_cols = [f"teacher{i}_{k}" for i in range(self._num_teachers) for k in TEACHER_KEYS]
            self._signature_columns = (
                params
                + ["label", "label_ids", "word_ids", "special_tokens_mask"]
                + list(self.label_names)
                + teacher_cols
            )

    # ---- item counts of the accumulated batch (exact gradient accumulation / DDP) ---------------------
    def _count_items(self, batches: list[dict], device) -> dict:
        names, totals = count_items(batches, self._num_teachers)
        totals = totals.to(device)
        if self.args.world_size > 1:
            totals = self.accelerator.gather(totals.unsqueeze(0)).sum(0)
        return dict(zip(names, totals.float()))

    def _split_inputs(self, inputs: dict):
        return split_inputs(inputs, self._num_teachers)

    def get_batch_samples(self, epoch_iterator, num_batches, device):
        batch_samples, num_items_in_batch = super().get_batch_samples(epoch_iterator, num_batches, device)
        self._counts = self._count_items(batch_samples, device) if batch_samples else None
        return batch_samples, num_items_in_batch

    # ---- the loss -----------------------------------------------------------------------------------
    def _run_teacher(self, i: int, student_inputs: dict, own_inputs: dict, need_hidden: bool, mlm_positions=None):
        teacher = self.teachers[i]
        if own_inputs:
            feed = {k: v for k, v in own_inputs.items() if k != "word_ids"}
        elif self.shares_vocab[i]:
            feed = student_inputs
        else:
            raise AlignmentError(
                f"teacher {i} does not share the student's vocabulary and the batch has no teacher{i}_input_ids; "
                "tokenize the raw text for it with prepare_teacher_inputs(...)"
            )
        if self.task_kind == "mlm" and not (self.shares_vocab[i] and self.args.alpha_ce > 0):
            base = teacher.base_model(
                **feed, output_hidden_states=need_hidden
            )  # hidden states only: skip the big MLM head
            return None, base.hidden_states if need_hidden else None, own_inputs.get("word_ids")
        head = mlm_head(teacher) if mlm_positions is not None and not own_inputs else None
        if head is not None:  # soft targets only where the student is scored
            base = teacher.base_model(**feed, output_hidden_states=need_hidden)
            return head(base.last_hidden_state[mlm_positions]), (base.hidden_states if need_hidden else None), None
        out = teacher(**feed, output_hidden_states=need_hidden)
        return out.logits, (out.hidden_states if need_hidden else None), own_inputs.get("word_ids")

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        args = self.args
        student_inputs, labels, word_ids, teacher_inputs = self._split_inputs(inputs)
        need_hidden = args.alpha_cos > 0
        outputs, projected, mlm_positions = self._student_forward(model, student_inputs, labels, need_hidden)
        logits = outputs.logits
        if mlm_positions is not None:  # logits are [N, vocab] for the N masked positions
            labels = labels[mlm_positions]

        training = self._counts is not None and self.accelerator.unwrap_model(model).training
        counts = self._counts if training else None

        def norm(name, local):
            return counts[name] if counts is not None else local

        with torch.no_grad():
            teacher_out = [
                self._run_teacher(i, student_inputs, teacher_inputs[i], need_hidden, mlm_positions)
                for i in range(self._num_teachers)
            ]
        if self.task_kind == "regression":
            terms = self._regression_terms(logits, labels, teacher_out, norm)
        else:
            terms = self._label_terms(logits, labels, word_ids, teacher_out, norm)
        if need_hidden:
            terms["cos"] = args.alpha_cos * hidden_cosine_term(
                outputs.hidden_states,
                projected,
                teacher_out,
                student_inputs.get("attention_mask"),
                word_ids,
                norm,
                self.teacher_weights,
                self.shares_vocab,
                args.layer_pairs(),
            )
        if not terms:
            raise ValueError(
                "every loss weight is 0 (or needs labels the batch lacks); set alpha_ce/alpha_task/alpha_mse/..."
            )
        loss = sum(terms.values())
        if training:
            for name, value in terms.items():
                self._loss_term_sums[name] = self._loss_term_sums.get(name, 0.0) + value.detach().item()
            if args.world_size > 1:  # DDP averages gradients; each rank's loss is its share of the global sum
                loss = loss * args.world_size
        return (loss, {"loss": loss, "logits": logits}) if return_outputs else loss

    def _student_forward(self, model, student_inputs: dict, labels, need_hidden: bool):
        """The student's outputs, its projected hidden states and, in the MLM stage, the masked positions
        that its head ran on (``None`` elsewhere)."""
        unwrapped = self.accelerator.unwrap_model(model)
        if not isinstance(unwrapped, StudentWithProjections):
            return model(**student_inputs, output_hidden_states=need_hidden), {}, None
        mlm_positions = None
        if self.task_kind == "mlm" and labels is not None and mlm_head(unwrapped.student) is not None:
            mlm_positions = labels.ne(-100)
        outputs, projected = model(**student_inputs, mlm_positions=mlm_positions)
        return outputs, projected, mlm_positions

    def _regression_terms(self, logits, labels, teacher_out, norm) -> dict:
        """MSE to the teachers' weighted mean score, and to the gold score."""
        args, weights = self.args, self.teacher_weights
        preds = logits.view(-1).float()
        local = preds.new_tensor(float(preds.numel()))
        terms = {}
        if args.alpha_mse > 0:
            target = sum(w * out[0].view(-1).float() for w, out in zip(weights, teacher_out)) / sum(weights)
            terms["mse"] = args.alpha_mse * losses.mse_loss(preds, target, normalize_by=norm("examples", local))
        if args.alpha_task > 0 and labels is not None:
            terms["task"] = args.alpha_task * losses.mse_loss(
                preds, labels.float(), normalize_by=norm("examples", local)
            )
        return terms

    def _label_terms(self, logits, labels, word_ids, teacher_out, norm) -> dict:
        """KL to the teachers' soft labels, and cross-entropy to the gold labels (or the masked tokens)."""
        args = self.args
        terms = {}
        label_mask = labels.ne(-100) if labels is not None else None
        if self.task_kind == "sequence":
            item_norm = norm("examples", logits.new_tensor(float(logits.shape[0])))
        else:
            local = label_mask.sum().float() if label_mask is not None else None
            item_norm = norm("labels", local) if local is not None else None
        if args.alpha_ce > 0:
            soft, mask = self._soft_targets(teacher_out, logits, word_ids, label_mask)
            if soft is not None:
                terms["kl"] = args.alpha_ce * losses.soft_target_loss(
                    logits, soft, args.temperature, mask=mask, normalize_by=item_norm
                )
        task_weight = args.alpha_mlm if self.task_kind == "mlm" else args.alpha_task
        if task_weight > 0 and labels is not None:
            terms["mlm" if self.task_kind == "mlm" else "task"] = task_weight * losses.cross_entropy_loss(
                logits, labels, normalize_by=item_norm
            )
        return terms

    def _soft_targets(self, teacher_out, student_logits, word_ids, label_mask, temperature=None):
        """Ensemble teacher probabilities at temperature T, aligned to the student's positions."""
        return ensemble_soft_targets(
            teacher_out,
            self.teacher_weights,
            self.shares_vocab,
            self.task_kind,
            student_logits,
            word_ids,
            label_mask,
            self.args.temperature if temperature is None else temperature,
        )

    # ---- loyalty of the student to its teachers, and the ensemble's weights ---------------------------
    def loyalty(self, dataset=None, score_range=(0.0, 5.0), task=None) -> dict:
        """Loyalty of the student to the (weighted) teacher ensemble on ``dataset`` (default: eval_dataset).

        Tagging/classification: ``label_loyalty`` (argmax agreement) and ``probability_loyalty``
        (1 - sqrt(JSD), temperature 1), over labelled positions (first sub-tokens); the teacher label is
        the argmax of the ensemble. Regression: ``regression_loyalty`` and ``pearson``. Under DDP every
        process must call it (rows are gathered; the sampler's padding may repeat a few rows).
        With ``task`` (a task name) the teacher ensemble's own task scores on the same rows are added as
        ``teacher_score_<metric>``, so teachers and students are scored on identical inputs.
        """
        return evaluation.loyalty(self, dataset, score_range, task)

    def tune_teacher_weights(self, dataset=None, task=None, steps: int = 10) -> dict:
        """Choose the ensemble's teacher weights on ``dataset`` (a dev split, never test) and keep them.

        Every weight vector on a grid of the simplex (multiples of ``1 / steps``, summing to 1) is scored by
        the ensemble's own task metric (``task``'s main metric: argmax of the weighted probabilities, or the
        weighted regression score); the best one becomes ``self.teacher_weights`` (ties: the one closest to
        equal weights). The teachers run once; each candidate only re-weights their outputs. Returns
        ``{"weights", "metric", "score", "previous", "grid": [[weights, score], ...]}``. Call it before
        ``train()``; under DDP every process must call it (predictions are gathered)."""
        return ensemble.tune_teacher_weights(self, dataset, task, steps)

    # ---- evaluation ---------------------------------------------------------------------------------
    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        """Student outputs only; ``eval_loss`` is the hard-label loss (CE, or MSE for regression), so
        evaluation does not run the teachers (``loyalty()`` compares with them)."""
        inputs = self._prepare_inputs(inputs)
        student_inputs, labels, _, _ = self._split_inputs(inputs)
        with torch.no_grad():
            out = model(**student_inputs)
            logits = (out[0] if isinstance(out, tuple) else out).logits.detach()
            loss = None
            if labels is not None:
                if self.task_kind == "regression":
                    loss = losses.mse_loss(logits.view(-1), labels.float())
                else:
                    loss = losses.cross_entropy_loss(logits, labels)
        if prediction_loss_only:
            return loss, None, None
        return loss, logits, labels

    def log(self, logs: dict, start_time=None) -> None:
        steps = self.state.global_step - self._loss_terms_since_step
        if "loss" in logs and self._loss_term_sums and steps > 0:
            for name, value in self._loss_term_sums.items():
                logs[f"loss_{name}"] = round(value / steps, 4)
            self._loss_term_sums, self._loss_terms_since_step = {}, self.state.global_step
        super().log(logs, start_time)

    # ---- saving: never the teachers; projections only in checkpoints --------------------------------
    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        self._saving_checkpoint = _internal_call
        try:
            super().save_model(output_dir, _internal_call)
        finally:
            self._saving_checkpoint = False

    def _save(self, output_dir: str | None = None, state_dict=None) -> None:
        wrapper = self.accelerator.unwrap_model(self.model)
        if not isinstance(wrapper, StudentWithProjections):
            return super()._save(output_dir, state_dict)
        output_dir = output_dir or self.args.output_dir
        if not self.args.should_save:
            return
        os.makedirs(output_dir, exist_ok=True)
        wrapper.student.save_pretrained(output_dir)
        if self._saving_checkpoint:
            save_projections(wrapper, output_dir)
        if self.processing_class is not None:
            self.processing_class.save_pretrained(output_dir)
        torch.save(self.args, os.path.join(output_dir, "training_args.bin"))

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        wrapper = self.accelerator.unwrap_model(model if model is not None else self.model)
        if not isinstance(wrapper, StudentWithProjections):
            return super()._load_from_checkpoint(resume_from_checkpoint, model)
        super()._load_from_checkpoint(resume_from_checkpoint, wrapper.student)
        load_projections(wrapper, resume_from_checkpoint)


def __getattr__(name: str):
    if name == "DistillationStudent":  # the former name of StudentWithProjections
        warnings.warn(
            "DistillationStudent is renamed StudentWithProjections; the old name will be removed",
            FutureWarning,
            stacklevel=2,
        )
        return StudentWithProjections
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
