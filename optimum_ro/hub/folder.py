"""Writing Hugging Face model folders atomically.

    with atomic_folder("models/multilingual-e5-small") as tmp:
        write_model_folder(tmp, tensors, config, files={"tokenizer.json": data})
    # the folder appears under its final name only if the block finished without an exception

The work happens in a hidden sibling folder that is renamed into place at the end, so an
interrupted or failed run never leaves a half-written folder that looks complete.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np


@contextmanager
def atomic_folder(final: str | os.PathLike, replace: bool = False) -> Iterator[Path]:
    """Yield a temporary folder that becomes ``final`` when the ``with`` block succeeds.

    If ``final`` already exists it is kept (and the new folder dropped) unless ``replace`` is
    true. On an exception the temporary folder is deleted and the exception propagates.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=final.parent))
    try:
        yield tmp
        if final.exists():
            if not replace:
                shutil.rmtree(tmp)  # another run finished first; keep its folder
                return
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            final.rename(old)
            tmp.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_model_folder(
    folder: str | os.PathLike,
    tensors: Mapping[str, np.ndarray],
    config: Mapping,
    files: Mapping[str, bytes | str | dict | list] | None = None,
) -> None:
    """Write ``model.safetensors`` (float32), ``config.json`` and extra files into ``folder``.

    ``files`` maps relative paths to bytes, text, or JSON-able objects (written as indented JSON).
    """
    from safetensors.numpy import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in tensors.items()}
    save_file(arrays, str(folder / "model.safetensors"), metadata={"format": "pt"})
    all_files = {"config.json": dict(config), **(files or {})}
    for relative, content in all_files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, (dict, list)):
            path.write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        elif isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)
    # mkdtemp creates 0700 folders; make the result readable like any other folder
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def sentence_transformers_files(dimension: int, normalize: bool, max_seq_length: int) -> dict:
    """``modules.json`` and friends for mean pooling (+ optional L2 normalisation)."""
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    if normalize:
        modules.append(
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}
        )
    return {
        "modules.json": modules,
        "1_Pooling/config.json": {
            "word_embedding_dimension": dimension,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
        },
        "sentence_bert_config.json": {"max_seq_length": max_seq_length, "do_lower_case": False},
    }


def folder_mb(folder: str | os.PathLike, pattern: str = "*.safetensors") -> float:
    """Size in MB (10^6 bytes) of the files of ``folder`` that match ``pattern``: by default the weights of
    a model folder; ``"**/*"`` counts everything (tokenizer, config, sub-folders)."""
    return sum(f.stat().st_size for f in Path(folder).glob(pattern) if f.is_file()) / 1e6
