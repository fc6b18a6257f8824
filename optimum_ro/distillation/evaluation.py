"""How loyal a student is to its teacher ensemble: both run on the same evaluation rows, then compared.

The functions take the ``DistillationTrainer`` (its dataloaders, teachers and ensemble weights);
``DistillationTrainer.loyalty`` and ``tune_teacher_weights`` call them.
"""

from __future__ import annotations

import torch


def student_and_teacher_batches(trainer, dataset=None):
    """Per batch of ``dataset`` (default: eval_dataset): student logits, labels, word_ids and every
    teacher's outputs, in eval mode without gradients."""
    model = trainer.model
    was_training = model.training
    model.eval()
    try:
        for batch in trainer.get_eval_dataloader(dataset):
            batch = trainer._prepare_inputs(batch)
            student_inputs, labels, word_ids, teacher_inputs = trainer._split_inputs(batch)
            with torch.no_grad():
                out = model(**student_inputs)
                logits = (out[0] if isinstance(out, tuple) else out).logits.float()
                teacher_out = [
                    trainer._run_teacher(i, student_inputs, teacher_inputs[i], False)
                    for i in range(len(trainer.teachers))
                ]
            yield logits, labels, word_ids, teacher_out
    finally:
        model.train(was_training)


def ensemble_rows(trainer, logits, labels, word_ids, teacher_out, with_scores: bool):
    """One batch compared with the teacher ensemble (``trainer.teacher_weights``): the student's and the
    ensemble's rows (probabilities at temperature 1 over labelled positions, or regression scores), and,
    with ``with_scores``, the gold labels and the ensemble's predictions for its task score."""
    gold, pred = [], []
    if trainer.task_kind == "regression":
        weights = trainer.teacher_weights
        teacher = sum(w * o[0].view(-1).float() for w, o in zip(weights, teacher_out)) / sum(weights)
        if with_scores and labels is not None:
            gold, pred = labels.view(-1).float().tolist(), teacher.tolist()
        return logits.view(-1).cpu(), teacher.cpu(), gold, pred
    label_mask = labels.ne(-100) if labels is not None and trainer.task_kind == "token" else None
    soft, mask = trainer._soft_targets(teacher_out, logits, word_ids, label_mask, temperature=1.0)
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


def gather_lists(trainer, *lists):
    """Concatenate per-process lists under DDP (each process saw a shard of the evaluation set)."""
    if trainer.args.world_size <= 1:
        return lists
    from accelerate.utils import gather_object

    return tuple([item for part in gather_object([items]) for item in part] for items in lists)


def loyalty(trainer, dataset=None, score_range=(0.0, 5.0), task=None) -> dict:
    """See ``DistillationTrainer.loyalty``."""
    from optimum_ro.metrics.loyalty import label_loyalty, probability_loyalty, regression_loyalty

    if trainer.task_kind == "mlm":
        raise ValueError("loyalty is defined for task outputs (labels or scores), not for the MLM stage")
    student_rows, teacher_rows, gold, teacher_pred = [], [], [], []
    for logits, labels, word_ids, teacher_out in student_and_teacher_batches(trainer, dataset):
        s, t, g, p = ensemble_rows(trainer, logits, labels, word_ids, teacher_out, with_scores=task is not None)
        student_rows.append(s)
        teacher_rows.append(t)
        gold.extend(g)
        teacher_pred.extend(p)
    student_rows, teacher_rows, gold, teacher_pred = gather_lists(
        trainer, student_rows, teacher_rows, gold, teacher_pred
    )
    student, teacher = torch.cat(student_rows), torch.cat(teacher_rows)
    if trainer.task_kind == "regression":
        result = regression_loyalty(student.numpy(), teacher.numpy(), score_range=score_range)
    else:
        result = {
            "label_loyalty": label_loyalty(student.argmax(-1).numpy(), teacher.argmax(-1).numpy()),
            "probability_loyalty": probability_loyalty(teacher.double().numpy(), student.double().numpy()),
        }
    if task is not None and gold:
        from optimum_ro.tasks.evaluation import scores_from_label_ids

        result.update({f"teacher_score_{k}": v for k, v in scores_from_label_ids(task, teacher_pred, gold).items()})
    return result
