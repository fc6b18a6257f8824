"""Checks of command-line inputs that run before any model or data is loaded, so a typo costs a second.

check_model_folder("runs/student", flag="--model")        # a folder with config.json and readable weights
check_data("sentiment", "data/sentiment")                # the task's data folder, or the shared default
"""

from __future__ import annotations

import json
import os
import re
import struct
from pathlib import Path

from .errors import UsageError

# "name" or "namespace/name", as the Hub accepts (a local path that does not exist is refused instead)
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}(/[\w.-]{1,96})?$")


def looks_like_path(text: str) -> bool:
    """``./x``, ``/x``, ``~/x``, ``a/b/c`` or anything with a backslash: meant as a folder, not a Hub id."""
    return text.startswith((".", "/", "~")) or "\\" in text or text.count("/") > 1 or not _HUB_ID.match(text)


def check_safetensors_file(file: str | os.PathLike) -> None:
    """Refuse a ``.safetensors`` file whose header is unreadable or whose size does not match its header
    (a truncated download or copy), naming the file; reads only the header."""
    file = Path(file)
    fix = "re-save or re-download it"
    try:
        with open(file, "rb") as f:
            raw = f.read(8)
            if len(raw) < 8:
                raise UsageError(f"{file} is truncated ({len(raw)} bytes, no safetensors header): {fix}.")
            (header_len,) = struct.unpack("<Q", raw)
            size = file.stat().st_size
            if header_len > size - 8:
                raise UsageError(
                    f"{file} is corrupt or truncated (header of {header_len} bytes in a {size}-byte file): {fix}."
                )
            header = json.loads(f.read(header_len))
    except PermissionError:
        raise UsageError(f"{file} is not readable (permission denied): fix its permissions.") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UsageError(f"{file} is corrupt (its safetensors header is not valid JSON): {fix}.") from None
    ends = [t["data_offsets"][1] for k, t in header.items() if k != "__metadata__" and isinstance(t, dict)]
    expected = 8 + header_len + max(ends, default=0)
    if size != expected:
        what = "truncated" if size < expected else "corrupt"
        raise UsageError(f"{file} is {what} ({size} bytes, its header describes {expected}): {fix}.")


def _needs_remote_code(config: dict) -> str | None:
    """The ``auto_map`` class a config needs as remote code, or ``None`` when transformers (or optimum-ro's own
    registration) knows its ``model_type``."""
    auto_map = config.get("auto_map") or {}
    if not auto_map:
        return None
    from transformers import CONFIG_MAPPING

    import optimum_ro.models  # noqa: F401  (registers sparse_bert, whose folders need no remote code here)

    if config.get("model_type") in CONFIG_MAPPING:
        return None
    return auto_map.get("AutoConfig") or next(iter(auto_map.values()))


def _in_hub_cache(repo_id: str) -> bool:
    """Whether the Hub cache holds a ``config.json`` of ``repo_id`` (what an offline load needs)."""
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)


def check_model_folder(name_or_path: str, flag: str = "--model", trust_remote_code: bool = False) -> str:
    """``name_or_path`` if it can be loaded as a model: an existing folder with a readable ``config.json`` and
    readable ``*.safetensors`` weights, a name ``fetch-models`` knows, or a Hub id. Raises :class:`UsageError`
    naming the path and what to do otherwise."""
    from ..hub.fetch import KNOWN_MODELS

    text = str(name_or_path)
    path = Path(text).expanduser()
    if not path.exists():
        offline = os.environ.get("HF_HUB_OFFLINE", "").upper() in {"1", "ON", "YES", "TRUE"}
        if text not in KNOWN_MODELS and not looks_like_path(text) and offline and not _in_hub_cache(text):
            raise UsageError(
                f"{flag} {text}: no such folder, and not in the Hub cache (HF_HUB_OFFLINE is set). Give a model "
                f"folder, download {text} first, or one of {', '.join(KNOWN_MODELS)}."
            )
        if text in KNOWN_MODELS or not looks_like_path(text):
            return text  # built by fetch-models, or a Hub id: from_pretrained reports what it cannot find
        raise UsageError(
            f"{flag} {text}: no such folder. Give a model folder (config.json + weights), a Hub id, "
            f"or one of {', '.join(KNOWN_MODELS)}."
        )
    if not path.is_dir():
        raise UsageError(f"{flag} {text} is a file: give the model's folder (the one holding config.json).")
    if not os.access(path, os.R_OK | os.X_OK):
        raise UsageError(f"{flag} {text}: folder not readable (permission denied): fix its permissions.")
    config_file = path / "config.json"
    if not config_file.is_file():
        raise UsageError(
            f"{flag} {text} has no config.json, so it is not a model folder: give the folder that "
            "save_pretrained wrote (or a Hub id)."
        )
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except PermissionError:
        raise UsageError(f"{config_file} is not readable (permission denied): fix its permissions.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UsageError(f"{config_file} is not valid JSON ({err}): re-save the model.") from None
    remote = _needs_remote_code(config)
    if remote and not trust_remote_code:
        raise UsageError(
            f"{flag} {text} needs its own code ({remote}, from auto_map in config.json): "
            "pass --trust_remote_code if you trust that folder."
        )
    for file in sorted(path.glob("*.safetensors")):
        check_safetensors_file(file)
    return text


def check_data(task: str, data: str | None) -> str:
    """The data location for ``task``: ``data`` when it exists (or is a ``datasets`` id), else the shared default
    folder; raises :class:`UsageError` naming the path otherwise."""
    if data is not None:
        path = Path(data).expanduser()
        if not path.exists() and looks_like_path(str(data)):
            raise UsageError(
                f"--data {data}: no such file or folder. Give a folder of train/dev/test .jsonl files "
                "or a `datasets` id."
            )
        if path.exists() and not os.access(path, os.R_OK):
            raise UsageError(f"--data {data}: not readable (permission denied): fix its permissions.")
    from ..tasks.data_location import resolve_data

    return resolve_data(task, data)
