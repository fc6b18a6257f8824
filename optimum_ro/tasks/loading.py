"""Load a task's splits as a ``datasets.DatasetDict``.

    from optimum_ro.tasks import load_task
    ds = load_task("ner", "path/to/ner")          # folder with train/dev/test .jsonl
    ds = load_task("sts", "some-user/ro-sts")     # or any `datasets` source

Split names follow the Hub convention: ``train``, ``validation`` (read from
``dev.jsonl`` or ``validation.jsonl``) and ``test``. Every row is checked: a
missing field or an unknown label raises :class:`TaskDataError` naming the file
and line, so bad data never turns into silently wrong numbers.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from .specs import REGRESSION, SEQUENCE, TOKEN, TaskSpec, get_task

# `datasets` is imported where data is loaded, so `optimum_ro.tasks` (and `optimum-ro pretrain`) import without it
if TYPE_CHECKING:
    import datasets

SPLIT_FILES = {"train": ("train",), "validation": ("dev", "validation", "valid"), "test": ("test",)}


class TaskDataError(ValueError):
    """Raised for task data that cannot be used as it is (names the file and line)."""


def load_task(task, data, splits=None, max_samples: int | None = None, columns: dict | None = None):
    """Load ``task`` from ``data`` and return a validated ``DatasetDict``.

    data: a local folder of ``{train,dev,test}.jsonl``, a folder written by
    ``DatasetDict.save_to_disk``, or any id/path accepted by ``datasets.load_dataset``.
    splits: keep only these split names. max_samples: keep the first N rows of each split.
    columns: rename columns of a ``datasets`` source to the task's field names,
    e.g. ``{"text_a": "sentence1"}``; integer ``ClassLabel`` labels become names.
    """
    import datasets

    spec = get_task(task)
    if data is None:
        raise TaskDataError(
            f"No data given for task {spec.name!r}: pass a folder of train/dev/test .jsonl "
            "files or a `datasets` id (e.g. --data path/to/" + spec.folder + ")."
        )
    path = Path(os.fspath(data)).expanduser()
    if path.is_dir() and any(path.glob("*.jsonl")):
        dsd = _load_jsonl_folder(spec, path, splits)
    else:
        dsd = _load_datasets_source(spec, data, path, columns)
    if splits is not None:
        missing = [s for s in splits if s not in dsd]
        if missing:
            raise TaskDataError(f"{data}: split(s) {missing} not found; available: {sorted(dsd)}")
        dsd = datasets.DatasetDict({s: dsd[s] for s in splits})
    if max_samples:
        dsd = datasets.DatasetDict({k: v.select(range(min(max_samples, len(v)))) for k, v in dsd.items()})
    return dsd


def task_texts(root, split: str):
    """Every text of ``split`` in each task folder under ``root`` (``root/<task folder>/*.jsonl``), one string
    per text field and row (tagging rows joined with spaces); tasks without that split are skipped. Used to
    choose a vocabulary from the *train* texts and to measure unknown tokens on dev/test."""
    from .specs import TASKS

    root = Path(os.fspath(root))
    for name, spec in TASKS.items():
        folder = root / spec.folder
        if not any((folder / f"{stem}.jsonl").is_file() for stem in SPLIT_FILES[split]):
            continue
        rows = load_task(name, str(folder), splits=[split])[split]
        for field in spec.text_fields:
            for value in rows[field]:
                yield " ".join(value) if isinstance(value, list) else value


def _load_jsonl_folder(spec: TaskSpec, folder: Path, splits) -> datasets.DatasetDict:
    import datasets

    out = {}
    for split, stems in SPLIT_FILES.items():
        if splits is not None and split not in splits:
            continue
        for stem in stems:
            file = folder / f"{stem}.jsonl"
            if file.exists():
                out[split] = datasets.Dataset.from_list(list(read_jsonl(spec, file)))
                break
    if "train" not in out and (splits is None or "train" in splits):
        raise TaskDataError(f"{folder}: no train.jsonl found (expected train/dev/test .jsonl files).")
    return datasets.DatasetDict(out)


def read_jsonl(spec: TaskSpec, file: Path):
    """Yield validated rows of one JSONL file (only the task's fields are kept)."""
    with open(file, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise TaskDataError(f"{file}:{lineno}: not valid JSON ({err.msg}).") from None
            yield validate_row(spec, row, f"{file}:{lineno}")


def validate_row(spec: TaskSpec, row: dict, where: str) -> dict:
    """Check one example against the task and return it in canonical form."""
    fields = spec.text_fields + (spec.label_field,)
    missing = [f for f in fields if f not in row or row[f] is None]
    if missing:
        raise TaskDataError(f"{where}: missing field(s) {missing} for task {spec.name!r} (has {sorted(row)}).")
    out = {f: row[f] for f in fields}
    if "id" in row:
        out["id"] = str(row["id"])
    label = row[spec.label_field]
    if spec.kind == TOKEN:
        tokens = row[spec.text_fields[0]]
        if not isinstance(tokens, list) or not isinstance(label, list) or len(tokens) != len(label):
            raise TaskDataError(
                f"{where}: '{spec.text_fields[0]}' and '{spec.label_field}' must be lists of equal length."
            )
        unknown = sorted({t for t in label if t not in spec.label2id})
        if unknown:
            raise TaskDataError(f"{where}: unknown {spec.name} label(s) {unknown}; known: {list(spec.labels)}.")
    elif spec.kind == SEQUENCE:
        out[spec.label_field] = canonical_label(spec, label, where)
        for f in spec.text_fields:
            if not isinstance(row[f], str):
                raise TaskDataError(f"{where}: field {f!r} must be a string.")
    elif spec.kind == REGRESSION:
        try:
            score = float(label)
        except (TypeError, ValueError):
            raise TaskDataError(f"{where}: {spec.label_field!r} must be a number, got {label!r}.") from None
        lo, hi = spec.score_range
        if not lo <= score <= hi:
            raise TaskDataError(f"{where}: score {score} outside the task's range [{lo}, {hi}].")
        out[spec.label_field] = score
    return out


def canonical_label(spec: TaskSpec, label, where: str) -> str:
    """A sequence label as its name: accepts the name or its integer index."""
    if isinstance(label, str) and label in spec.label2id:
        return label
    if isinstance(label, int) and not isinstance(label, bool) and 0 <= label < len(spec.labels):
        return spec.labels[label]
    raise TaskDataError(
        f"{where}: unknown {spec.name} label {label!r}; known: {list(spec.labels)} (or their indices)."
    )


def _load_datasets_source(spec: TaskSpec, data, path: Path, columns) -> datasets.DatasetDict:
    import datasets

    if (path / "dataset_dict.json").exists():
        dsd = datasets.load_from_disk(str(path))
    else:
        dsd = datasets.load_dataset(os.fspath(data))
    if not isinstance(dsd, datasets.DatasetDict):
        dsd = datasets.DatasetDict({"train": dsd})
    if "dev" in dsd and "validation" not in dsd:
        dsd["validation"] = dsd.pop("dev")
    if columns:
        dsd = dsd.rename_columns(columns)
    out = {}
    for split, ds in dsd.items():
        to_names = _class_label_names(spec, ds)
        rows = (validate_row(spec, to_names(row), f"{data}[{split}][{i}]") for i, row in enumerate(ds))
        out[split] = datasets.Dataset.from_list(list(rows))
    return datasets.DatasetDict(out)


def _class_label_names(spec: TaskSpec, ds: datasets.Dataset):
    """A row function that turns integer ``ClassLabel`` labels into their names."""
    feature = ds.features.get(spec.label_field)
    names = getattr(getattr(feature, "feature", None), "names", None) or getattr(feature, "names", None)
    if not names:
        return lambda row: row
    field = spec.label_field

    def convert(row):
        value = row[field]
        row[field] = [names[i] for i in value] if isinstance(value, list) else names[value]
        return row

    return convert
