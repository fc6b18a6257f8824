"""Score effect of vocabulary trimming: every task teacher scored on dev before and after its vocabulary is
trimmed (no retraining).

The code lives in benchmarks/experiments/trim_score_effect.py (tests import it from there); this script runs it, so
`python examples/trim_score_effect.py ...` works as documented.
"""

import runpy
from pathlib import Path

if __name__ == "__main__":
    runpy.run_path(
        str(Path(__file__).resolve().parents[1] / "benchmarks" / "experiments" / "trim_score_effect.py"),
        run_name="__main__",
    )
