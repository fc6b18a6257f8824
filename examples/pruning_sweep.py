"""Task score vs block sparsity: run a grid of pruning runs, then regenerate the table and the plot.

The code lives in benchmarks/experiments/pruning_sweep.py (tests import it from there); this script runs it, so
`python examples/pruning_sweep.py ...` works as documented.
"""

import runpy
from pathlib import Path

if __name__ == "__main__":
    runpy.run_path(
        str(Path(__file__).resolve().parents[1] / "benchmarks" / "experiments" / "pruning_sweep.py"),
        run_name="__main__",
    )
