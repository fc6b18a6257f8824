"""Block-sparse SpMM benchmark (same as `optimum-ro bench`).

python benchmarks/bench_spmm.py --quick
python benchmarks/bench_spmm.py            # full run -> benchmarks/results/*.json + BENCHMARKS.md
"""

import argparse
import sys

from spmm.command import add_arguments, main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
