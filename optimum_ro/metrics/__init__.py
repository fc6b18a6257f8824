"""Metrics: task scores (``optimum_ro.metrics.tasks``) and loyalty to a teacher
(``optimum_ro.metrics.loyalty``), each also packaged as an offline ``evaluate`` module.

    from optimum_ro.metrics import task_scores
    task_scores("sts", predictions=[1.0, 2.0, 4.5], references=[1.2, 2.5, 4.0])
"""

from .tasks import task_scores

__all__ = ["task_scores"]
