"""``optimum-ro bench``: the block-sparse SpMM benchmark (see ``optimum_ro.sparse.bench``).

optimum-ro bench --quick
optimum-ro bench --threads 1 2 --repeats 7
"""


def add_parser(subparsers) -> None:
    from .bench import add_arguments, main

    parser = subparsers.add_parser("bench", help="benchmark the block-sparse kernels against dense/sparse peers")
    add_arguments(parser)
    parser.set_defaults(func=main)
