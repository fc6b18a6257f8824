"""Where a task's data lives when the command line does not say: ``$OPTIMUM_RO_DATA/<task folder>`` or
``../shared/data/ro/<task folder>``.

    resolve_data("sentiment", None)        # "../shared/data/ro/sentiment" when that folder exists
"""

from __future__ import annotations

import os
from pathlib import Path

from .specs import get_task


def resolve_data(task: str, data: str | None) -> str:
    """``data`` as given, or the shared Romanian data folder beside the checkout.

    The default is for the main job and examples only: ``$OPTIMUM_RO_DATA`` (a folder holding
    one sub-folder per task) or ``../shared/data/ro`` relative to the working directory.
    """
    if data:
        return data
    spec = get_task(task)
    roots = [os.environ.get("OPTIMUM_RO_DATA"), "../shared/data/ro"]
    for root in filter(None, roots):
        candidate = Path(root) / spec.folder
        if candidate.is_dir():
            return str(candidate)
    raise SystemExit(
        f"No data for task {task!r}: pass --data <folder of train/dev/test .jsonl or a datasets id>, "
        "or set OPTIMUM_RO_DATA to a folder with one sub-folder per task."
    )
