"""The real models in one summary: results/summary.json and results/README.md from results/real-models.json.

    python examples/real_models_summary.py

The code lives in benchmarks/experiments/real_models_summary.py (tests import it from there); this script runs it,
so `python examples/real_models_summary.py ...` works as documented.
"""

import runpy
from pathlib import Path

if __name__ == "__main__":
    runpy.run_path(
        str(Path(__file__).resolve().parents[1] / "benchmarks" / "experiments" / "real_models_summary.py"),
        run_name="__main__",
    )
