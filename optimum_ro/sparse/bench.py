"""``optimum-ro bench``: runs the SpMM benchmark harness of a source checkout (``benchmarks/spmm``).

The harness (timing, peers, reports) is a benchmark script, not library code, so it lives beside the other
benchmarks and is found in the checkout this package was installed from (``pip install -e .``) or in the
current directory.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

# The benchmarks/ folder of the checkout an editable install points at.
CHECKOUT_BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def find_harness() -> ModuleType:
    """``benchmarks/spmm/command.py`` of the checkout; a one-line error where there is none."""
    candidates = [CHECKOUT_BENCHMARKS, Path.cwd() / "benchmarks"]
    folder = next((d for d in candidates if (d / "spmm" / "command.py").is_file()), None)
    if folder is None:
        raise SystemExit(
            "optimum-ro bench runs benchmarks/spmm from a source checkout: run it inside a clone of optimum-ro "
            "(pip install -e .), or run python benchmarks/bench_spmm.py there"
        )
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    from spmm import command

    return command


def add_arguments(parser) -> None:
    find_harness().add_arguments(parser)


def main(args) -> int:
    return find_harness().main(args)
