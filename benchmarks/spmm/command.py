"""The arguments and the main function of ``benchmarks/bench_spmm.py`` (and ``optimum-ro bench``)."""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
from pathlib import Path

from .harness import FULL_M, FULL_SHAPES, FULL_SPARSITIES, run
from .report import report


def parse_shape(text: str) -> tuple[int, int]:
    try:
        k, n = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"shape {text!r} is not KxN (e.g. 768x3072)") from None
    return k, n


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 shapes, M=32, 90%% sparsity, 1 thread")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--m", type=int, nargs="+", help=f"rows of X (batch x sequence); default {FULL_M}")
    parser.add_argument(
        "--shapes",
        type=parse_shape,
        nargs="+",
        metavar="KxN",
        help="weight shapes as KxN; default " + " ".join(f"{k}x{n}" for k, n in FULL_SHAPES),
    )
    parser.add_argument("--sparsities", type=float, nargs="+", help=f"default {FULL_SPARSITIES}")
    parser.add_argument("--no-ort", action="store_true", help="skip the ONNX Runtime peers")
    parser.add_argument(
        "--deepsparse-python",
        default=os.environ.get("OPTIMUM_RO_DEEPSPARSE_PYTHON"),
        help="Python of a venv with deepsparse==1.8.0 (Python<3.12, numpy<2, onnx<1.15); "
        "adds DeepSparse at 90%% sparsity",
    )
    parser.add_argument("--out-dir", default="benchmarks/results", help="where the JSON goes")
    parser.add_argument(
        "--from-json", help="no run: render the report of a saved result JSON (to --markdown, else stdout)"
    )
    parser.add_argument(
        "--markdown",
        help="Markdown report to write; default BENCHMARKS.md for a full run, none for "
        "--quick or a subset (--m/--shapes/--sparsities)",
    )


def main(args) -> int:
    if args.from_json:
        result = json.loads(Path(args.from_json).read_text())
        text = report(result, args.from_json)
        if args.markdown:
            Path(args.markdown).write_text(text)
            print(f"wrote {args.markdown}")
        else:
            print(text)
        return 0
    subset = bool(args.m or args.shapes or args.sparsities) and not args.quick
    markdown_path = args.markdown if args.markdown is not None else ("" if args.quick or subset else "BENCHMARKS.md")
    result = run(args)
    result["subset"] = subset
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M")
    kind = "-quick" if args.quick else "-subset" if subset else ""
    name = f"spmm-{result['isa']}-{stamp}{kind}.json"
    (out_dir / name).write_text(json.dumps(result, indent=1))
    text = report(result, f"{args.out_dir}/{name}")
    print(text)
    if markdown_path:
        Path(markdown_path).write_text(text)
    print(f"wrote {out_dir / name}" + (f" and {markdown_path}" if markdown_path else ""))
    return 0
