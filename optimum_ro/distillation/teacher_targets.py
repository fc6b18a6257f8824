"""What the student learns from the teachers in one batch: their ensembled soft labels, aligned to the student's
positions, and the hidden-state cosine term (token by token, or word by word across tokenizers).

``teacher_out`` is one ``(logits, hidden_states, word_ids)`` per teacher, as ``DistillationTrainer`` runs them.
"""

from __future__ import annotations

import torch

from . import losses
from .alignment import AlignmentError, align_to_student, pool_both


def ensemble_soft_targets(
    teacher_out, weights, shares_vocab, task_kind: str, student_logits, word_ids, label_mask, temperature: float
):
    """Teacher probabilities at ``temperature``, averaged with ``weights`` and aligned to the student's positions.

    Returns ``(soft, mask)``: ``soft`` has the student's logits' shape (uniform where no teacher covers a
    position); ``mask`` the positions to score (``None`` for sequence tasks). ``(None, None)`` when no teacher
    gives soft labels.
    """
    total, weight_sum = None, None
    for i, (t_logits, _, t_word_ids) in enumerate(teacher_out):
        if t_logits is None or weights[i] == 0:
            continue
        if task_kind == "mlm" and not shares_vocab[i]:
            continue
        probs = losses.teacher_probabilities(t_logits, temperature)
        if task_kind == "token" and t_word_ids is not None:
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
        w = valid.to(probs.dtype) * weights[i]
        total = probs * w.unsqueeze(-1) if total is None else total + probs * w.unsqueeze(-1)
        weight_sum = w if weight_sum is None else weight_sum + w
    if total is None:
        return None, None
    covered = weight_sum > 0
    soft = total / weight_sum.clamp_min(1e-12).unsqueeze(-1)
    soft = torch.where(covered.unsqueeze(-1), soft, torch.full_like(soft, 1.0 / soft.shape[-1]))
    if task_kind == "sequence":
        return soft, None
    mask = covered if label_mask is None else covered & label_mask
    return soft, mask


def hidden_cosine_term(
    student_hidden, projected, teacher_out, attention, word_ids, norm, weights, shares_vocab, layer_pairs
):
    """The weighted mean over teachers of the cosine loss between student and teacher hidden states.

    A teacher sharing the student's vocabulary is compared token by token on ``layer_pairs`` (student layer,
    teacher layer); any other through ``projected[f"teacher{i}"]`` (the student's last layer mapped to its
    size), word by word. ``norm(name, local)`` gives each sum's divisor (the accumulated batch's item count).
    """
    total, weight_sum = 0.0, 0.0
    for i, (_, t_hidden, t_word_ids) in enumerate(teacher_out):
        w = weights[i]
        if w == 0:
            continue
        if shares_vocab[i] and t_word_ids is None:
            local = (
                attention.sum().float()
                if attention is not None
                else student_hidden[-1].new_tensor(float(student_hidden[-1].shape[:2].numel()))
            )
            term = sum(
                losses.cosine_hidden_loss(
                    student_hidden[s], t_hidden[t], mask=attention, normalize_by=norm("tokens", local)
                )
                for s, t in layer_pairs
            ) / len(layer_pairs)
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
