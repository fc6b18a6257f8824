"""The three Romanian students (A, B, A+B) on five tasks: results/archive/students.{json,md} from one command.

The code lives in benchmarks/experiments/student_report.py (tests import it from there); this script runs it, so
`python examples/student_report.py ...` works as documented.
"""

import runpy
from pathlib import Path

if __name__ == "__main__":
    runpy.run_path(
        str(Path(__file__).resolve().parents[1] / "benchmarks" / "experiments" / "student_report.py"),
        run_name="__main__",
    )
