"""The model card of a sparse BERT folder (``save_sparse_pretrained``), so it is ready for ``push_to_hub``."""
from __future__ import annotations

from pathlib import Path

PIPELINES = {
    "SparseBertForSequenceClassification": ("text-classification", "AutoModelForSequenceClassification"),
    "SparseBertForTokenClassification": ("token-classification", "AutoModelForTokenClassification"),
    "SparseBertForMaskedLM": ("fill-mask", "AutoModelForMaskedLM"),
    "SparseBertModel": ("feature-extraction", "AutoModel"),
    "SparseBertForIntentSlot": ("text-classification", "AutoModel"),  # intent + slots: optimum-ro's IntentSlotPipeline
}


def render_sparse_card(model, source: str | None = None) -> str:
    specs = model.config.sparse_layers
    bert = model.base_model
    rows, stored, total = [], 0, 0
    for name, spec in specs.items():
        layer = bert.get_submodule(name)
        blocks = (layer.out_features // spec["block_shape"][0]) * (layer.in_features // spec["block_shape"][1])
        stored += spec["nnz_blocks"] * spec["block_shape"][0] * spec["block_shape"][1]
        total += layer.out_features * layer.in_features
        rows.append(f"| `{name}` | {layer.in_features} → {layer.out_features} | "
                    f"{1 - spec['nnz_blocks'] / max(blocks, 1):.1%} | {spec['activation']} |")
    first = next(iter(specs.values()))
    tag, auto = PIPELINES.get(type(model).__name__, PIPELINES["SparseBertModel"])
    return "\n".join([
        "---",
        "library_name: transformers",
        f"pipeline_tag: {tag}",
        "tags: [optimum-ro, sparse, block-sparse]",
        "---",
        f"# Block-sparse BERT ({type(model).__name__})",
        "",
        f"{len(specs)} linear layers of the encoder are stored as their non-zero "
        f"{first['block_shape'][0]}x{first['block_shape'][1]} blocks in {first['dtype']} "
        f"({stored / max(total, 1):.1%} of their weights kept; "
        + ("per-output-channel symmetric int8 weights, activations quantised per token at run time; " if first["dtype"] == "int8" else "")
        + "the rest of the model is dense). With optimum-ro installed they run on its block-sparse CPU kernels "
        "(AVX-512 / AVX2 / portable, chosen at run time); without it, on dense weights rebuilt from the blocks."
        + (f" Made from the block-pruned model `{source}` (its card has the training and the scores) with "
           "optimum-ro's `save_sparse_pretrained`." if source else ""),
        "",
        "```python",
        f"from transformers import AutoTokenizer, {auto}",
        f"model = {auto}.from_pretrained('<this folder>', trust_remote_code=True)",
        "```",
        "",
        "`optimum_ro.models.to_dense_model(model)` gives the plain BERT back.",
        "",
        "| layer | in → out | zero blocks | fused activation |",
        "|---|---|---:|---|",
        *rows,
        "",
    ])


def write_sparse_card(folder, model, source: str | None = None) -> Path:
    path = Path(folder) / "README.md"
    path.write_text(render_sparse_card(model, source), encoding="utf-8")
    return path
