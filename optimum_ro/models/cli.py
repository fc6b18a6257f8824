"""``optimum-ro sparsify``: a block-pruned BERT folder -> a sparse checkpoint that AutoModel loads.

optimum-ro sparsify --model runs/pruned --output runs/pruned-int8 --dtype int8
"""

from __future__ import annotations

import json
import time
from pathlib import Path


def add_parser(subparsers):
    p = subparsers.add_parser("sparsify", help="save a block-pruned BERT as a sparse checkpoint for AutoModel")
    p.add_argument("--model", required=True, help="a block-pruned BERT folder (e.g. `optimum-ro prune` output)")
    p.add_argument("--output", required=True, help="the sparse folder to write")
    p.add_argument(
        "--dtype",
        choices=("float32", "bfloat16", "int8"),
        default="float32",
        help="storage of the non-zero blocks (int8: per-output-channel symmetric weights)",
    )
    p.add_argument("--block-shape", default=None, help="rows x cols of W[out, in]; default 16x1 (float), 1x4 (int8)")
    p.add_argument(
        "--min-sparsity", type=float, default=0.5, help="store a layer sparse from this share of zero blocks"
    )
    p.add_argument("--skip", nargs="*", default=(), help="keep layers whose name contains any of these dense")
    p.add_argument("--no-fuse-gelu", action="store_true", help="keep the intermediate GELU outside the kernel")
    p.set_defaults(func=_run)
    return p


def _folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in Path(folder).glob("*.safetensors"))


def sparsify(
    model_path: str,
    output: str,
    dtype: str = "float32",
    block_shape=None,
    min_sparsity: float = 0.5,
    skip=(),
    fuse_gelu: bool = True,
) -> dict:
    """Load ``model_path`` with its own BERT class, save it sparse to ``output``, load that back as a user would
    (``AutoModel*`` with ``trust_remote_code=True``) and compare both on a random batch; returns the summary
    (also written to ``output/sparsify_results.json``)."""
    import torch
    from transformers import AutoConfig, AutoTokenizer

    from . import SPARSE_CLASSES, save_sparse_pretrained
    from .export import auto_class

    config = AutoConfig.from_pretrained(model_path)
    arch = (getattr(config, "architectures", None) or ["BertModel"])[0]
    dense_cls = {c.__name__: c for c in SPARSE_CLASSES}.get(arch)
    if dense_cls not in SPARSE_CLASSES:
        raise SystemExit(
            f"{model_path}: its architecture {arch} is not one sparsify supports "
            f"({', '.join(c.__name__ for c in SPARSE_CLASSES)})"
        )
    model = dense_cls.from_pretrained(model_path).eval()
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_path)
    except (OSError, ValueError):
        tokenizer = None
    start = time.time()
    out = save_sparse_pretrained(
        model,
        output,
        tokenizer=tokenizer,
        source=str(model_path),
        dtype=getattr(torch, dtype),
        block_shape=block_shape,
        min_sparsity=min_sparsity,
        skip=tuple(skip),
        fuse_gelu=fuse_gelu,
    )
    auto = auto_class(SPARSE_CLASSES[dense_cls])
    loaded = auto.from_pretrained(out, trust_remote_code=True).eval()
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(0, config.vocab_size, (2, 32), generator=gen)
    with torch.no_grad():  # every output (a joint intent + slot model has two)
        refs, gots = model(input_ids=ids).to_tuple(), loaded(input_ids=ids).to_tuple()
    ref = torch.cat([r.flatten() for r in refs])
    got = torch.cat([g.flatten() for g in gots])
    specs = loaded.config.sparse_layers
    summary = {
        "model": str(model_path),
        "output": str(out),
        "class": type(loaded).__name__,
        "dtype": dtype,
        "sparse_layers": len(specs),
        "seconds": round(time.time() - start, 1),
        "weights_bytes": {"dense": _folder_bytes(Path(model_path)), "sparse": _folder_bytes(out)},
        "max_abs_diff_vs_dense": float((got - ref).abs().max()),
        "max_abs_output_dense": float(ref.abs().max()),
    }
    (out / "sparsify_results.json").write_text(json.dumps(summary, indent=2))
    return summary


def _run(args) -> int:
    from ..commands import check_model_folder

    check_model_folder(args.model, "--model")
    try:
        summary = sparsify(
            args.model, args.output, args.dtype, args.block_shape, args.min_sparsity, args.skip, not args.no_fuse_gelu
        )
    except ValueError as err:  # not pruned in this block shape, bad block shape, ...: the message says what to do
        raise SystemExit(f"optimum-ro sparsify: {err}") from None
    print(json.dumps(summary, indent=2))
    return 0
