"""Choosing the teacher ensemble's weights on a dev split: every point of a grid on the simplex, scored by the
task's own metric. ``DistillationTrainer.tune_teacher_weights`` calls it."""

from __future__ import annotations

import logging

from .evaluation import ensemble_rows, gather_lists, student_and_teacher_batches

logger = logging.getLogger(__name__)


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


def tune_teacher_weights(trainer, dataset=None, task=None, steps: int = 10) -> dict:
    """See ``DistillationTrainer.tune_teacher_weights``."""
    from optimum_ro.tasks import get_task
    from optimum_ro.tasks.evaluation import scores_from_label_ids

    if trainer.task_kind == "mlm":
        raise ValueError("teacher weights are tuned on task outputs (labels or scores), not for the MLM stage")
    if task is None:
        raise ValueError("tune_teacher_weights needs task= (its metric scores each weighting)")
    if int(steps) < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    metric = get_task(task).metric
    batches = list(student_and_teacher_batches(trainer, dataset))
    previous = list(trainer.teacher_weights)
    grid = []
    try:
        for weights in simplex_grid(len(trainer.teachers), int(steps)):
            trainer.teacher_weights = list(weights)
            gold, pred = [], []
            for logits, labels, word_ids, teacher_out in batches:
                _, _, g, p = ensemble_rows(trainer, logits, labels, word_ids, teacher_out, with_scores=True)
                gold.extend(g)
                pred.extend(p)
            gold, pred = gather_lists(trainer, gold, pred)
            if not gold:
                raise ValueError("tune_teacher_weights needs labelled rows (a dev split with labels)")
            grid.append([list(weights), float(scores_from_label_ids(task, pred, gold)[metric])])
    except BaseException:
        trainer.teacher_weights = previous
        raise
    uniform = 1.0 / len(trainer.teachers)
    best = max(grid, key=lambda ws: (round(ws[1], 9), -sum((w - uniform) ** 2 for w in ws[0])))
    trainer.teacher_weights = list(best[0])
    logger.info(
        "teacher weights tuned on %d rows: %s (%s %.4f; before %s)", len(gold), best[0], metric, best[1], previous
    )
    return {"weights": best[0], "metric": metric, "score": best[1], "previous": previous, "grid": grid}
