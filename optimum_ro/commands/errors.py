"""Errors caused by what the user typed, reported as one line on stderr with exit status 2.

try:
    ...
except Exception as err:
    message = one_line_error(err)   # None: a bug, let its traceback show
"""

from __future__ import annotations

import json

USAGE_EXIT_STATUS = 2  # argparse's status for bad arguments; the same for bad paths and data


class UsageError(ValueError):
    """Bad command-line input (a path, a value, a data file): the message names it and says what to do."""


def _library_errors() -> tuple[type[BaseException], ...]:
    """Exceptions of the loading libraries that mean "this input cannot be read" (imported only if loaded)."""
    import sys

    found = []
    if "safetensors" in sys.modules:
        from safetensors import SafetensorError

        found.append(SafetensorError)
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.errors import HFValidationError

        found.append(HFValidationError)
    return tuple(found)


def one_line_error(err: BaseException) -> str | None:
    """The one-line report for an error the user's input caused, or ``None`` for anything else (a bug).

    Counted as input errors: :class:`UsageError`, ``SystemExit`` carrying a message, missing or unreadable files,
    malformed JSON, ``ValueError`` (every configuration and data check of optimum-ro raises one, with a message that
    names the problem), and the loading libraries' "cannot read this" errors (``OSError`` from ``from_pretrained``,
    ``SafetensorError``, ``HFValidationError``).
    """
    if isinstance(err, SystemExit):
        return str(err.code) if isinstance(err.code, str) else None
    if isinstance(err, (UsageError, OSError, json.JSONDecodeError, ValueError) + _library_errors()):
        text = " ".join(str(err).split())  # the first sentences of multi-line library messages, on one line
        return text or type(err).__name__
    return None
