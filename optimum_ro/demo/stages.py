"""Resumable stages: each one runs once, records its result, and is reused by the next run.

A stage's record (``<output>/stages/<name>.json``) holds its result and a key: a hash of the settings it
depends on and of the keys of the stages before it. A re-run with the same settings reuses the record; a
changed setting re-runs that stage and every stage after it. A stage interrupted half-way (Ctrl-C) leaves no
record, only its own checkpoints, which its training command resumes from when the key is unchanged.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path


def _key(settings: dict, previous: str) -> str:
    blob = json.dumps({"settings": settings, "previous": previous}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class StageRunner:
    """Runs named stages in order, printing one line per stage with its elapsed time.

    ``run(name, settings, fn, folder=None)``: ``fn()`` returns a JSON-serialisable dict. ``folder`` is the stage's
    working folder: removed before a stage whose settings changed, so stale checkpoints are never resumed.
    """

    def __init__(self, output_dir: str | Path, echo: Callable[[str], None] = print, label: str = "demo"):
        self.root = Path(output_dir)
        self.label = label  # the prefix of each progress line
        self.records = self.root / "stages"
        self.records.mkdir(parents=True, exist_ok=True)
        self.echo = echo
        self.previous = ""
        self.started = time.time()
        self.stage_seconds: dict[str, float] = {}

    def run(self, name: str, settings: dict, fn: Callable[[], dict], folder: str | Path | None = None) -> dict:
        key = _key(settings, self.previous)
        self.previous = key
        record, started_mark = self.records / f"{name}.json", self.records / f"{name}.started"
        if record.is_file():
            saved = json.loads(record.read_text())
            if saved.get("key") == key:
                self.stage_seconds[name] = saved.get("seconds", 0.0)
                self.echo(f"[{self.label}] {name}: reused ({saved.get('seconds', 0):.0f} s when it ran)")
                return saved["result"]
            record.unlink()
        if folder is not None and Path(folder).exists():
            if not started_mark.is_file() or started_mark.read_text().strip() != key:
                shutil.rmtree(folder)  # made with other settings: never resume from its checkpoints
            else:
                self.echo(f"[{self.label}] {name}: resuming the interrupted run in {folder}")
        started_mark.write_text(key)
        self.echo(f"[{self.label}] {name}: started")
        start = time.time()
        result = fn()
        seconds = round(time.time() - start, 1)
        tmp = record.with_suffix(".tmp")
        tmp.write_text(json.dumps({"key": key, "seconds": seconds, "result": result}, indent=2, default=str))
        tmp.replace(record)  # atomic: a record exists only for a finished stage
        started_mark.unlink(missing_ok=True)
        self.stage_seconds[name] = seconds
        self.echo(f"[{self.label}] {name}: done in {seconds:.0f} s (elapsed {time.time() - self.started:.0f} s)")
        return result
