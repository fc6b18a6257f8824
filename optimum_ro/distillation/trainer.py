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
import logging
import os
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers import Trainer
from transformers.modeling_outputs import MaskedLMOutput

from . import losses
from .alignment import AlignmentError, align_to_student, count_shared_words, pool_both
from .config import DistillationTrainingArguments

logger = logging.getLogger(__name__)

TASK_KINDS = ("token", "sequence", "regression", "mlm")
PROJECTIONS_NAME = "distillation_projections.safetensors"
_TEACHER_KEYS = ("input_ids", "attention_mask", "token_type_ids", "word_ids")


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


def _mlm_head(model):
    """The MLM head module applied to the encoder's last hidden state (``cls`` for BERT), or None."""
    head = getattr(model, "cls", None)
    return head if isinstance(head, nn.Module) and hasattr(model, "base_model") else None


class DistillationStudent(nn.Module):
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
        head = _mlm_head(self.student)
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


@dataclass
class DistillationDataCollator:
    """Pads every student and ``teacher{i}_`` column; drops text columns; optionally masks tokens (MLM).

    Padding: ``*input_ids`` with the owner's pad id, ``labels`` with -100, ``word_ids`` with -1, others 0.
    With ``mlm_probability`` the student's ``input_ids`` are masked BERT-style (80% [MASK], 10% random,
    10% kept) and ``labels`` hold the original ids at masked positions; a teacher sharing the student's
    vocabulary reads the same masked input (as in DistilBERT).
    """

    tokenizer: Any = None
    teacher_pad_token_ids: dict | None = None
    mlm_probability: float | None = None

    def _pad_value(self, key: str) -> int:
        if key == "labels":
            return -100
        if key.endswith("word_ids"):
            return -1
        if key.endswith("input_ids"):
            if key.startswith("teacher"):
                index = int(key[len("teacher") :].split("_")[0])
                return (self.teacher_pad_token_ids or {}).get(index, 0) or 0
            return getattr(self.tokenizer, "pad_token_id", None) or 0
        return 0

    def __call__(self, features: list[dict]) -> dict:
        batch = {}
        for key in features[0]:
            values = [f[key] for f in features]
            first = values[0]
            if isinstance(first, torch.Tensor):
                values = [v.tolist() for v in values]
                first = values[0]
            if isinstance(first, bool) or isinstance(first, (int, float)):
                dtype = torch.float32 if any(isinstance(v, float) for v in values) else torch.long
                batch[key] = torch.tensor(values, dtype=dtype)
            elif isinstance(first, (list, tuple)) and (not first or isinstance(first[0], (int, float))):
                length = max(len(v) for v in values)
                pad = self._pad_value(key)
                dtype = torch.float32 if any(isinstance(x, float) for v in values for x in v) else torch.long
                batch[key] = torch.tensor([list(v) + [pad] * (length - len(v)) for v in values], dtype=dtype)
            # strings (raw text, words) and anything else stay out of the batch
        if self.mlm_probability:
            self._mask_tokens(batch)
        return batch

    def _mask_tokens(self, batch: dict) -> None:
        tok = self.tokenizer
        if tok is None or tok.mask_token_id is None:
            raise ValueError(
                "MLM masking needs the student's tokenizer with a mask token (pass processing_class=tokenizer)"
            )
        ids = batch["input_ids"]
        special = batch.pop("special_tokens_mask", None)
        if special is None:
            special = torch.tensor(
                [tok.get_special_tokens_mask(row, already_has_special_tokens=True) for row in ids.tolist()]
            )
        maskable = ~special.bool()
        if "attention_mask" in batch:
            maskable &= batch["attention_mask"].bool()
        chosen = torch.bernoulli(torch.full(ids.shape, float(self.mlm_probability))).bool() & maskable
        batch["labels"] = torch.where(chosen, ids, torch.full_like(ids, -100))
        replace = torch.bernoulli(torch.full(ids.shape, 0.8)).bool() & chosen
        randomize = torch.bernoulli(torch.full(ids.shape, 0.5)).bool() & chosen & ~replace
        ids = ids.masked_fill(replace, tok.mask_token_id)
        batch["input_ids"] = torch.where(randomize, torch.randint(len(tok), ids.shape), ids)


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
            self._shares_vocabulary(model, student_tokenizer, t, tok) for t, tok in zip(teachers, teacher_tokenizers)
        ]
        self._check_compatible(model, teachers, args, kwargs.get("train_dataset"))

        projections = {}
        if args.alpha_cos > 0:
            student_hidden = model.config.hidden_size
            projections = {
                f"teacher{i}": (student_hidden, t.config.hidden_size)
                for i, t in enumerate(teachers)
                if not self.shares_vocab[i]
            }
        if projections or (self.task_kind == "mlm" and _mlm_head(model) is not None):
            model = DistillationStudent(model, projections)
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
        self._components, self._components_since = {}, 0
        self._saving_checkpoint = False
        super().__init__(model=model, args=args, **kwargs)
        self.teachers = [self._freeze(t) for t in teachers]

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

    # ---- setup helpers -------------------------------------------------------------------------------
    @staticmethod
    def _shares_vocabulary(student, student_tokenizer, teacher, teacher_tokenizer) -> bool:
        if teacher_tokenizer is None or student_tokenizer is None or teacher_tokenizer is student_tokenizer:
            return teacher.config.vocab_size == student.config.vocab_size
        return teacher_tokenizer.get_vocab() == student_tokenizer.get_vocab()

    def _check_compatible(self, student, teachers, args, train_dataset=None):
        if self.task_kind == "mlm":
            if args.alpha_ce > 0 and not any(self.shares_vocab):
                raise ValueError(
                    "alpha_ce > 0 in the MLM stage needs a teacher that shares the student's vocabulary "
                    "(soft targets are distributions over tokens); set alpha_ce=0 or add such a teacher"
                )
            for i, t in enumerate(teachers):
                if self.shares_vocab[i] and args.alpha_ce > 0 and t.config.vocab_size != student.config.vocab_size:
                    raise ValueError(
                        f"teacher {i} has {t.config.vocab_size} output "
                        f"tokens, the student {student.config.vocab_size}; "
                        "trim both with the same corpus (trim_vocabulary) so their vocabularies match"
                    )
        elif self.task_kind in ("token", "sequence"):
            for i, t in enumerate(teachers):
                if getattr(t.config, "num_labels", None) != student.config.num_labels:
                    raise ValueError(
                        f"teacher {i} predicts {t.config.num_labels} labels, the student {student.config.num_labels}; "
                        "teachers and student must share the task's label space"
                    )
        unshared = [i for i, shares in enumerate(self.shares_vocab) if not shares]
        problem = cosine_alignment_error(
            self.task_kind, args.alpha_cos, unshared, getattr(train_dataset, "column_names", None)
        )
        if problem:
            raise ValueError(problem)
        if args.alpha_cos > 0:
            for i, t in enumerate(teachers):
                if self.shares_vocab[i] and t.config.hidden_size != student.config.hidden_size:
                    raise ValueError(
                        f"teacher {i} shares the student's vocabulary but has hidden size {t.config.hidden_size} "
                        f"!= {student.config.hidden_size}; the token-level "
                        "cosine loss needs equal sizes (set alpha_cos=0)"
                    )

    def _freeze(self, teacher: nn.Module) -> nn.Module:
        teacher = teacher.to(self.args.device)
        teacher.eval()
        teacher.requires_grad_(False)
        return teacher

    @property
    def student(self) -> nn.Module:
        """The bare student (without projections or DDP wrappers)."""
        model = self.accelerator.unwrap_model(self.model)
        return model.student if isinstance(model, DistillationStudent) else model

    # ---- columns kept for the teachers ---------------------------------------------------------------
    def _set_signature_columns_if_needed(self):
        if self._signature_columns is None:
            params = list(inspect.signature(self.student.forward).parameters)
            teacher_cols = [f"teacher{i}_{k}" for i in range(self._num_teachers) for k in _TEACHER_KEYS]
            self._signature_columns = (
                params
                + ["label", "label_ids", "word_ids", "special_tokens_mask"]
                + list(self.label_names)
                + teacher_cols
            )

    # ---- item counts of the accumulated batch (exact gradient accumulation / DDP) ---------------------
    def get_batch_samples(self, epoch_iterator, num_batches, device):
        batch_samples, num_items_in_batch = super().get_batch_samples(epoch_iterator, num_batches, device)
        self._counts = self._count_items(batch_samples, device) if batch_samples else None
        return batch_samples, num_items_in_batch

    def _count_items(self, batches: list[dict], device) -> dict:
        names = ["examples", "labels", "tokens"] + [f"words{i}" for i in range(self._num_teachers)]
        totals = torch.zeros(len(names), dtype=torch.float64)
        for b in batches:
            ids = b["input_ids"]
            totals[0] += ids.shape[0]
            if "labels" in b:
                totals[1] += b["labels"].ne(-100).sum().item()
            totals[2] += (b["attention_mask"].sum() if "attention_mask" in b else ids.numel()).item()
            for i in range(self._num_teachers):
                if f"teacher{i}_word_ids" in b and "word_ids" in b:
                    totals[3 + i] += count_shared_words(b["word_ids"], b[f"teacher{i}_word_ids"]).item()
        totals = totals.to(device)
        if self.args.world_size > 1:
            totals = self.accelerator.gather(totals.unsqueeze(0)).sum(0)
        return dict(zip(names, totals.float()))

    # ---- the loss -----------------------------------------------------------------------------------
    def _split_inputs(self, inputs: dict):
        inputs = dict(inputs)
        labels = inputs.pop("labels", None)
        word_ids = inputs.pop("word_ids", None)
        inputs.pop("special_tokens_mask", None)
        teacher_inputs = [{} for _ in range(self._num_teachers)]
        for key in [k for k in inputs if k.startswith("teacher")]:
            prefix, _, name = key.partition("_")
            index = int(prefix[len("teacher") :])
            if index >= self._num_teachers:
                raise ValueError(
                    f"batch column {key} names teacher {index}, but only {self._num_teachers} teachers were given"
                )
            teacher_inputs[index][name] = inputs.pop(key)
        return inputs, labels, word_ids, teacher_inputs

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
        head = _mlm_head(teacher) if mlm_positions is not None and not own_inputs else None
        if head is not None:  # soft targets only where the student is scored
            base = teacher.base_model(**feed, output_hidden_states=need_hidden)
            return head(base.last_hidden_state[mlm_positions]), (base.hidden_states if need_hidden else None), None
        out = teacher(**feed, output_hidden_states=need_hidden)
        return out.logits, (out.hidden_states if need_hidden else None), own_inputs.get("word_ids")

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        args = self.args
        student_inputs, labels, word_ids, teacher_inputs = self._split_inputs(inputs)
        need_hidden = args.alpha_cos > 0
        unwrapped = self.accelerator.unwrap_model(model)
        mlm_positions = None
        if isinstance(unwrapped, DistillationStudent):
            if self.task_kind == "mlm" and labels is not None and _mlm_head(unwrapped.student) is not None:
                mlm_positions = labels.ne(-100)
            outputs, projected = model(**student_inputs, mlm_positions=mlm_positions)
        else:
            outputs, projected = model(**student_inputs, output_hidden_states=need_hidden), {}
        logits = outputs.logits
        if mlm_positions is not None:  # logits are [N, vocab] for the N masked positions
            labels = labels[mlm_positions]

        training = self._counts is not None and unwrapped.training
        counts = self._counts if training else None

        def norm(name, local):
            return counts[name] if counts is not None else local

        with torch.no_grad():
            teacher_out = [
                self._run_teacher(i, student_inputs, teacher_inputs[i], need_hidden, mlm_positions)
                for i in range(self._num_teachers)
            ]

        terms = {}
        weights = self.teacher_weights
        T = args.temperature
        if self.task_kind == "regression":
            preds = logits.view(-1).float()
            local = preds.new_tensor(float(preds.numel()))
            if args.alpha_mse > 0:
                target = sum(w * out[0].view(-1).float() for w, out in zip(weights, teacher_out)) / sum(weights)
                terms["mse"] = args.alpha_mse * losses.mse_loss(preds, target, normalize_by=norm("examples", local))
            if args.alpha_task > 0 and labels is not None:
                terms["task"] = args.alpha_task * losses.mse_loss(
                    preds, labels.float(), normalize_by=norm("examples", local)
                )
        else:
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
                        logits, soft, T, mask=mask, normalize_by=item_norm
                    )
            task_weight = args.alpha_mlm if self.task_kind == "mlm" else args.alpha_task
            if task_weight > 0 and labels is not None:
                terms["mlm" if self.task_kind == "mlm" else "task"] = task_weight * losses.cross_entropy_loss(
                    logits, labels, normalize_by=item_norm
                )
        if need_hidden:
            terms["cos"] = args.alpha_cos * self._cosine_term(
                outputs, projected, teacher_out, student_inputs, word_ids, norm
            )

        if not terms:
            raise ValueError(
                "every loss weight is 0 (or needs labels the batch lacks); set alpha_ce/alpha_task/alpha_mse/..."
            )
        loss = sum(terms.values())
        if training:
            for name, value in terms.items():
                self._components[name] = self._components.get(name, 0.0) + value.detach().item()
            if args.world_size > 1:  # DDP averages gradients; each rank's loss is its share of the global sum
                loss = loss * args.world_size
        return (loss, {"loss": loss, "logits": logits}) if return_outputs else loss

    def _soft_targets(self, teacher_out, student_logits, word_ids, label_mask, temperature=None):
        """Ensemble teacher probabilities at temperature T, aligned to the student's positions."""
        T = self.args.temperature if temperature is None else temperature
        total, weight_sum = None, None
        for i, (t_logits, _, t_word_ids) in enumerate(teacher_out):
            if t_logits is None or self.teacher_weights[i] == 0:
                continue
            if self.task_kind == "mlm" and not self.shares_vocab[i]:
                continue
            probs = losses.teacher_probabilities(t_logits, T)
            if self.task_kind == "token" and t_word_ids is not None:
                if word_ids is None:
                    raise AlignmentError(
                        "token-task distillation from a teacher with another tokenizer needs the student's "
                        "word_ids column (preprocess_task keeps it for token tasks)"
                    )
                probs, valid = align_to_student(probs, t_word_ids, word_ids)
            elif probs.shape[:-1] != student_logits.shape[:-1]:
                raise AlignmentError(
                    f"teacher {i} outputs {tuple(probs.shape)} but the student {tuple(student_logits.shape)}: "
                    f"give the batch teacher{i}_* columns (prepare_teacher_inputs) so positions can be aligned"
                )
            else:
                valid = torch.ones(probs.shape[:-1], dtype=torch.bool, device=probs.device)
            w = valid.to(probs.dtype) * self.teacher_weights[i]
            total = probs * w.unsqueeze(-1) if total is None else total + probs * w.unsqueeze(-1)
            weight_sum = w if weight_sum is None else weight_sum + w
        if total is None:
            return None, None
        covered = weight_sum > 0
        soft = total / weight_sum.clamp_min(1e-12).unsqueeze(-1)
        soft = torch.where(covered.unsqueeze(-1), soft, torch.full_like(soft, 1.0 / soft.shape[-1]))
        if self.task_kind == "sequence":
            return soft, None
        mask = covered if label_mask is None else covered & label_mask
        return soft, mask

    def _cosine_term(self, outputs, projected, teacher_out, student_inputs, word_ids, norm):
        attention = student_inputs.get("attention_mask")
        s_hidden = outputs.hidden_states
        total, weight_sum = 0.0, 0.0
        for i, (_, t_hidden, t_word_ids) in enumerate(teacher_out):
            w = self.teacher_weights[i]
            if w == 0:
                continue
            if self.shares_vocab[i] and t_word_ids is None:
                local = (
                    attention.sum().float()
                    if attention is not None
                    else s_hidden[-1].new_tensor(float(s_hidden[-1].shape[:2].numel()))
                )
                pairs = self.args.layer_pairs()
                term = sum(
                    losses.cosine_hidden_loss(
                        s_hidden[s], t_hidden[t], mask=attention, normalize_by=norm("tokens", local)
                    )
                    for s, t in pairs
                ) / len(pairs)
            else:
                if word_ids is None or t_word_ids is None:
                    raise AlignmentError(
                        f"the word-level cosine loss with teacher {i} needs word_ids for the student and "
                        f"teacher{i}_word_ids (prepare_student_words / prepare_teacher_inputs)"
                    )
                s_words, t_words, valid = pool_both(projected[f"teacher{i}"], word_ids, t_hidden[-1], t_word_ids)
                term = losses.cosine_hidden_loss(
                    s_words, t_words, mask=valid, normalize_by=norm(f"words{i}", valid.sum().float())
                )
            total = total + w * term
            weight_sum += w
        return total / weight_sum

    # ---- loyalty of the student to its teachers, and the ensemble's weights ---------------------------
    def _eval_outputs(self, dataset):
        """Per batch of ``dataset`` (default: eval_dataset): student logits, labels, word_ids and every
        teacher's outputs, in eval mode without gradients."""
        model = self.model
        was_training = model.training
        model.eval()
        try:
            for batch in self.get_eval_dataloader(dataset):
                batch = self._prepare_inputs(batch)
                student_inputs, labels, word_ids, teacher_inputs = self._split_inputs(batch)
                with torch.no_grad():
                    out = model(**student_inputs)
                    logits = (out[0] if isinstance(out, tuple) else out).logits.float()
                    teacher_out = [
                        self._run_teacher(i, student_inputs, teacher_inputs[i], False)
                        for i in range(self._num_teachers)
                    ]
                yield logits, labels, word_ids, teacher_out
        finally:
            model.train(was_training)

    def _ensemble_rows(self, logits, labels, word_ids, teacher_out, with_scores: bool):
        """One batch compared with the teacher ensemble (``self.teacher_weights``): the student's and the
        ensemble's rows (probabilities at temperature 1 over labelled positions, or regression scores), and,
        with ``with_scores``, the gold labels and the ensemble's predictions for its task score."""
        gold, pred = [], []
        if self.task_kind == "regression":
            weights = self.teacher_weights
            teacher = sum(w * o[0].view(-1).float() for w, o in zip(weights, teacher_out)) / sum(weights)
            if with_scores and labels is not None:
                gold, pred = labels.view(-1).float().tolist(), teacher.tolist()
            return logits.view(-1).cpu(), teacher.cpu(), gold, pred
        label_mask = labels.ne(-100) if labels is not None and self.task_kind == "token" else None
        soft, mask = self._soft_targets(teacher_out, logits, word_ids, label_mask, temperature=1.0)
        probs = torch.softmax(logits, -1)
        if with_scores and labels is not None:
            best = soft.argmax(-1)
            if mask is None:
                gold, pred = labels.view(-1).tolist(), best.view(-1).tolist()
            else:
                for row_mask, row_best, row_gold in zip(mask, best, labels):
                    gold.append(row_gold[row_mask].tolist())
                    pred.append(row_best[row_mask].tolist())
        if mask is not None:
            probs, soft = probs[mask], soft[mask]
        return probs.cpu(), soft.cpu(), gold, pred

    def _gather_lists(self, *lists):
        """Concatenate per-process lists under DDP (each process saw a shard of the evaluation set)."""
        if self.args.world_size <= 1:
            return lists
        from accelerate.utils import gather_object

        return tuple([item for part in gather_object([items]) for item in part] for items in lists)

    def loyalty(self, dataset=None, score_range=(0.0, 5.0), task=None) -> dict:
        """Loyalty of the student to the (weighted) teacher ensemble on ``dataset`` (default: eval_dataset).

        Tagging/classification: ``label_loyalty`` (argmax agreement) and ``probability_loyalty``
        (1 - sqrt(JSD), temperature 1), over labelled positions (first sub-tokens); the teacher label is
        the argmax of the ensemble. Regression: ``regression_loyalty`` and ``pearson``. Under DDP every
        process must call it (rows are gathered; the sampler's padding may repeat a few rows).
        With ``task`` (a task name) the teacher ensemble's own task scores on the same rows are added as
        ``teacher_score_<metric>``, so teachers and students are scored on identical inputs.
        """
        from optimum_ro.metrics.loyalty import label_loyalty, probability_loyalty, regression_loyalty

        if self.task_kind == "mlm":
            raise ValueError("loyalty is defined for task outputs (labels or scores), not for the MLM stage")
        student_rows, teacher_rows, gold, teacher_pred = [], [], [], []
        for logits, labels, word_ids, teacher_out in self._eval_outputs(dataset):
            s, t, g, p = self._ensemble_rows(logits, labels, word_ids, teacher_out, with_scores=task is not None)
            student_rows.append(s)
            teacher_rows.append(t)
            gold.extend(g)
            teacher_pred.extend(p)
        student_rows, teacher_rows, gold, teacher_pred = self._gather_lists(
            student_rows, teacher_rows, gold, teacher_pred
        )
        student, teacher = torch.cat(student_rows), torch.cat(teacher_rows)
        if self.task_kind == "regression":
            result = regression_loyalty(student.numpy(), teacher.numpy(), score_range=score_range)
        else:
            result = {
                "label_loyalty": label_loyalty(student.argmax(-1).numpy(), teacher.argmax(-1).numpy()),
                "probability_loyalty": probability_loyalty(teacher.double().numpy(), student.double().numpy()),
            }
        if task is not None and gold:
            from optimum_ro.tasks.evaluation import scores_from_label_ids

            result.update(
                {f"teacher_score_{k}": v for k, v in scores_from_label_ids(task, teacher_pred, gold).items()}
            )
        return result

    def tune_teacher_weights(self, dataset=None, task=None, steps: int = 10) -> dict:
        """Choose the ensemble's teacher weights on ``dataset`` (a dev split, never test) and keep them.

        Every weight vector on a grid of the simplex (multiples of ``1 / steps``, summing to 1) is scored by
        the ensemble's own task metric (``task``'s main metric: argmax of the weighted probabilities, or the
        weighted regression score); the best one becomes ``self.teacher_weights`` (ties: the one closest to
        equal weights). The teachers run once; each candidate only re-weights their outputs. Returns
        ``{"weights", "metric", "score", "previous", "grid": [[weights, score], ...]}``. Call it before
        ``train()``; under DDP every process must call it (predictions are gathered)."""
        from optimum_ro.tasks import get_task
        from optimum_ro.tasks.evaluation import scores_from_label_ids

        if self.task_kind == "mlm":
            raise ValueError("teacher weights are tuned on task outputs (labels or scores), not for the MLM stage")
        if task is None:
            raise ValueError("tune_teacher_weights needs task= (its metric scores each weighting)")
        if int(steps) < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        metric = get_task(task).metric
        batches = list(self._eval_outputs(dataset))
        previous = list(self.teacher_weights)
        grid = []
        try:
            for weights in simplex_grid(self._num_teachers, int(steps)):
                self.teacher_weights = list(weights)
                gold, pred = [], []
                for logits, labels, word_ids, teacher_out in batches:
                    _, _, g, p = self._ensemble_rows(logits, labels, word_ids, teacher_out, with_scores=True)
                    gold.extend(g)
                    pred.extend(p)
                gold, pred = self._gather_lists(gold, pred)
                if not gold:
                    raise ValueError("tune_teacher_weights needs labelled rows (a dev split with labels)")
                grid.append([list(weights), float(scores_from_label_ids(task, pred, gold)[metric])])
        except BaseException:
            self.teacher_weights = previous
            raise
        uniform = 1.0 / self._num_teachers
        best = max(grid, key=lambda ws: (round(ws[1], 9), -sum((w - uniform) ** 2 for w in ws[0])))
        self.teacher_weights = list(best[0])
        logger.info(
            "teacher weights tuned on %d rows: %s (%s %.4f; before %s)", len(gold), best[0], metric, best[1], previous
        )
        return {"weights": best[0], "metric": metric, "score": best[1], "previous": previous, "grid": grid}

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
        steps = self.state.global_step - self._components_since
        if "loss" in logs and self._components and steps > 0:
            for name, value in self._components.items():
                logs[f"loss_{name}"] = round(value / steps, 4)
            self._components, self._components_since = {}, self.state.global_step
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
        if not isinstance(wrapper, DistillationStudent):
            return super()._save(output_dir, state_dict)
        output_dir = output_dir or self.args.output_dir
        if not self.args.should_save:
            return
        os.makedirs(output_dir, exist_ok=True)
        wrapper.student.save_pretrained(output_dir)
        if self._saving_checkpoint:
            from safetensors.torch import save_file

            save_file(
                {k: v.detach().cpu().contiguous() for k, v in wrapper.projections.state_dict().items()},
                os.path.join(output_dir, PROJECTIONS_NAME),
            )
        if self.processing_class is not None:
            self.processing_class.save_pretrained(output_dir)
        torch.save(self.args, os.path.join(output_dir, "training_args.bin"))

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        wrapper = self.accelerator.unwrap_model(model if model is not None else self.model)
        if not isinstance(wrapper, DistillationStudent):
            return super()._load_from_checkpoint(resume_from_checkpoint, model)
        super()._load_from_checkpoint(resume_from_checkpoint, wrapper.student)
        path = os.path.join(resume_from_checkpoint, PROJECTIONS_NAME)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"{path} is missing: this checkpoint was not written by a DistillationTrainer with the same teachers"
            )
        from safetensors.torch import load_file

        wrapper.projections.load_state_dict(load_file(path))


def simplex_grid(n: int, steps: int) -> list[tuple[float, ...]]:
    """Every weight vector of ``n`` non-negative multiples of ``1 / steps`` that sums to 1, e.g. n=2, steps=4:
    (0, 1), (0.25, 0.75), (0.5, 0.5), (0.75, 0.25), (1, 0)."""

    def parts(left: int, k: int):
        if k == 1:
            yield (left,)
            return
        for first in range(left + 1):
            for rest in parts(left - first, k - 1):
                yield (first,) + rest

    return [tuple(round(c / steps, 10) for c in combo) for combo in parts(steps, n)]
