"""Logging for the command line: optimum-ro's messages on one handler, third-party loggers at their own level.

    configure_logging("info")     # optimum_ro.* at INFO; transformers, huggingface_hub, datasets, ... at WARNING

The root logger is left alone: huggingface_hub and transformers attach their own handlers, so a root handler
would print each of their records a second time.
"""

from __future__ import annotations

import logging
import os
import sys

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
# logger name -> the environment variable the library reads for its level at import (None: plain logger)
THIRD_PARTY = {
    "transformers": "TRANSFORMERS_VERBOSITY",
    "huggingface_hub": "HF_HUB_VERBOSITY",
    "datasets": "DATASETS_VERBOSITY",
    "accelerate": None,
    "evaluate": None,
    "urllib3": None,
    "filelock": None,
}
_HANDLER_NAME = "optimum-ro-cli"


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of the record (it may be replaced, e.g. by pytest)."""

    def emit(self, record):
        self.stream = sys.stderr
        super().emit(record)


def configure_logging(level: str = "info") -> None:
    """``optimum_ro`` loggers at ``level`` with one stderr handler (not propagated to the root); the libraries'
    loggers at ``level`` too but never chattier than WARNING unless ``level`` is ``debug``."""
    if level not in LOG_LEVELS:
        raise ValueError(f"--log_level {level!r}: choose one of {', '.join(LOG_LEVELS)}.")
    if int(os.environ.get("RANK", "0")) > 0 and level in ("debug", "info"):
        level = "warning"  # a multi-process run: the other ranks would repeat every line of rank 0
    numeric = getattr(logging, level.upper())
    ours = logging.getLogger("optimum_ro")
    ours.setLevel(numeric)
    ours.propagate = False
    if not any(h.get_name() == _HANDLER_NAME for h in ours.handlers):
        handler = _StderrHandler(sys.stderr)
        handler.set_name(_HANDLER_NAME)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S"))
        ours.addHandler(handler)
    third_party = level if level == "debug" else LOG_LEVELS[max(LOG_LEVELS.index(level), 2)]
    for name, variable in THIRD_PARTY.items():
        if variable:  # read when the library is first imported (it sets its own level then)
            os.environ[variable] = third_party
        logging.getLogger(name).setLevel(third_party.upper())  # already imported: its root logger
