"""The model card of a sparse BERT folder (``save_sparse_pretrained``), so it is ready for ``push_to_hub``
(metadata through ``huggingface_hub.ModelCard``; language, license, datasets and, for exact float32 storage, the
scores are carried over from the card of the pruned model it was made from)."""

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
    from ..hub.cards import base_model_id

    specs = model.config.sparse_layers
    bert = model.base_model
    rows, stored, total = [], 0, 0
    for name, spec in specs.items():
        layer = bert.get_submodule(name)
        blocks = (layer.out_features // spec["block_shape"][0]) * (layer.in_features // spec["block_shape"][1])
        stored += spec["nnz_blocks"] * spec["block_shape"][0] * spec["block_shape"][1]
        total += layer.out_features * layer.in_features
        rows.append(
            f"| `{name}` | {layer.in_features} → {layer.out_features} | "
            f"{1 - spec['nnz_blocks'] / max(blocks, 1):.1%} | {spec['activation']} |"
        )
    first = next(iter(specs.values()))
    tag, auto = PIPELINES.get(type(model).__name__, PIPELINES["SparseBertModel"])
    text = "\n".join(
        [
            f"{len(specs)} linear layers of the encoder are stored as their non-zero "
            f"{first['block_shape'][0]}x{first['block_shape'][1]} blocks in {first['dtype']} "
            f"({stored / max(total, 1):.1%} of their weights kept; "
            + (
                "per-output-channel symmetric int8 weights, activations quantised per token at run time; "
                if first["dtype"] == "int8"
                else ""
            )
            + "the rest of the model is dense). With optimum-ro installed they run on its block-sparse CPU kernels "
            "(AVX-512 / AVX2 / portable, chosen at run time); without it, on dense weights rebuilt from the blocks."
            + (
                f" Made from the block-pruned model `{base_model_id(source)}` (its card has the training and the "
                "scores) with optimum-ro's `save_sparse_pretrained`."
                if source
                else ""
            ),
            "",
            "```python",
            f"from transformers import AutoTokenizer, {auto}",
            f"model = {auto}.from_pretrained('<this folder>', trust_remote_code=True)",
            "tokenizer = AutoTokenizer.from_pretrained('<this folder>', trust_remote_code=True)",
            "```",
            "",
            # transformers 5 reads config.json (whose config class is the copied code) before it looks at the
            # tokenizer files, so a plain AutoTokenizer call asks whether to run that code
            "The tokenizer is a standard one, but `AutoTokenizer` reads `config.json` first, whose config class is "
            "this folder's code: without `trust_remote_code=True` it asks whether to run it (once `optimum_ro.models` "
            "is imported, the class is registered and it does not ask).",
            "",
            "`optimum_ro.models.to_dense_model(model)` gives the plain BERT back.",
            "",
            "| layer | in → out | zero blocks | fused activation |",
            "|---|---|---:|---|",
            *rows,
        ]
    )
    return build_sparse_card(model, text, tag, first["dtype"], source).content


def build_sparse_card(model, text: str, pipeline_tag: str, dtype: str, source: str | None = None):
    from huggingface_hub import ModelCard

    from ..hub.cards import build_model_card, card_data_of

    inherited = card_data_of(source) if source else {}
    card = build_model_card(
        f"Block-sparse BERT ({type(model).__name__})",
        text,
        base_model=source,
        pipeline_tag=pipeline_tag,
        tags=["sparse", "block-sparse"],
        data=(),
        license=inherited.get("license") or "other",
        language=inherited.get("language"),
    )
    card.data.datasets = inherited.get("datasets")
    if dtype == "float32" and source and (Path(source) / "README.md").is_file():  # the same weights: the same scores
        card.data.eval_results = ModelCard.load(Path(source) / "README.md").data.eval_results
    if card.data.eval_results is None:
        card.data.model_name = None  # no results: no model-index
    return card


def write_sparse_card(folder, model, source: str | None = None) -> Path:
    path = Path(folder) / "README.md"
    path.write_text(render_sparse_card(model, source), encoding="utf-8")
    return path
