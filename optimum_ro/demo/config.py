"""What the demo runs: one dataclass, two named budgets, and an optional config file on top.

Precedence, lowest first: the dataclass defaults (= the ``small`` budget), the chosen ``--budget``, a
``--config`` file (JSON or YAML, keys are the field names), then explicit command-line flags.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path


@dataclass
class DemoConfig:
    """Every knob of ``optimum-ro demo``; the defaults are the ``small`` budget (minutes on 2 CPU cores)."""

    task: str = "sentiment"
    teacher: str = "multilingual-e5-small"  # a known short name (built from PyPI wheels), a folder or a hub id
    data: str | None = None  # default: $OPTIMUM_RO_DATA/<task> or ../shared/data/ro/<task>
    output_dir: str = "runs/demo"
    models_dir: str = "models"
    seed: int = 42
    batch_size: int = 16
    max_length: int = 64  # training and scoring; latency is always measured at ``latency_seq``
    train_samples: int | None = None  # a seeded subset of the train split (None: all of it)
    eval_samples: int | None = 400  # the dev rows every model is scored on (None: the whole dev split)
    # 1. teacher: fine-tuned on the task (0: ``teacher`` is a folder already fine-tuned on it, used as it is)
    teacher_steps: int = 60
    teacher_learning_rate: float = 1e-4
    # 2. student: a few of the teacher's layers, vocabulary trimmed to the task's train texts, distilled
    student_layers: int = 4
    trim_vocabulary: bool = True
    distill_steps: int = 240
    distill_learning_rate: float = 1e-4
    # 3. pruned student: block pruning while distilling from the dense student
    block_shape: str = "16x4"  # packs without padding into both fast kernel layouts: 16x1 (fp32) and 1x4 (int8)
    sparsity: float = 0.8
    prune_steps: int = 300
    prune_learning_rate: float = 2e-4  # recovery from pruning needs a larger step than distillation
    # 4. the published sparse model (model/): its storage dtype
    publish_dtype: str = "int8"
    # 5. latency
    latency_seq: int = 128
    latency_threads: int = 2
    latency_rounds: int = 5

    def __post_init__(self):
        from ..tasks.specs import TASKS

        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}: choose one of {', '.join(TASKS)}")
        if not 0.0 <= self.sparsity < 1.0:
            raise ValueError(f"sparsity must be in [0, 1) (e.g. 0.8), got {self.sparsity!r}")
        if self.publish_dtype not in ("float32", "int8"):
            raise ValueError(f"publish_dtype must be 'float32' or 'int8', got {self.publish_dtype!r}")
        if self.teacher_steps < 0:
            raise ValueError(f"teacher_steps must be 0 (use the teacher as it is) or more, got {self.teacher_steps}")
        for name in ("distill_steps", "prune_steps", "student_layers", "latency_rounds"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)!r}")

    def to_dict(self) -> dict:
        return asdict(self)


#: Named budgets: overrides of the defaults. ``full`` trains every stage for a few epochs of the task's train
#: split (hours on 2 cores, minutes on a GPU) and scores the whole dev split.
BUDGETS: dict[str, dict] = {
    "small": {},
    "full": dict(
        max_length=128,
        eval_samples=None,
        teacher_steps=2000,
        teacher_learning_rate=5e-5,
        student_layers=6,
        distill_steps=3000,
        distill_learning_rate=5e-5,
        block_shape="16x4",
        prune_steps=3000,
        prune_learning_rate=1e-4,
        latency_rounds=11,
    ),
}


def read_config_file(path: str | Path) -> dict:
    """Field values from a JSON or YAML file; unknown keys are refused with the list of known ones."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"config file {path} not found: pass a JSON or YAML file of DemoConfig fields")
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        import yaml

        values = yaml.safe_load(text) or {}
    else:
        try:
            values = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"config file {path} is not valid JSON ({err}); YAML files need a .yaml suffix") from None
    if not isinstance(values, dict):
        raise ValueError(f"config file {path} must hold a mapping of field names to values")
    known = {f.name for f in fields(DemoConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"config file {path}: unknown field(s) {unknown}; known: {', '.join(sorted(known))}")
    return values


def build_config(budget: str = "small", config_file: str | None = None, **overrides) -> DemoConfig:
    """``DemoConfig`` from a budget name, an optional file and explicit overrides (``None`` values ignored)."""
    if budget not in BUDGETS:
        raise ValueError(f"unknown budget {budget!r}: choose one of {', '.join(BUDGETS)}")
    values = dict(BUDGETS[budget])
    if config_file:
        values.update(read_config_file(config_file))
    values.update({k: v for k, v in overrides.items() if v is not None})
    return DemoConfig(**values)
