"""The run steps every training command shares: where to resume, which rows to use, where results go.

resume = resume_checkpoint(out)                        # OUTPUT/checkpoints/checkpoint-N, or None
raw = subset_splits(raw, max_train=1000, max_eval=200, seed=42)
save_results(trainer, out, "eval_results.json", results, write_card)
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

logger = logging.getLogger("optimum_ro.runs")
CHECKPOINTS = "checkpoints"  # OUTPUT/checkpoints holds the Trainer's checkpoints; OUTPUT the finished model


def resume_checkpoint(output_dir, enabled: bool = True) -> str | None:
    """The last checkpoint under ``output_dir/checkpoints`` (running the same command again resumes), or None."""
    folder = Path(output_dir) / CHECKPOINTS
    if not enabled or not folder.is_dir():
        return None
    from transformers.trainer_utils import get_last_checkpoint

    checkpoint = get_last_checkpoint(str(folder))
    if checkpoint:
        logger.info("resuming from %s", checkpoint)
    return checkpoint


def sample_subset(dataset, n: int | None, seed: int):
    """A seeded random subset of ``n`` rows (data files are often sorted by label); all rows if ``n`` is falsy."""
    if not n or len(dataset) <= n:
        return dataset
    return dataset.shuffle(seed=seed).select(range(n))


def subset_splits(raw, max_train: int | None, max_eval: int | None, seed: int):
    """``raw`` (a ``DatasetDict``) with at most ``max_train`` training rows and ``max_eval`` rows in each other
    split, each a seeded random sample."""
    for split in list(raw):
        raw[split] = sample_subset(raw[split], max_train if split == "train" else max_eval, seed)
    return raw


def save_results(trainer, output_dir, file_name: str, results: dict, write_card=None) -> None:
    """Write ``results`` as JSON and the folder's model card, from the main process only."""
    if trainer is not None and not trainer.is_world_process_zero():
        return
    out = Path(output_dir)
    (out / file_name).write_text(json.dumps(results, indent=2, default=str))
    if write_card is not None:
        write_card(out, results)
