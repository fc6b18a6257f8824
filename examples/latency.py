"""CPU latency of model folders at batch 1 and 32 (seq 128), interleaved in one run.

The code lives in benchmarks/experiments/latency.py (tests import it from there); this script runs it, so
`python examples/latency.py ...` works as documented.
"""

import runpy
from pathlib import Path

if __name__ == "__main__":
    runpy.run_path(
        str(Path(__file__).resolve().parents[1] / "benchmarks" / "experiments" / "latency.py"), run_name="__main__"
    )
