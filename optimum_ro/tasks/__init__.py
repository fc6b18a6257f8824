"""The Romanian task suite: specs, loaders, preprocessing, heads and metrics.

from optimum_ro.tasks import load_task, preprocess_task, build_model, metrics_fn
ds = preprocess_task(load_task("sentiment", "data/sentiment"), tokenizer, "sentiment")
trainer = Trainer(model=build_model(path, "sentiment"), compute_metrics=metrics_fn("sentiment"), ...)
"""

from .evaluation import decode_predictions, metrics_fn
from .loading import TaskDataError, load_task, task_texts
from .modeling import build_model
from .preprocessing import IGNORE_INDEX, TokenizerError, align_word_labels, preprocess_task
from .specs import TASKS, TaskSpec, get_task

__all__ = [
    "TASKS",
    "TaskSpec",
    "get_task",
    "load_task",
    "task_texts",
    "TaskDataError",
    "preprocess_task",
    "align_word_labels",
    "TokenizerError",
    "IGNORE_INDEX",
    "build_model",
    "metrics_fn",
    "decode_predictions",
]
