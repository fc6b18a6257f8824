"""``FinetuneConfig``: what ``optimum-ro finetune`` trains, on which data, for how long (one dataclass, also the
command's flags).

    cfg = FinetuneConfig(model="models/multilingual-e5-small", task="sentiment", output_dir="runs/e5-sentiment")
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FinetuneConfig:
    model: str
    task: str
    data: str | None = None
    output_dir: str = "runs/finetune"
    epochs: float = 1.0
    max_steps: int = -1
    batch_size: int = 16
    learning_rate: float = 5e-5
    head_learning_rate: float | None = None  # new task head (and pooler); default: 20x learning_rate
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    max_length: int | None = None
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    freeze_embeddings: str = "auto"  # auto: freeze word embeddings of vocabularies > 50k tokens
    seed: int = 42
    save_steps: int = 200
    eval_splits: tuple = ("validation", "test")
    trust_remote_code: bool = False  # run the model folder's own code (auto_map); only for folders you trust
