"""DeepSparse as a peer: run in its own venv (``benchmarks/deepsparse_peer.py``) after the interleaved groups."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

PEER_SCRIPT = Path(__file__).resolve().parents[1] / "deepsparse_peer.py"


def run_deepsparse(python: str, ms, shapes, sparsities, thread_counts, repeats) -> list[dict]:
    """DeepSparse in its own venv (``benchmarks/deepsparse_peer.py``), after the interleaved groups."""
    cases = [[m, k, n, s, t] for t in thread_counts for m in ms for k, n in shapes for s in sparsities]
    try:
        out = subprocess.run(
            [python, str(PEER_SCRIPT), json.dumps({"cases": cases, "repeats": repeats})],
            capture_output=True,
            text=True,
            timeout=1800,
            check=True,
        )
        rows = json.loads(out.stdout.strip().splitlines()[-1])
        for line in out.stderr.splitlines() + out.stdout.splitlines():
            if "DeepSparse" in line and "version:" in line:
                version = line.split("version:", 1)[1].split("|")[0].strip()
                system = line[line.find("(system=") :].strip() if "(system=" in line else ""
                for row in rows:
                    row["engine"] = f"DeepSparse {version} {system}".strip()
                break
        return rows
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as err:
        print(f"  (DeepSparse peer skipped: {err})")
        return []
